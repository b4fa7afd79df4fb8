package boltfile

import (
	"bytes"
	"errors"
	"hash/fnv"
	"regexp"
	"testing"
)

// operand is a copy of a valid file with the offsets of its structures, for
// damaging one thing at a time.
type operand struct {
	t    *testing.T
	data []byte
	ps   int
	meta int // the meta bbolt uses
}

func (o *operand) page(id uint64) []byte { return o.data[int(id)*o.ps : int(id+1)*o.ps] }

// metaBytes are the 64 bytes of meta page i.
func (o *operand) metaBytes(i int) []byte {
	return o.data[i*o.ps+pageHeaderSize : i*o.ps+pageHeaderSize+metaSize]
}

// setMeta changes a field of meta page i (at a byte offset within the meta)
// and re-seals its checksum, as a bug in a writer would.
func (o *operand) setMeta(i, field int, v uint64, size int) {
	m := o.metaBytes(i)
	if size == 4 {
		native.PutUint32(m[field:], uint32(v))
	} else {
		native.PutUint64(m[field:], v)
	}
	h := fnv.New64a()
	h.Write(m[:metaSummed])
	native.PutUint64(m[metaSummed:], h.Sum64())
}

func (o *operand) current() meta { return decodeMeta(o.data[o.meta*o.ps:], uint64(o.meta)) }

// elem returns the offset in the file of element i's header on page id.
func (o *operand) elem(id uint64, i int) int { return int(id)*o.ps + pageHeaderSize + i*elementSize }

// bucketElem returns the index of bucket name on the root bucket's page.
func (o *operand) bucketElem(name string) (int, element) {
	root := o.current().root
	h := decodeHeader(o.page(root))
	for i := range int(h.count) {
		e, _ := elementAt(o.page(root), i, true)
		if string(e.key) == name {
			return i, e
		}
	}
	o.t.Fatalf("no bucket %q on the root page", name)
	return 0, element{}
}

func (o *operand) sessionsRoot() uint64 {
	_, e := o.bucketElem("sessions")
	return native.Uint64(e.value)
}

// firstLeaf is the first leaf page of the sessions bucket.
func (o *operand) firstLeaf() uint64 {
	id := o.sessionsRoot()
	for decodeHeader(o.page(id)).flags == flagBranch {
		e, _ := elementAt(o.page(id), 0, false)
		id = e.child
	}
	return id
}

func (o *operand) freeIDs() []byte {
	p := o.page(o.current().freelist)
	n := int(decodeHeader(p).count)
	return p[pageHeaderSize : pageHeaderSize+8*n]
}

// Meta field offsets, as laid out in decodeMeta.
const (
	metaPageSize = 8
	metaRoot     = 16
	metaFreelist = 32
	metaHWM      = 40
	metaTxID     = 48
)

