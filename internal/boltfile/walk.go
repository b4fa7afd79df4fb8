package boltfile

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
)

// Depth bounds. A B+tree whose every branch has two children reaches 64
// levels only past 2^63 pages, so a deeper tree is a cycle or garbage; bbolt
// walks both depths by recursion, so an unbounded one could exhaust its
// stack. boltsession nests no buckets; 64 levels leaves room for any other
// bbolt user.
const (
	maxTreeDepth     = 64
	maxBucketNesting = 64
)

// maxRead is the most bytes one read of adjacent pages asks for.
const maxRead = 1 << 20

// bucketPath names the bucket a tree belongs to.
type bucketPath struct {
	root    bool   // the root bucket, which holds only buckets
	name    string // path from the root, names joined by "/"
	nesting int    // 1 for a top-level bucket
}

// ref is a page reference still to be followed, with what its referrer
// says the page must hold.
type ref struct {
	page   uint64
	bucket *bucketPath

	// lo is the key the parent branch holds for the page, which must be
	// its first; hi is the parent's next key, which its keys must stay
	// below (nil: no bound). Both are nil for a bucket's root page.
	lo, hi []byte

	depth int    // pages above it in its bucket's tree
	from  uint64 // the referrer: a branch page, the page holding the bucket header, or the meta page
}

// walkTrees checks every page reachable from the root bucket. It follows
// references breadth first, each round in file order, so that pages next to
// each other in the file are read with one read: a walk in key order would
// jump around the file and pay a read for every page.
func (c *checker) walkTrees() error {
	frontier := []ref{{page: c.m.root, bucket: &bucketPath{root: true}, from: c.m.page}}
	buf := make([]byte, min(max(1, maxRead/c.ps), int64(c.m.hwm))*c.ps)
	for len(frontier) > 0 {
		slices.SortFunc(frontier, func(a, b ref) int { return cmp.Compare(a.page, b.page) })
		var next []ref
		for i := 0; i < len(frontier); {
			// Read the run of adjacent pages starting at frontier[i] that
			// the file holds below the high-water mark, at most maxRead
			// bytes; a reference the checks below refuse is not read.
			first := frontier[i].page
			j := i
			for j < len(frontier) && first >= 2 && first < c.m.hwm &&
				frontier[j].page == first+uint64(j-i) && frontier[j].page < c.m.hwm &&
				int64(j-i+1)*c.ps <= int64(len(buf)) {
				j++
			}
			run := buf[:int64(j-i)*c.ps]
			if j > i {
				if err := readFull(c.r, run, int64(first)*c.ps); err != nil {
					return err
				}
			} else {
				j = i + 1 // refused by visit without a read
			}
			for k := i; k < j; k++ {
				var page []byte
				if len(run) > 0 {
					page = run[int64(k-i)*c.ps : int64(k-i+1)*c.ps]
				}
				var err error
				if next, err = c.visit(frontier[k], page, next); err != nil {
					return err
				}
			}
			i = j
		}
		frontier = next
	}
	return nil
}

// visit checks the page r refers to, whose first page of bytes is first
// (nil when r's id is out of range), and appends the references it holds
// to next.
func (c *checker) visit(r ref, first []byte, next []ref) ([]ref, error) {
	id, b := r.page, r.bucket
	refused := func(format string, args ...any) error {
		return &PageError{Page: id, Bucket: b.name, Problem: fmt.Sprintf(format, args...) + fmt.Sprintf(", referenced from page %d", r.from)}
	}
	switch {
	case r.depth >= maxTreeDepth:
		return next, refused("tree deeper than %d levels", maxTreeDepth)
	case id < 2:
		return next, refused("meta page where a data page belongs")
	case id >= c.m.hwm:
		return next, refused("at or beyond the high-water mark %d", c.m.hwm)
	case c.used.has(id):
		return next, refused("reached twice (a cycle, or a page shared by two parents)")
	case len(first) < pageHeaderSize:
		return next, refused("not read") // walkTrees reads every page in range
	}
	h := decodeHeader(first)
	if h.id != id {
		return next, refused("header names page %d", h.id)
	}
	if uint64(h.overflow) >= c.m.hwm-id {
		return next, refused("%d overflow pages run past the high-water mark %d", h.overflow, c.m.hwm)
	}
	for i := id; i <= id+uint64(h.overflow); i++ {
		if c.used.has(i) {
			return next, refused("overflow page %d is in use elsewhere", i)
		}
		c.used.add(i)
	}
	c.sum.TreePages += int(h.overflow) + 1
	page := first
	if h.overflow > 0 {
		page = c.buffer(int64(h.overflow+1) * c.ps)
		defer c.release(page)
		copy(page, first)
		if err := readFull(c.r, page[c.ps:], int64(id+1)*c.ps); err != nil {
			return next, err
		}
	}
	return c.checkPage(r, h, page, next)
}

