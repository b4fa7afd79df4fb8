package boltsession

import (
	"path/filepath"
	"testing"
)

func TestNoSyncOptionReachesBbolt(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		s, err := Open(filepath.Join(t.TempDir(), "s.db"), &BoltOptions{NoSync: noSync, SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if s.db.NoSync != noSync {
			t.Errorf("BoltOptions.NoSync %v gave bbolt NoSync %v", noSync, s.db.NoSync)
		}
		s.Close()
	}
}
