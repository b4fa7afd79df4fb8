package boltfile

import (
	"fmt"
	"io"
)

// Record is one leaf element Scan found.
type Record struct {
	// Page is the page it was found on.
	Page uint64

	// Bucket is the name of the inline bucket the element sits in, when it
	// was read from a bucket stored inside its parent's page; nil for an
	// element of a leaf page of its own, whose bucket a page does not name.
	Bucket []byte

	// Key and Value alias Scan's buffer: valid only during the call.
	Key, Value []byte

	// Free is true when the page is on the freelist of the newest valid
	// meta page: its contents were superseded or deleted (a deleted session
	// among them) and must not be taken as live. It is false also when no
	// freelist could be read; ScanReport.FreeKnown tells which.
	Free bool
}

// ScanReport is what Scan read.
type ScanReport struct {
	// PageSize is the page size the file was read with; PageSizeGuessed is
	// true when no valid meta page gave it and it was inferred from which
	// size makes the most pages name themselves in their headers.
	PageSize        int
	PageSizeGuessed bool

	// FreeKnown is true when a freelist was read, so Record.Free is
	// meaningful.
	FreeKnown bool

	// LeafPages is the number of leaf pages read; Records the number of
	// elements passed to fn.
	LeafPages, Records int

	// Damage has one entry for every leaf page some of whose elements could
	// not be read.
	Damage []PageError
}

// Scan reads every page of the file that names itself as a leaf page in its
// header, whether in use or not, and calls fn for every element that is not
// a bucket header, and for every element of an inline bucket. It is the
// fallback when both meta pages or the root bucket are unusable (Salvage
// fails): it needs no tree, only pages. The caller recognises its records by
// decoding them, and must expect stale ones: several versions of one key,
// and keys deleted since (see Record.Free).
//
// fn returning an error stops Scan, which returns that error. Scan never
// panics; it reads the file once, plus at most twice its size in overflow
// pages, and samples at most a few thousand page headers when it has to
// guess the page size. It returns an error wrapping ErrCorrupt when no page
// size fits the file, or r's read error when the file cannot be read.
func Scan(r io.ReaderAt, size int64, fn func(Record) error) (ScanReport, error) {
	var rep ScanReport
	if size < 0 {
		return rep, fmt.Errorf("boltsession: negative file size %d", size)
	}
	var free pageSet
	if cs := usableMetas(r, size); len(cs) > 0 {
		rep.PageSize = int(cs[0].ps)
		free, rep.FreeKnown = readFreeTolerant(r, size, cs[0])
	} else {
		ps, err := guessPageSize(r, size)
		if err != nil {
			return rep, err
		}
		rep.PageSize, rep.PageSizeGuessed = int(ps), true
	}
	ps := int64(rep.PageSize)
	pages := uint64((size + ps - 1) / ps)
	budget := 2 * size // overflow bytes read, so overlapping spans stay linear
	buf := make([]byte, ps)
	for id := uint64(2); id < pages; id++ {
		b, err := readAvail(r, buf, int64(id)*ps, size)
		if err != nil {
			return rep, err
		}
		if len(b) < pageHeaderSize {
			continue
		}
		h := decodeHeader(b)
		if h.id != id || h.flags != flagLeaf {
			continue
		}
		rep.LeafPages++
		if h.overflow > 0 && int64(len(b)) == ps && budget > 0 {
			extra := min(int64(h.overflow)*ps, budget, size-int64(id+1)*ps)
			if extra > 0 {
				budget -= extra
				more := make([]byte, ps+extra)
				copy(more, b)
				if _, err := readAvail(r, more[ps:], int64(id+1)*ps, size); err != nil {
					return rep, err
				}
				b = more
			}
		}
		n := int(h.count)
		bad := 0
		if fit := maxElements(len(b)); n > fit {
			bad, n = n-fit, fit
		}
		for i := 0; i < n; i++ {
			e, problem := elementAt(b, i, true)
			if problem != "" || len(e.key) == 0 {
				bad++
				continue
			}
			if e.flags&leafBucket == 0 {
				rep.Records++
				if err := fn(Record{Page: id, Key: e.key, Value: e.value, Free: free.has(id)}); err != nil {
					return rep, err
				}
				continue
			}
			if len(e.value) < bucketHeaderSize || native.Uint64(e.value) != 0 {
				continue // a bucket with pages of its own: they are scanned where they are
			}
			ibad, err := scanInline(id, e.key, e.value[bucketHeaderSize:], free.has(id), &rep, fn)
			if err != nil {
				return rep, err
			}
			bad += ibad
		}
		if bad > 0 {
			rep.Damage = append(rep.Damage, PageError{Page: id, Problem: fmt.Sprintf("%d of %d elements unreadable", bad, h.count)})
		}
	}
	return rep, nil
}

