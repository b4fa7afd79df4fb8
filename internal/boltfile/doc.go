// Package boltfile reads bbolt's on-disk format itself, through an
// io.ReaderAt, so that a damaged session file is found out before bbolt maps
// it into memory, and so that what is still readable can be salvaged.
//
// bbolt trusts its file: a page id out of range, a truncated file or a
// freelist entry that is also in use makes it panic, fault (SIGBUS) or loop
// for ever inside Open, a transaction or a cursor. This package never maps
// the file and never trusts a field it has not bounded, so no input makes it
// panic or hang, and its time and memory are bounded by the file's size.
//
//   - Check verifies everything bbolt v1.5 relies on, so that a file it
//     accepts opens, reads, writes and copies under bbolt without a panic,
//     fault or hang. CheckMeta verifies only what bbolt.Open itself reads.
//   - OpenFile runs either inside bbolt.Open, under bbolt's file lock,
//     before bbolt maps the file.
//   - Salvage reads what is left of one top-level bucket, skipping damaged
//     pages and reporting each.
//   - Scan is the last resort when no meta page leads to the bucket: it reads
//     every leaf page of the file, live or stale.
//
// The layout (page header, meta, freelist, branch and leaf elements, inline
// buckets) is bbolt's format version 2, in the host's byte order, which is
// how bbolt writes it.
package boltfile
