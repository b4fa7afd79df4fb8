package boltfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// Page sizes this package accepts: powers of two from 1 KiB to 64 KiB. bbolt
// defaults to the operating system's page size, which is one of these on
// every platform Go supports; a file claiming another size is refused rather
// than walked with a layout nobody wrote.
const (
	minPageSize = 1 << 10
	maxPageSize = 1 << 16
)

// HasMagic reports whether a meta page of the file at path starts as
// bbolt's do (its magic, in either byte order), at offset 0 or at any page
// size from 512 bytes to 64 KiB: a file without one is not a damaged bbolt
// file but something else. A file that cannot be read has none.
func HasMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	for off := int64(0); off <= maxPageSize; off = max(2*off, 512) {
		if _, err := f.ReadAt(b[:], off+pageHeaderSize); err == nil &&
			(binary.LittleEndian.Uint32(b[:]) == boltMagic || binary.BigEndian.Uint32(b[:]) == boltMagic) {
			return true
		}
	}
	return false
}

// meta is a decoded meta page.
type meta struct {
	page     uint64 // 0 or 1: where it was read
	header   header // of the page holding it
	magic    uint32
	version  uint32
	pageSize uint32
	root     uint64 // root bucket's root page
	freelist uint64 // freelist page, or noFreelist
	hwm      uint64 // high-water mark: pages [0, hwm) are allocated
	txid     uint64
	checksum uint64
	sum      uint64 // FNV-64a of the summed bytes, to compare with checksum
}

// decodeMeta reads the meta held by the page starting at b, which holds at
// least pageHeaderSize+metaSize bytes.
func decodeMeta(b []byte, page uint64) meta {
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	_, _ = h.Write(m[:metaSummed])
	return meta{
		page:     page,
		header:   decodeHeader(b),
		magic:    native.Uint32(m[0:4]),
		version:  native.Uint32(m[4:8]),
		pageSize: native.Uint32(m[8:12]),
		root:     native.Uint64(m[16:24]),
		freelist: native.Uint64(m[32:40]),
		hwm:      native.Uint64(m[40:48]),
		txid:     native.Uint64(m[48:56]),
		checksum: native.Uint64(m[56:64]),
		sum:      h.Sum64(),
	}
}

// problem returns what bbolt's meta validation would object to, in its
// order (magic, version, checksum), or "" when bbolt accepts the meta.
func (m meta) problem() string {
	switch {
	case m.magic != boltMagic:
		return fmt.Sprintf("not a bbolt meta page (magic %#x)", m.magic)
	case m.version != boltVersion:
		return fmt.Sprintf("bbolt format version %d, want %d", m.version, boltVersion)
	case m.checksum != m.sum:
		return "meta checksum mismatch"
	}
	return ""
}

// readMetaAt decodes the meta of a page at off, or returns ok false when the
// file is too short to hold it.
func readMetaAt(r io.ReaderAt, size, off int64, page uint64) (meta, bool, error) {
	if off < 0 || size-off < pageHeaderSize+metaSize {
		return meta{}, false, nil
	}
	var b [pageHeaderSize + metaSize]byte
	if err := readFull(r, b[:], off); err != nil {
		return meta{}, false, err
	}
	return decodeMeta(b[:], page), true, nil
}

// bboltPageSize returns the page size bbolt v1.5's Open derives for a file
// of this size, or an error wrapping ErrCorrupt when it derives none that
// leads anywhere. bbolt takes the size from meta page 0 when a whole 4 KiB
// block can be read at offset 0 and holds a valid meta; otherwise from the
// first valid meta at 1 KiB, 2 KiB, ... 16 MiB (stopping within 1 KiB of the
// end). When neither yields one it falls back to a default page size at
// which both meta pages then fail validation, so Open fails: that case is
// refused here too.
func bboltPageSize(r io.ReaderAt, size int64) (int64, error) {
	const block = 0x1000 // bbolt reads meta 0 through a buffer of this size
	var why0 string      // why meta page 0 gives no page size
	if size >= block {
		m, ok, err := readMetaAt(r, size, 0, 0)
		if err != nil {
			return 0, err
		}
		if ok {
			p := m.problem()
			if p == "" {
				return int64(m.pageSize), nil
			}
			why0 = "page 0: " + p
		}
	} else {
		why0 = fmt.Sprintf("file of %d bytes is shorter than the 4096 bbolt reads for meta page 0", size)
	}
	for i := 0; i <= 14; i++ {
		pos := int64(1024) << i
		if pos >= size-1024 {
			break
		}
		m, ok, err := readMetaAt(r, size, pos, 1)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if m.problem() == "" {
			return int64(m.pageSize), nil
		}
	}
	return 0, corruptf("both meta pages are invalid, so bbolt cannot learn the page size (%s; no valid meta page 1 at any offset bbolt tries)", why0)
}

// readFull reads len(b) bytes at off. A short read is an I/O problem here:
// callers bound off and len(b) by the file size first.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("boltsession: read %d bytes at offset %d: %w", len(b), off, err)
}
