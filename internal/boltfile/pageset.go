package boltfile

import "math/bits"

// pageSet is a set of page ids below a bound fixed at creation, one bit a
// page: a file of n pages costs n/8 bytes.
type pageSet []uint64

func newPageSet(n uint64) pageSet { return make(pageSet, (n+63)/64) }

// has reports whether id is in the set; ids beyond the bound are not.
func (s pageSet) has(id uint64) bool {
	w := id / 64
	return w < uint64(len(s)) && s[w]&(1<<(id%64)) != 0
}

// add puts id, which must be below the bound, in the set.
func (s pageSet) add(id uint64) { s[id/64] |= 1 << (id % 64) }

// count is the number of ids in the set.
func (s pageSet) count() uint64 {
	var n int
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

// firstCommon returns the smallest id in both sets.
func (s pageSet) firstCommon(t pageSet) (uint64, bool) {
	for i := 0; i < len(s) && i < len(t); i++ {
		if both := s[i] & t[i]; both != 0 {
			return uint64(i)*64 + uint64(bits.TrailingZeros64(both)), true
		}
	}
	return 0, false
}