// checkPage checks the elements of tree page r, read whole into page, and
// appends its children and the roots of the buckets it holds to next.
func (c *checker) checkPage(r ref, h header, page []byte, next []ref) ([]ref, error) {
	id, b := r.page, r.bucket
	fail := func(format string, args ...any) ([]ref, error) {
		return next, &PageError{Page: id, Bucket: b.name, Problem: fmt.Sprintf(format, args...)}
	}
	leaf := h.flags == flagLeaf
	if !leaf && h.flags != flagBranch {
		return fail("%s page where a branch or leaf page belongs", typeName(h.flags))
	}
	n := int(h.count)
	if n > maxElements(len(page)) {
		return fail("%d elements do not fit in %d bytes", n, len(page))
	}
	switch {
	case !leaf && n < 2:
		// bbolt collapses or merges a branch with one child; left in place,
		// its child's rebalance fails an assertion.
		return fail("branch page with %d children", n)
	case r.depth > 0 && n == 0:
		// bbolt removes an emptied page; a write into one left in place
		// inserts a second parent entry instead of updating the first.
		return fail("empty page below a branch")
	}

	var prev []byte
	var keys []byte // a branch's keys, copied: page is reused once visit returns
	var ends []int
	start := len(next)
	for i := 0; i < n; i++ {
		e, problem := elementAt(page, i, leaf)
		if problem != "" {
			return fail("%s", problem)
		}
		switch {
		case len(e.key) == 0:
			return fail("element %d has an empty key", i)
		case i == 0 && r.lo != nil && !bytes.Equal(e.key, r.lo):
			return fail("first key %s differs from the key %s its parent holds for it", showKey(e.key), showKey(r.lo))
		case i > 0 && bytes.Compare(prev, e.key) >= 0:
			return fail("key %d %s is not above the key before it %s", i, showKey(e.key), showKey(prev))
		case r.hi != nil && bytes.Compare(e.key, r.hi) >= 0:
			return fail("key %d %s is not below the parent's next key %s", i, showKey(e.key), showKey(r.hi))
		}
		prev = e.key
		switch {
		case !leaf:
			if keys == nil {
				keys = make([]byte, 0, len(page))
			}
			keys = append(keys, e.key...)
			ends = append(ends, len(keys))
			next = append(next, ref{page: e.child, bucket: b, depth: r.depth + 1, from: id})
		case e.flags&leafBucket != 0:
			var err error
			if next, err = c.checkBucket(id, b, e, next); err != nil {
				return next, err
			}
		case b.root:
			return fail("the root bucket holds key %s that is not a bucket", showKey(e.key))
		default:
			c.sum.Keys++
		}
	}
	// Each child's bounds: its own key, and its next sibling's (the
	// parent's bound for the last).
	begin := 0
	for i, end := range ends {
		k := &next[start+i]
		k.lo, k.hi = keys[begin:end:end], r.hi
		if i+1 < len(ends) {
			k.hi = keys[end:ends[i+1]:ends[i+1]]
		}
		begin = end
	}
	return next, nil
}

// checkBucket checks the bucket whose header is the value of leaf element e
// on page id of bucket parent: an inline bucket at once, the root of any
// other by appending it to next.
func (c *checker) checkBucket(id uint64, parent *bucketPath, e element, next []ref) ([]ref, error) {
	b := &bucketPath{name: showName(e.key), nesting: parent.nesting + 1}
	if parent.name != "" {
		b.name = parent.name + "/" + b.name
	}
	fail := func(format string, args ...any) ([]ref, error) {
		return next, &PageError{Page: id, Bucket: b.name, Problem: fmt.Sprintf(format, args...)}
	}
	if len(e.value) < bucketHeaderSize {
		return fail("bucket header of %d bytes, want %d", len(e.value), bucketHeaderSize)
	}
	if b.nesting > maxBucketNesting {
		return fail("buckets nested deeper than %d", maxBucketNesting)
	}
	c.sum.Buckets++
	if root := native.Uint64(e.value); root != 0 {
		return append(next, ref{page: root, bucket: b, from: id}), nil
	}
	c.sum.InlineBuckets++
	inline := e.value[bucketHeaderSize:]
	if len(inline) < pageHeaderSize {
		return fail("inline bucket of %d bytes, shorter than a page header", len(inline))
	}
	h := decodeHeader(inline)
	switch {
	case h.flags != flagLeaf:
		return fail("inline bucket page is a %s page; bbolt writes only leaf pages inline", typeName(h.flags))
	case h.id != 0 || h.overflow != 0:
		// bbolt writes an inline page with id and overflow zero, and takes
		// a non-zero id for a page of its own: when the bucket outgrows its
		// inline page, it frees that page id.
		return fail("inline bucket page names page %d with %d overflow pages; bbolt writes zero", h.id, h.overflow)
	}
	n := int(h.count)
	if n > maxElements(len(inline)) {
		return fail("inline bucket: %d elements do not fit in %d bytes", n, len(inline))
	}
	var prev []byte
	for i := 0; i < n; i++ {
		e, problem := elementAt(inline, i, true)
		switch {
		case problem != "":
			return fail("inline bucket: %s", problem)
		case len(e.key) == 0:
			return fail("inline bucket: element %d has an empty key", i)
		case i > 0 && bytes.Compare(prev, e.key) >= 0:
			return fail("inline bucket: key %d %s is not above the key before it %s", i, showKey(e.key), showKey(prev))
		case e.flags&leafBucket != 0:
			return fail("inline bucket holds bucket %s; bbolt never writes one", showKey(e.key))
		}
		prev = e.key
		c.sum.Keys++
	}
	return next, nil
}
