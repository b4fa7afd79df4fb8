package boltsession

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// TestEveryFlippedByteOfARecordIsCorruptNotWrongData flips each bit of a
// stored record in turn: bbolt keeps no checksum on its data pages, so
// without the record's own checksum a flip inside a value would be handed
// to the handler as a wrong value. Every flip must give ErrCorrupt.
func TestEveryFlippedByteOfARecordIsCorruptNotWrongData(t *testing.T) {
	raw, err := encodeRecord(sampleRecord())
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for bit := range 8 {
			damaged := bytes.Clone(raw)
			damaged[i] ^= 1 << bit
			rec, err := decodeRecord("id-1", damaged)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d bit %d flipped: got %+v, %v; want ErrCorrupt", i, bit, rec, err)
			}
			if _, err := decodeIndexFields("id-1", damaged); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d bit %d flipped: index fields decoded: %v", i, bit, err)
			}
		}
	}
	for n := range recordHeader {
		if _, err := decodeRecord("id-1", raw[:n]); n > 0 && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("record cut to %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
}

// TestVersion1FileOpensAndItsRecordsGainAChecksum opens a file as the
// previous release wrote it (format version 1, records without a checksum,
// no bucket of replaced-session markers): every session loads, the file is
// marked version 2, and a record gains its checksum at its next write.
func TestVersion1FileOpensAndItsRecordsGainAChecksum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	now := time.Now()
	rec := &Record{ID: "old", Created: now, Expires: now.Add(time.Hour), Owner: "alice",
		Values: map[string][]byte{"user": []byte("\xa5alice")}}
	withSum, err := encodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketOwners, bucketMeta} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return errors.Join(
			tx.Bucket(bucketMeta).Put(keyVersion, binary.BigEndian.AppendUint64(nil, 1)),
			tx.Bucket(bucketSessions).Put([]byte("old"), withSum[recordHeader:]), // a bare msgpack map
			tx.Bucket(bucketExpiry).Put(expiryKey(rec.Expires, []byte("old")), nil),
			tx.Bucket(bucketOwners).Put(ownerKey("alice", []byte("old")), nil),
		)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, &BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatalf("Open of a version 1 file: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	got, err := s.Load(ctx, "old")
	if err != nil || string(got.Values["user"]) != "\xa5alice" || got.Owner != "alice" {
		t.Fatalf("Load of a version 1 record = %+v, %v", got, err)
	}
	in, err := s.Inspect(ctx)
	if err != nil || in.FormatVersion != formatVersion {
		t.Fatalf("after Open the file says version %d (%v), want %d", in.FormatVersion, err, formatVersion)
	}
	if err := s.Save(ctx, Update{ID: "old", Set: map[string][]byte{"n": {1}}}); err != nil {
		t.Fatal(err)
	}
	var first byte
	_ = s.db.View(func(tx *bbolt.Tx) error {
		first = tx.Bucket(bucketSessions).Get(keyOf("old"))[0]
		return nil
	})
	if first != recordTag {
		t.Fatalf("the rewritten record starts with %#x, want the checksum tag", first)
	}
	// The markers' bucket exists: a replace works on the upgraded file.
	if err := s.Save(ctx, Update{ID: "new", Create: true, Replaces: "old", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatalf("replace on an upgraded file: %v", err)
	}
}

// BenchmarkRecordChecksum is the cost the checksum adds to reading a
// record: the CRC-32C of a typical record, against decoding it.
func BenchmarkRecordChecksum(b *testing.B) {
	raw, err := encodeRecord(sampleRecord())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("crc32c", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			verifyRecordSum(raw)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := decodeRecord("id-1", raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
