package boltfile

import (
	"fmt"
	"io"
)

// Summary describes a file that Check or CheckMeta accepted.
type Summary struct {
	// PageSize is the page size bbolt reads the file with.
	PageSize int

	// Meta is the meta page bbolt will use, 0 or 1: the valid one with the
	// larger transaction id.
	Meta int

	// TxID is that meta's transaction id.
	TxID uint64

	// HighWater is the number of pages bbolt has allocated; the file holds
	// at least HighWater*PageSize bytes.
	HighWater uint64

	// FreelistSynced is false when the file was written without a
	// freelist (bbolt's NoFreelistSync); bbolt then rebuilds it at Open
	// by walking every bucket.
	FreelistSynced bool

	// FreePages is the number of pages the freelist lists. When the
	// freelist is not synced, it is the number bbolt's Open will find free:
	// the pages below the high-water mark that no bucket reaches.
	FreePages int

	// The counts below are filled by a full walk: by Check, and by
	// CheckMeta when the freelist is not synced.

	// TreePages is the number of branch and leaf pages, overflow pages
	// included, reached from the root bucket.
	TreePages int

	// LeakedPages is the number of pages below the high-water mark that
	// are neither reached nor listed free. bbolt never leaves them, but they
	// are harmless: bbolt never reads or reuses them. Always 0 when the
	// freelist is not synced.
	LeakedPages int

	// Buckets is the number of buckets below the root bucket, at every
	// depth; InlineBuckets of them are stored inside their parent's page.
	Buckets, InlineBuckets int

	// Keys is the number of key/value pairs that are not buckets, in every
	// bucket.
	Keys int
}

// Check verifies everything bbolt v1.5 relies on when it opens the file,
// reads or writes it in a transaction, walks any bucket with a cursor,
// computes Stats or copies it with Tx.WriteTo: that Open picks the same meta
// page and page size as bbolt, that the file holds every page the meta
// claims, that the freelist is well formed and disjoint from the pages in
// use, and that every bucket tree, nested and inline buckets included, is a
// well-formed B+tree (page ids, types and overflow within bounds, element
// keys and values within their page, keys non-empty and strictly ascending
// within and across pages, every branch key equal to the first key below it,
// no page reached twice, depth bounded). A file Check accepts does not make
// bbolt panic, fault or hang. That holds for the file as Check read it: a
// change made afterwards (by another process, a failing disk, a truncation
// under an open database) is not covered; OpenFile closes the window
// between the check and bbolt.Open.
//
// Check reads the file through r, never mapping it, and reads each page at
// most once, breadth first and in file order so that neighbouring pages cost
// one read: its time is linear in size, and its memory is a bit per page, a
// read buffer of at most 1 MiB and a copy of the keys of one level of branch
// pages. It never panics.
//
// The error wraps ErrEmpty for a file of zero bytes, which bbolt.Open would
// initialise; ErrCorrupt for a damaged file (a *PageError when the problem
// is on one page); otherwise it is r's read error. Check does not verify
// what the file means to its application (for boltsession, that the indexes
// agree with the records).
func Check(r io.ReaderAt, size int64) (Summary, error) {
	c, err := newChecker(r, size)
	if err == nil {
		err = c.walkAll()
	}
	if err != nil {
		return Summary{}, err
	}
	return c.sum, nil
}

// CheckMeta verifies what bbolt.Open itself reads: the page size, the meta
// pages, that the file holds the high-water mark, and the freelist page with
// every id it lists. When the freelist is not synced, bbolt.Open rebuilds it
// by walking every bucket, and CheckMeta then does all Check does.
//
// It costs a few reads plus one read per freelist page, independent of the
// number of keys. A file it accepts opens without a panic or fault, but a
// later transaction may still meet a damaged bucket tree: only Check rules
// that out. Its errors are Check's.
func CheckMeta(r io.ReaderAt, size int64) (Summary, error) {
	c, err := newChecker(r, size)
	if err == nil {
		if c.sum.FreelistSynced {
			err = c.checkFreelist()
		} else {
			err = c.walkAll()
		}
	}
	if err != nil {
		return Summary{}, err
	}
	return c.sum, nil
}

// checker holds the state of one check.
type checker struct {
	r    io.ReaderAt
	size int64
	ps   int64
	m    meta
	used pageSet // metas, freelist and every tree page reached, overflow included
	free pageSet // pages the freelist lists
	bufs [][]byte
	sum  Summary
}

