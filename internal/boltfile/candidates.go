package boltfile

import (
	"io"
	"sort"
)

// candidate is a valid meta page and the page size to read its tree with.
type candidate struct {
	m  meta
	ps int64
}

// usableMetas returns the valid meta pages of the file with a sane page
// size, newest first. Unlike Check, it does not insist on bbolt's exact way
// of choosing: for salvage any meta that leads somewhere is worth a try.
// Meta 0 is at offset 0; meta 1 is one page further, at meta 0's page size
// when meta 0 is valid, else at the first size where a valid meta names
// that same size.
func usableMetas(r io.ReaderAt, size int64) []candidate {
	var out []candidate
	sane := func(ps int64) bool { return ps >= minPageSize && ps <= maxPageSize && ps&(ps-1) == 0 }
	m0, ok, err := readMetaAt(r, size, 0, 0)
	if err == nil && ok && m0.problem() == "" && sane(int64(m0.pageSize)) {
		ps := int64(m0.pageSize)
		out = append(out, candidate{m0, ps})
		if m1, ok, err := readMetaAt(r, size, ps, 1); err == nil && ok && m1.problem() == "" && int64(m1.pageSize) == ps {
			out = append(out, candidate{m1, ps})
		}
	} else {
		for ps := int64(minPageSize); ps <= maxPageSize; ps *= 2 {
			if m1, ok, err := readMetaAt(r, size, ps, 1); err == nil && ok && m1.problem() == "" && int64(m1.pageSize) == ps {
				out = append(out, candidate{m1, ps})
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].m.txid > out[j].m.txid })
	return out
}

// readAvail reads up to len(b) bytes at off, fewer when the file ends
// sooner, and returns what it read.
func readAvail(r io.ReaderAt, b []byte, off, size int64) ([]byte, error) {
	if off >= size {
		return b[:0], nil
	}
	if n := size - off; n < int64(len(b)) {
		b = b[:n]
	}
	return b, readFull(r, b, off)
}
