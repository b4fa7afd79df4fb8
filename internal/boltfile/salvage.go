package boltfile

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// SalvageReport is what Salvage read and what it had to skip.
type SalvageReport struct {
	// Meta is the meta page (0 or 1) whose root led to the bucket, TxID its
	// transaction id, PageSize the page size its tree was read with.
	Meta     int
	TxID     uint64
	PageSize int

	// Keys is the number of key/value pairs passed to fn.
	Keys int

	// Damage has one entry for every page, or group of elements on a page,
	// that could not be read; what lies below a skipped branch page is lost
	// unless Scan finds it.
	Damage []PageError
}

// Salvage reads every key/value pair of the top-level bucket name that can
// still be read, calling fn for each in the order the tree stores them (key
// order, unless the damage says otherwise), and reports what it had
// to skip. It uses the newest valid meta page whose root bucket holds the
// bucket; below it, a damaged page (wrong id or type, out of bounds, reached
// twice, beyond the file's end) is skipped and reported and its siblings are
// still read, and so are the readable elements of a page some of whose
// elements are damaged. Keys out of order are passed on as read. Nested
// buckets inside the bucket are skipped. An inline bucket is read too.
//
// The key and value slices are valid only during the call: copy what you
// keep. fn returning an error stops Salvage, which returns that error.
//
// Salvage never panics, and its time and memory are bounded by the file's
// size: it reads each page at most once. It returns an error wrapping
// ErrNoBucket when no valid meta page leads to the bucket (then try Scan);
// it does not return the file's damage as an error, only in the report.
func Salvage(r io.ReaderAt, size int64, name []byte, fn func(key, value []byte) error) (SalvageReport, error) {
	if size < 0 {
		return SalvageReport{}, fmt.Errorf("boltsession: negative file size %d", size)
	}
	var tried []string
	for _, c := range usableMetas(r, size) {
		s := newSalvager(r, size, c)
		value, at, err := s.findBucket(name)
		if err != nil {
			return SalvageReport{}, err
		}
		if value == nil {
			tried = append(tried, fmt.Sprintf("meta page %d (txid %d): not found%s", c.m.page, c.m.txid, s.damageNote()))
			continue
		}
		rep := SalvageReport{Meta: int(c.m.page), TxID: c.m.txid, PageSize: int(c.ps)}
		yield := func(_ uint64, e element) error {
			if e.flags&leafBucket != 0 {
				return nil
			}
			rep.Keys++
			return fn(e.key, e.value)
		}
		bucket := showName(name)
		s.bucket = bucket
		if root := native.Uint64(value); root != 0 {
			err = s.walk(root, 0, yield)
		} else {
			err = s.walkInline(at, value[bucketHeaderSize:], yield)
		}
		rep.Damage = s.damage
		return rep, err
	}
	if len(tried) == 0 {
		tried = append(tried, "no valid meta page")
	}
	return SalvageReport{}, fmt.Errorf("%w: %s", ErrNoBucket, strings.Join(tried, "; "))
}

// salvager walks one meta's trees, tolerating damage.
type salvager struct {
	r       io.ReaderAt
	size    int64
	ps      int64
	root    uint64  // the root bucket's root page
	limit   uint64  // pages below this may be read: the high-water mark or the file's end
	visited pageSet // every page read, overflow included
	bucket  string  // for PageError.Bucket
	damage  []PageError
}

func newSalvager(r io.ReaderAt, size int64, c candidate) *salvager {
	limit := uint64((size + c.ps - 1) / c.ps)
	limit = min(limit, c.m.hwm)
	return &salvager{r: r, size: size, ps: c.ps, root: c.m.root, limit: limit, visited: newPageSet(limit)}
}

func (s *salvager) report(page uint64, format string, args ...any) {
	s.damage = append(s.damage, PageError{Page: page, Bucket: s.bucket, Problem: fmt.Sprintf(format, args...)})
}

func (s *salvager) damageNote() string {
	if len(s.damage) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d damaged pages, first: %s)", len(s.damage), s.damage[0].Error())
}

// findBucket returns a copy of the value of bucket name, searched in every
// readable leaf of the root bucket, and the page holding it; nil when no
// leaf holds it.
func (s *salvager) findBucket(name []byte) ([]byte, uint64, error) {
	var found []byte
	var at uint64
	err := s.walk(s.root, 0, func(page uint64, e element) error {
		if found == nil && e.flags&leafBucket != 0 && bytes.Equal(e.key, name) && len(e.value) >= bucketHeaderSize {
			found, at = bytes.Clone(e.value), page
		}
		return nil
	})
	return found, at, err
}

