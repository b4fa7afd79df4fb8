package boltfile

import "fmt"

// checkFreelist verifies the freelist page the meta names and every id it
// lists: bbolt frees the page's whole span at the next commit, hands listed
// pages out for writing, and panics on an id below 2, at or above the
// high-water mark, listed twice, or also in use.
func (c *checker) checkFreelist() error {
	c.free = newPageSet(c.m.hwm)
	if c.m.freelist == noFreelist {
		return nil
	}
	id := c.m.freelist
	buf, h, err := c.readPage(id)
	if err != nil {
		return err
	}
	defer c.release(buf)
	if h.flags != flagFreelist {
		return &PageError{Page: id, Problem: fmt.Sprintf("the meta names it as the freelist but it is a %s page", typeName(h.flags))}
	}
	first, n, problem := freelistIDs(buf, h)
	if problem != "" {
		return &PageError{Page: id, Problem: problem}
	}
	for i := first; i < first+n; i++ {
		free := native.Uint64(buf[pageHeaderSize+8*i:])
		switch {
		case free < 2:
			return &PageError{Page: id, Problem: fmt.Sprintf("freelist lists meta page %d", free)}
		case free >= c.m.hwm:
			return &PageError{Page: id, Problem: fmt.Sprintf("freelist lists page %d, at or above the high-water mark %d", free, c.m.hwm)}
		case c.free.has(free):
			return &PageError{Page: id, Problem: fmt.Sprintf("freelist lists page %d twice", free)}
		case c.used.has(free):
			return &PageError{Page: id, Problem: fmt.Sprintf("freelist lists page %d, which holds the freelist itself", free)}
		}
		c.free.add(free)
	}
	c.sum.FreePages = int(n)
	return nil
}

// freelistIDs returns the slot of the first page id in b, the freelist
// page h heads with its overflow, and how many ids there are; or the
// problem when they do not fit in b. A count that does not fit in the
// header (freelistCountInFirst) is in the first slot.
func freelistIDs(b []byte, h header) (first, n uint64, problem string) {
	slots := uint64(len(b)-pageHeaderSize) / 8
	first, n = 0, uint64(h.count)
	if h.count == freelistCountInFirst {
		if slots == 0 {
			return 0, 0, "freelist count slot beyond the page"
		}
		first, n = 1, native.Uint64(b[pageHeaderSize:])
	}
	if n > slots-first {
		return 0, 0, fmt.Sprintf("freelist of %d ids does not fit in its %d pages", n, h.overflow+1)
	}
	return first, n, ""
}

// readPage reads page id with its overflow pages and marks them in use,
// verifying what bbolt assumes of a page it reads: the page names itself in
// its header, its overflow stays below the high-water mark, and no page of
// it is in use already. The caller has checked id against [2, hwm). The
// buffer goes back with release.
func (c *checker) readPage(id uint64) ([]byte, header, error) {
	fail := func(format string, args ...any) ([]byte, header, error) {
		return nil, header{}, &PageError{Page: id, Problem: fmt.Sprintf(format, args...)}
	}
	first := c.buffer(c.ps)
	if err := readFull(c.r, first, int64(id)*c.ps); err != nil {
		c.release(first)
		return nil, header{}, err
	}
	h := decodeHeader(first)
	switch {
	case h.id != id:
		c.release(first)
		return fail("header names page %d", h.id)
	case uint64(h.overflow) >= c.m.hwm-id:
		c.release(first)
		return fail("%d overflow pages run past the high-water mark %d", h.overflow, c.m.hwm)
	}
	for i := id; i <= id+uint64(h.overflow); i++ {
		if c.used.has(i) {
			c.release(first)
			return fail("overflow page %d is in use elsewhere", i)
		}
		c.used.add(i)
	}
	if h.overflow == 0 {
		return first, h, nil
	}
	span := c.buffer(int64(h.overflow+1) * c.ps)
	copy(span, first)
	c.release(first)
	if err := readFull(c.r, span[c.ps:], int64(id+1)*c.ps); err != nil {
		c.release(span)
		return nil, header{}, err
	}
	return span, h, nil
}
