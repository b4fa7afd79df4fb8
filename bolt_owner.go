package boltsession

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Owned returns the owner's live sessions, oldest first, with Values nil.
// Each names its session by Handle; ID is empty (the store keeps no IDs).
func (s *BoltStore) Owned(ctx context.Context, owner string) ([]Record, error) {
	if err := s.enter(ctx, "owned"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if owner == "" || strings.IndexByte(owner, 0) >= 0 {
		return nil, nil // no such owner can be stored
	}
	now := s.now()
	var out []Record
	prefix := ownerKey(owner, nil)
	err := s.view("owned", func(tx *bbolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		c := tx.Bucket(bucketOwners).Cursor()
		var order keyOrder
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if err := order.next(k); err != nil {
				return err
			}
			key := k[len(prefix):]
			raw := sessions.Get(key)
			if raw == nil {
				continue
			}
			rec, err := s.decodeIndexFields(key, raw)
			if err != nil {
				s.corrupt.Add(1)
				continue
			}
			if rec.Owner != owner || !now.Before(rec.Expires) {
				continue
			}
			out = append(out, *rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltsession: owned: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// DestroyOwner deletes every session of the owner in one transaction and
// returns how many live ones it ended.
func (s *BoltStore) DestroyOwner(ctx context.Context, owner string) (int, error) {
	if owner == "" || strings.IndexByte(owner, 0) >= 0 {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("boltsession: destroy owner: %w", err)
		}
		return 0, nil // no such owner can be stored
	}
	var n int
	err := s.write(ctx, "destroy owner", func(tx *bbolt.Tx, now time.Time) error {
		n = 0
		prefix := ownerKey(owner, nil)
		var ids [][]byte
		c := tx.Bucket(bucketOwners).Cursor()
		var order keyOrder
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if err := order.next(k); err != nil {
				return err
			}
			ids = append(ids, bytes.Clone(k[len(prefix):]))
		}
		r := s.recordsOf(tx)
		for _, id := range ids {
			if raw := r.sessions.Get(id); raw != nil {
				if rec, err := s.decodeIndexFields(id, raw); err == nil && rec.Owner == owner {
					live, err := s.removeRecord(r, id, now)
					if err != nil {
						return err
					}
					if live {
						n++
					}
					continue
				}
			}
			// A stale entry: the record is gone, corrupt or owned by
			// someone else now.
			if err := r.owners.Delete(ownerKey(owner, id)); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