// readPage reads page id and as much of its overflow as is readable and not
// visited before, or reports why not and returns nil.
func (s *salvager) readPage(id uint64) ([]byte, header) {
	switch {
	case id < 2:
		s.report(id, "meta page where a data page belongs")
		return nil, header{}
	case id >= s.limit:
		s.report(id, "beyond the high-water mark or the file's end (%d pages)", s.limit)
		return nil, header{}
	case s.visited.has(id):
		s.report(id, "reached twice (a cycle, or a page shared by two parents)")
		return nil, header{}
	}
	s.visited.add(id)
	buf, err := readAvail(s.r, make([]byte, s.ps), int64(id)*s.ps, s.size)
	if err != nil {
		s.report(id, "%v", err)
		return nil, header{}
	}
	if len(buf) < pageHeaderSize {
		s.report(id, "cut short by the file's end")
		return nil, header{}
	}
	h := decodeHeader(buf)
	if h.id != id {
		s.report(id, "header names page %d", h.id)
		return nil, header{}
	}
	// Read the overflow pages that exist and were not read before; the
	// elements reaching beyond them are reported by the caller.
	n := uint64(1)
	for n <= uint64(h.overflow) && id+n < s.limit && !s.visited.has(id+n) {
		s.visited.add(id + n)
		n++
	}
	if n > 1 && int64(len(buf)) == s.ps {
		more, err := readAvail(s.r, make([]byte, int64(n-1)*s.ps), int64(id+1)*s.ps, s.size)
		if err != nil {
			s.report(id, "overflow: %v", err)
		}
		buf = append(buf, more...)
	}
	if n <= uint64(h.overflow) {
		s.report(id, "only %d of its %d overflow pages are readable", n-1, h.overflow)
	}
	return buf, h
}

// walk passes every readable leaf element below page id to yield, in key
// order as stored, reporting what it skips. Only yield's error stops it.
func (s *salvager) walk(id uint64, depth int, yield func(page uint64, e element) error) error {
	if depth >= maxTreeDepth {
		s.report(id, "tree deeper than %d levels", maxTreeDepth)
		return nil
	}
	buf, h := s.readPage(id)
	if buf == nil {
		return nil
	}
	if h.flags != flagLeaf && h.flags != flagBranch {
		s.report(id, "%s page where a branch or leaf page belongs", typeName(h.flags))
		return nil
	}
	leaf := h.flags == flagLeaf
	n := int(h.count)
	bad := 0
	if fit := maxElements(len(buf)); n > fit {
		bad, n = n-fit, fit
	}
	var children []uint64
	for i := 0; i < n; i++ {
		e, problem := elementAt(buf, i, leaf)
		if problem != "" || len(e.key) == 0 {
			bad++
			continue
		}
		if !leaf {
			children = append(children, e.child)
			continue
		}
		if err := yield(id, e); err != nil {
			return err
		}
	}
	if bad > 0 {
		s.report(id, "%d of %d elements unreadable", bad, h.count)
	}
	for _, child := range children {
		if err := s.walk(child, depth+1, yield); err != nil {
			return err
		}
	}
	return nil
}

// walkInline passes the readable elements of an inline bucket's page, held
// on page id, to yield.
func (s *salvager) walkInline(id uint64, b []byte, yield func(page uint64, e element) error) error {
	if len(b) < pageHeaderSize {
		s.report(id, "inline bucket shorter than a page header")
		return nil
	}
	h := decodeHeader(b)
	if h.flags != flagLeaf {
		s.report(id, "inline bucket page is a %s page", typeName(h.flags))
		return nil
	}
	n := min(int(h.count), maxElements(len(b)))
	bad := 0
	for i := 0; i < n; i++ {
		e, problem := elementAt(b, i, true)
		if problem != "" || len(e.key) == 0 {
			bad++
			continue
		}
		if err := yield(id, e); err != nil {
			return err
		}
	}
	if bad > 0 || n < int(h.count) {
		s.report(id, "inline bucket: %d of %d elements unreadable", bad+int(h.count)-n, h.count)
	}
	return nil
}