// newChecker finds the page size and meta bbolt would use and verifies the
// meta's page ids against the file's size.
func newChecker(r io.ReaderAt, size int64) (*checker, error) {
	if size == 0 {
		return nil, ErrEmpty
	}
	if size < 0 {
		return nil, fmt.Errorf("boltsession: negative file size %d", size)
	}
	ps, err := bboltPageSize(r, size)
	if err != nil {
		return nil, err
	}
	if ps < minPageSize || ps > maxPageSize || ps&(ps-1) != 0 {
		return nil, corruptf("page size %d is not a power of two from %d to %d", ps, minPageSize, maxPageSize)
	}
	if size/ps < 2 {
		return nil, corruptf("file of %d bytes is shorter than its two meta pages of %d bytes", size, ps)
	}
	m0, _, err := readMetaAt(r, size, 0, 0)
	if err != nil {
		return nil, err
	}
	m1, _, err := readMetaAt(r, size, ps, 1)
	if err != nil {
		return nil, err
	}
	// bbolt uses the valid meta with the larger txid, the other if only it
	// is valid.
	a, b := m0, m1
	if m1.txid > m0.txid {
		a, b = m1, m0
	}
	m := a
	if a.problem() != "" {
		if b.problem() != "" {
			return nil, corruptf("both meta pages are invalid: page 0: %s; page 1: %s", m0.problem(), m1.problem())
		}
		m = b
	}
	// bbolt writes a meta page whole, header included, and its own check
	// asserts the header; a valid meta under a damaged header was not
	// written by bbolt.
	if m.header.id != m.page || m.header.flags != flagMeta {
		return nil, &PageError{Page: m.page, Problem: fmt.Sprintf("meta page's header names %s page %d", typeName(m.header.flags), m.header.id)}
	}
	if m.txid >= 1<<63 {
		// No file reaches 2^63 commits. Near 2^64 a commit wraps to
		// transaction 0, which bbolt ranks below the older meta: it goes
		// on reading the older tree, as if the commit had not happened,
		// and panics at the one after ("page already freed").
		return nil, &PageError{Page: m.page, Problem: fmt.Sprintf("transaction id %d is past 2^63: its counter would wrap to 0", m.txid)}
	}
	if int64(m.pageSize) != ps {
		return nil, &PageError{Page: m.page, Problem: fmt.Sprintf("meta says page size %d, but bbolt reads the file with %d", m.pageSize, ps)}
	}
	if fit := uint64(size / ps); m.hwm > fit {
		return nil, &PageError{Page: m.page, Problem: fmt.Sprintf("truncated file: the meta counts %d pages of %d bytes, the file of %d bytes holds %d", m.hwm, ps, size, fit)}
	}
	if m.root < 2 || m.root >= m.hwm {
		return nil, &PageError{Page: m.page, Problem: fmt.Sprintf("root bucket page %d outside [2, %d)", m.root, m.hwm)}
	}
	if m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm) {
		return nil, &PageError{Page: m.page, Problem: fmt.Sprintf("freelist page %d outside [2, %d)", m.freelist, m.hwm)}
	}
	c := &checker{r: r, size: size, ps: ps, m: m, used: newPageSet(m.hwm)}
	c.used.add(0)
	c.used.add(1)
	c.sum = Summary{
		PageSize:       int(ps),
		Meta:           int(m.page),
		TxID:           m.txid,
		HighWater:      m.hwm,
		FreelistSynced: m.freelist != noFreelist,
	}
	return c, nil
}

// walkAll checks the freelist, every bucket tree, and that no free page is
// in use.
func (c *checker) walkAll() error {
	if err := c.checkFreelist(); err != nil {
		return err
	}
	if err := c.walkTrees(); err != nil {
		return err
	}
	if id, ok := c.free.firstCommon(c.used); ok {
		return &PageError{Page: id, Problem: "on the freelist but in use"}
	}
	unused := int(c.m.hwm - c.used.count() - c.free.count())
	if c.sum.FreelistSynced {
		c.sum.LeakedPages = unused
	} else {
		c.sum.FreePages = unused // what bbolt's Open rebuilds as free
	}
	return nil
}

// buffer returns a buffer of n bytes, reusing one given back with release.
func (c *checker) buffer(n int64) []byte {
	for i := len(c.bufs) - 1; i >= 0; i-- {
		if b := c.bufs[i]; int64(cap(b)) >= n {
			c.bufs[i] = c.bufs[len(c.bufs)-1]
			c.bufs = c.bufs[:len(c.bufs)-1]
			return b[:n]
		}
	}
	return make([]byte, n)
}

// release gives b back for reuse.
func (c *checker) release(b []byte) { c.bufs = append(c.bufs, b) }
