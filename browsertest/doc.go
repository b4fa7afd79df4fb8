// Package browsertest drives the login example with a real, headless
// Chromium: cookies as a browser keeps them, across reloads, server restarts
// and a second browser profile. It has no API; it is a module of its own so
// that chromedp stays out of the root module.
//
// The test is skipped when Chromium is not installed, unless
// BOLTSESSION_REQUIRE_CHROMIUM=1 (as CI sets), which makes that a failure.
package browsertest