// scanInline passes the elements of the inline bucket name, held on page
// id, to fn, and returns how many it could not read.
func scanInline(id uint64, name, b []byte, free bool, rep *ScanReport, fn func(Record) error) (int, error) {
	if len(b) < pageHeaderSize {
		return 1, nil
	}
	h := decodeHeader(b)
	if h.flags != flagLeaf {
		return 1, nil
	}
	n := min(int(h.count), maxElements(len(b)))
	bad := int(h.count) - n
	for i := 0; i < n; i++ {
		e, problem := elementAt(b, i, true)
		if problem != "" || len(e.key) == 0 || e.flags&leafBucket != 0 {
			bad++
			continue
		}
		rep.Records++
		if err := fn(Record{Page: id, Bucket: name, Key: e.key, Value: e.value, Free: free}); err != nil {
			return bad, err
		}
	}
	return bad, nil
}

// readFreeTolerant reads the freelist of c, when it has one that is well
// formed, as a set of the file's pages.
func readFreeTolerant(r io.ReaderAt, size int64, c candidate) (pageSet, bool) {
	id := c.m.freelist
	pages := uint64((size + c.ps - 1) / c.ps)
	if id == noFreelist || id < 2 || id >= pages {
		return nil, false
	}
	b, err := readAvail(r, make([]byte, c.ps), int64(id)*c.ps, size)
	if err != nil || len(b) < pageHeaderSize {
		return nil, false
	}
	h := decodeHeader(b)
	if h.id != id || h.flags != flagFreelist || uint64(h.overflow) >= pages-id {
		return nil, false
	}
	if h.overflow > 0 {
		more := make([]byte, int64(h.overflow)*c.ps)
		more, err = readAvail(r, more, int64(id+1)*c.ps, size)
		if err != nil {
			return nil, false
		}
		b = append(b, more...)
	}
	first, n, problem := freelistIDs(b, h)
	if problem != "" {
		return nil, false
	}
	free := newPageSet(pages)
	for i := first; i < first+n; i++ {
		if p := native.Uint64(b[pageHeaderSize+8*i:]); p < pages {
			free.add(p)
		}
	}
	return free, true
}

// guessPageSize returns the page size at which the most sampled pages name
// themselves in their headers and have a data page's type.
func guessPageSize(r io.ReaderAt, size int64) (int64, error) {
	const samples = 512
	best, bestScore := int64(0), 0
	var h [pageHeaderSize]byte
	for ps := int64(minPageSize); ps <= maxPageSize; ps *= 2 {
		pages := size / ps
		step := max(1, pages/samples)
		score := 0
		for id := int64(2); id < pages; id += step {
			if err := readFull(r, h[:], id*ps); err != nil {
				return 0, err
			}
			hd := decodeHeader(h[:])
			if hd.id == uint64(id) && (hd.flags == flagLeaf || hd.flags == flagBranch || hd.flags == flagFreelist) {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = ps, score
		}
	}
	if best == 0 {
		return 0, corruptf("no page size from %d to %d makes any page of the file name itself", minPageSize, maxPageSize)
	}
	return best, nil
}
