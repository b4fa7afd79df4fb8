package boltsession_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/boltsession/boltsession"
)

func TestValueSealerSealsInTheDocumentedFormatAndOpensOnlyWithItsAAD(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	v, err := boltsession.NewValueSealer([][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("user-42")
	sealed, err := v.Seal([]byte("here"), plain)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(key)
	if len(sealed) != len(plain)+37 || sealed[0] != 0xc2 || !bytes.Equal(sealed[1:5], sum[:4]) {
		t.Fatalf("sealed = %x: want 0xc2, the key id %x, a salt, and the ciphertext with its tag (37 bytes more)", sealed, sum[:4])
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("the plain data shows in the sealed data")
	}
	if !boltsession.IsSealed(sealed) || !v.Current(sealed) {
		t.Fatal("IsSealed or Current is false for what Seal returned")
	}
	again, _ := v.Seal([]byte("here"), plain)
	if bytes.Equal(again, sealed) {
		t.Fatal("two sealings of the same data are equal: the salt is not random")
	}
	got, err := v.Open([]byte("here"), sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := v.Open([]byte("there"), sealed); !errors.Is(err, boltsession.ErrCorrupt) {
		t.Fatalf("Open with another aad: %v, want ErrCorrupt", err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	if _, err := v.Open([]byte("here"), flipped); !errors.Is(err, boltsession.ErrCorrupt) {
		t.Fatalf("Open of damaged data: %v, want ErrCorrupt", err)
	}
	if _, err := v.Open([]byte("here"), plain); !errors.Is(err, boltsession.ErrCorrupt) || boltsession.IsSealed(plain) {
		t.Fatalf("Open of data that is not sealed: %v, want ErrCorrupt", err)
	}
}

func TestValueSealerRotatesKeys(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 32)
	old, _ := boltsession.NewValueSealer([][]byte{oldKey})
	rotated, err := boltsession.NewValueSealer([][]byte{newKey, oldKey})
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, _ := boltsession.NewValueSealer([][]byte{newKey})
	sealedOld, _ := old.Seal(nil, []byte("v"))
	if got, err := rotated.Open(nil, sealedOld); err != nil || string(got) != "v" {
		t.Fatalf("the rotated sealer opens the old key's data: %q, %v", got, err)
	}
	if rotated.Current(sealedOld) {
		t.Fatal("data of the old key is Current for the rotated sealer")
	}
	sealedNew, _ := rotated.Seal(nil, []byte("v"))
	if !rotated.Current(sealedNew) || !onlyNew.Current(sealedNew) {
		t.Fatal("the first key does not seal")
	}
	if _, err := onlyNew.Open(nil, sealedOld); !errors.Is(err, boltsession.ErrKey) {
		t.Fatalf("a sealer without the old key: %v, want ErrKey", err)
	}
	var none *boltsession.ValueSealer
	if _, err := none.Open(nil, sealedOld); !errors.Is(err, boltsession.ErrKey) {
		t.Fatalf("the nil sealer: %v, want ErrKey", err)
	}
	if _, err := none.Seal(nil, []byte("v")); !errors.Is(err, boltsession.ErrKey) {
		t.Fatalf("the nil sealer seals: %v, want ErrKey", err)
	}
}

func TestNewValueSealerRefusesBadKeys(t *testing.T) {
	k := bytes.Repeat([]byte{1}, 32)
	for name, keys := range map[string][][]byte{
		"none":      nil,
		"too short": {make([]byte, 15)},
		"odd size":  {make([]byte, 20)},
		"twice":     {k, bytes.Clone(k)},
	} {
		if _, err := boltsession.NewValueSealer(keys); err == nil {
			t.Errorf("%s: NewValueSealer accepted %d keys", name, len(keys))
		}
	}
}

// FuzzValueSealerOpen opens arbitrary bytes: never a panic, an error
// wraps ErrCorrupt or ErrKey, and only a sealing of "plain" bound to "aad"
// (the one thing ever sealed with the key) opens.
func FuzzValueSealerOpen(f *testing.F) {
	v, err := boltsession.NewValueSealer([][]byte{bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	sealed, _ := v.Seal([]byte("aad"), []byte("plain"))
	f.Add(sealed, []byte("aad"))
	f.Add([]byte{0xc2}, []byte(nil))
	f.Add(append([]byte{0xc2, 0, 0, 0, 0}, make([]byte, 40)...), []byte("aad"))
	f.Fuzz(func(t *testing.T, data, aad []byte) {
		plain, err := v.Open(aad, data)
		switch {
		case err == nil && (string(aad) != "aad" || string(plain) != "plain"):
			t.Fatalf("Open(%x, %x) = %q: bytes Seal did not write opened", aad, data, plain)
		case err != nil && !errors.Is(err, boltsession.ErrCorrupt) && !errors.Is(err, boltsession.ErrKey):
			t.Fatalf("Open(%x, %x): %v", aad, data, err)
		}
	})
}