func TestCheckRefusesEachKindOfDamageNamingIt(t *testing.T) {
	base := readFile(t, buildFile(t, t.TempDir(), fileSpec{name: "refuse", pageSize: 1024, sessions: 300, deleteEvery: 3, seed: 61}))
	sum, err := Check(bytes.NewReader(base), int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		damage func(o *operand)
		want   string
	}{
		{"file cut below the high-water mark", func(o *operand) {
			o.data = o.data[:int(o.current().hwm)*o.ps-1]
		}, "truncated file"},
		{"both meta pages damaged", func(o *operand) {
			o.metaBytes(0)[0] ^= 1
			o.metaBytes(1)[20] ^= 1
		}, "both meta pages are invalid"},
		{"page size not a power of two", func(o *operand) {
			o.setMeta(0, metaPageSize, 3000, 4)
		}, "not a power of two"},
		{"meta's page size differs from the one bbolt reads with", func(o *operand) {
			o.setMeta(1, metaTxID, 1<<40, 8)
			o.setMeta(1, metaPageSize, 2048, 4)
			o.meta = 1
		}, "meta says page size 2048"},
		{"transaction id about to wrap", func(o *operand) {
			o.setMeta(o.meta, metaTxID, ^uint64(0), 8)
		}, "would wrap to 0"},
		{"transaction id implausibly large", func(o *operand) {
			o.setMeta(o.meta, metaTxID, 1<<63, 8)
		}, "would wrap to 0"},
		{"high-water mark beyond the file", func(o *operand) {
			o.setMeta(o.meta, metaHWM, uint64(len(o.data)/o.ps+1), 8)
		}, "truncated file"},
		{"root page beyond the high-water mark", func(o *operand) {
			o.setMeta(o.meta, metaRoot, o.current().hwm, 8)
		}, "root bucket page"},
		{"freelist page is a meta page", func(o *operand) {
			o.setMeta(o.meta, metaFreelist, 1, 8)
		}, "freelist page 1 outside"},
		{"freelist names a leaf page", func(o *operand) {
			o.setMeta(o.meta, metaFreelist, o.firstLeaf(), 8)
		}, "but it is a leaf page"},
		{"freelist lists a page in use", func(o *operand) {
			native.PutUint64(o.freeIDs(), o.firstLeaf())
		}, "on the freelist but in use"},
		{"freelist lists a page twice", func(o *operand) {
			ids := o.freeIDs()
			copy(ids[8:16], ids[0:8])
		}, "twice"},
		{"freelist lists a meta page", func(o *operand) {
			native.PutUint64(o.freeIDs(), 1)
		}, "freelist lists meta page 1"},
		{"freelist count beyond its page", func(o *operand) {
			native.PutUint16(o.page(o.current().freelist)[10:], 2000)
		}, "does not fit"},
		{"page names another page in its header", func(o *operand) {
			native.PutUint64(o.page(o.firstLeaf()), 3)
		}, "header names page 3"},
		{"unknown page type", func(o *operand) {
			native.PutUint16(o.page(o.firstLeaf())[8:], 0x20)
		}, "unknown type 0x20 page where a branch or leaf page belongs"},
		{"branch points at itself", func(o *operand) {
			root := o.sessionsRoot()
			native.PutUint64(o.data[o.elem(root, 0)+8:], root)
		}, "reached twice"},
		{"two branch elements share a child", func(o *operand) {
			root := o.sessionsRoot()
			copy(o.data[o.elem(root, 1)+8:o.elem(root, 1)+16], o.data[o.elem(root, 0)+8:o.elem(root, 0)+16])
		}, "reached twice|its parent holds for it"},
		{"branch with one child", func(o *operand) {
			native.PutUint16(o.page(o.sessionsRoot())[10:], 1)
		}, "branch page with 1 children"},
		{"keys out of order on a leaf", func(o *operand) {
			e, _ := elementAt(o.page(o.firstLeaf()), 1, true)
			e.key[0] = 0
		}, "is not above the key before it"},
		{"empty key", func(o *operand) {
			native.PutUint32(o.data[o.elem(o.firstLeaf(), 1)+8:], 0)
		}, "empty key"},
		{"key beyond its page", func(o *operand) {
			native.PutUint32(o.data[o.elem(o.firstLeaf(), 1)+4:], 0xFFFFFF)
		}, "key or value beyond the page"},
		{"first key differs from its parent's", func(o *operand) {
			e, _ := elementAt(o.page(o.firstLeaf()), 0, true)
			e.key[len(e.key)-1] ^= 1
		}, "its parent holds for it"},
		{"overflow past the high-water mark", func(o *operand) {
			native.PutUint32(o.page(o.firstLeaf())[12:], 0xFFFFFFF0)
		}, "overflow pages run past"},
		{"root bucket holds a plain key", func(o *operand) {
			i, _ := o.bucketElem("owners")
			native.PutUint32(o.data[o.elem(o.current().root, i):], 0)
		}, "not a bucket"},
		{"bucket header cut short", func(o *operand) {
			i, _ := o.bucketElem("sessions")
			native.PutUint32(o.data[o.elem(o.current().root, i)+12:], 8)
		}, "bucket header of 8 bytes"},
		{"inline bucket page naming a page", func(o *operand) {
			_, e := o.bucketElem("meta")
			native.PutUint64(e.value[bucketHeaderSize:], 5)
		}, "inline bucket page names page 5"},
		{"inline bucket holding a branch page", func(o *operand) {
			_, e := o.bucketElem("meta")
			native.PutUint16(e.value[bucketHeaderSize+8:], flagBranch)
		}, "inline bucket page is a branch page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &operand{t: t, data: bytes.Clone(base), ps: sum.PageSize, meta: sum.Meta}
			tc.damage(o)
			_, err := checkBounded(t, o.data)
			if !errors.Is(err, ErrCorrupt) || !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Fatalf("Check = %v, want ErrCorrupt saying %q", err, tc.want)
			}
		})
	}
}

func TestCheckUsesTheOlderMetaWhenTheNewerIsDamagedAsBboltDoes(t *testing.T) {
	path := buildFile(t, t.TempDir(), fileSpec{name: "older", pageSize: 1024, sessions: 200, deleteEvery: 2, seed: 62})
	data := readFile(t, path)
	sum, err := Check(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	data[sum.Meta*sum.PageSize+pageHeaderSize] ^= 1 // its magic
	older, err := Check(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if older.Meta == sum.Meta || older.TxID != sum.TxID-1 {
		t.Fatalf("Check used meta %d, txid %d; want the other one, txid %d", older.Meta, older.TxID, sum.TxID-1)
	}
	writeFile(t, path, data)
	if opened, err := exerciseBolt(path); !opened || err != nil {
		t.Fatalf("bbolt on the older meta: opened %v, %v", opened, err)
	}
}

func TestANegativeSizeIsAnErrorNotAPanic(t *testing.T) {
	r := bytes.NewReader(nil)
	if _, err := Check(r, -1); err == nil {
		t.Error("Check accepted size -1")
	}
	if _, err := Salvage(r, -1, bucketSessions, func(k, v []byte) error { return nil }); err == nil {
		t.Error("Salvage accepted size -1")
	}
	if _, err := Scan(r, -1, func(Record) error { return nil }); err == nil {
		t.Error("Scan accepted size -1")
	}
}
