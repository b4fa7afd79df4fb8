// Package release holds the tests that prove the repository's modules can
// be released as they are: tagged at one commit, served by a module proxy,
// and built by a user with nothing but their go.mod files (no go.work, no
// replace directives). docs/RELEASING.md says how to release; these tests
// are its dry run. The module is not released itself.
package release
