package boltfile

import (
	"bytes"
	"encoding/binary"
	"strconv"
)

// The parts of bbolt's format version 2 this package reads. bbolt lays its
// structures out with unsafe casts, so every integer is in the host's byte
// order and every size below is fixed by its struct layout.
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elementSize      = 16 // leaf: flags, pos, ksize, vsize u32; branch: pos, ksize u32, pgid u64
	bucketHeaderSize = 16 // root pgid u64, sequence u64
	metaSize         = 64 // see decodeMeta
	metaSummed       = 56 // the checksum covers the meta up to the checksum itself

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10

	leafBucket = 0x01 // a leaf element whose value is a bucket header

	boltMagic   = 0xED0CDAED
	boltVersion = 2

	// noFreelist in a meta's freelist field says the freelist was not
	// written (bbolt's NoFreelistSync); bbolt rebuilds it at Open by walking
	// every bucket.
	noFreelist = ^uint64(0)

	// freelistCountInFirst in a freelist page's count says the count did
	// not fit in 16 bits and is the first id slot instead.
	freelistCountInFirst = 0xFFFF
)

// maxAlloc is bbolt's MaxAllocSize (0x7FFFFFFF on 64-bit platforms,
// 0xFFFFFFF on 32-bit ones): it views a key or value through an array type
// of this length, so an element ending further from its header makes bbolt
// panic with a slice bound.
const maxAlloc = 0x7FFFFFFF*(strconv.IntSize/64) + 0xFFFFFFF*(1-strconv.IntSize/64)

// native is the byte order bbolt writes in.
var native = binary.NativeEndian

// header is a page header.
type header struct {
	id       uint64
	flags    uint16
	count    uint16
	overflow uint32
}

// decodeHeader reads the header at the start of b, which holds at least
// pageHeaderSize bytes.
func decodeHeader(b []byte) header {
	return header{
		id:       native.Uint64(b[0:8]),
		flags:    native.Uint16(b[8:10]),
		count:    native.Uint16(b[10:12]),
		overflow: native.Uint32(b[12:16]),
	}
}

// typeName names a page type for error messages.
func typeName(flags uint16) string {
	switch flags {
	case flagBranch:
		return "branch"
	case flagLeaf:
		return "leaf"
	case flagMeta:
		return "meta"
	case flagFreelist:
		return "freelist"
	}
	return "unknown type 0x" + strconv.FormatUint(uint64(flags), 16)
}

// element is one decoded leaf or branch element of a page.
type element struct {
	flags uint32 // leaf only
	child uint64 // branch only
	key   []byte
	value []byte // leaf only
}

// elementAt decodes element i of a page held in b (the page header at b[0],
// so an inline bucket's page is the bucket value past its header). It
// returns a problem in words when the element's header or its key or value
// lies outside b, or lies further from its header than bbolt can address.
// The slices alias b.
func elementAt(b []byte, i int, leaf bool) (element, string) {
	off := uint64(pageHeaderSize) + uint64(i)*elementSize
	if off+elementSize > uint64(len(b)) {
		return element{}, "element " + strconv.Itoa(i) + " header beyond the page"
	}
	h := b[off : off+elementSize]
	var e element
	var pos, ksize, vsize uint64
	if leaf {
		e.flags = native.Uint32(h[0:4])
		pos = uint64(native.Uint32(h[4:8]))
		ksize = uint64(native.Uint32(h[8:12]))
		vsize = uint64(native.Uint32(h[12:16]))
	} else {
		pos = uint64(native.Uint32(h[0:4]))
		ksize = uint64(native.Uint32(h[4:8]))
		e.child = native.Uint64(h[8:16])
	}
	end := pos + ksize + vsize // each term < 2^32: no overflow
	if end > uint64(maxAlloc) {
		return element{}, "element " + strconv.Itoa(i) + " data beyond what bbolt can address"
	}
	if off+end > uint64(len(b)) {
		return element{}, "element " + strconv.Itoa(i) + " key or value beyond the page"
	}
	k := off + pos
	e.key = b[k : k+ksize : k+ksize]
	if leaf {
		e.value = b[k+ksize : k+ksize+vsize : k+ksize+vsize]
	}
	return e, ""
}

// maxElements is how many element headers fit in a page of n bytes.
func maxElements(n int) int {
	if n < pageHeaderSize {
		return 0
	}
	return (n - pageHeaderSize) / elementSize
}

// showKey quotes a key for an error message, cut to 40 bytes so a damaged
// key of kilobytes does not flood a log.
func showKey(k []byte) string {
	const max = 40
	if len(k) > max {
		return strconv.Quote(string(k[:max])) + "..."
	}
	return strconv.Quote(string(k))
}

// showName is a bucket name as it appears in a bucket path: as is when it
// is short printable text, quoted otherwise.
func showName(k []byte) string {
	if len(k) <= 40 && strconv.CanBackquote(string(k)) && !bytes.ContainsAny(k, "/`") {
		return string(k)
	}
	return showKey(k)
}
