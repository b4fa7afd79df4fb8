package boltsession

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzMiddlewareCookieHeader sends arbitrary Cookie headers through the
// middleware over a real BoltStore that holds one session. Properties: no
// panic and no hang; a request is served from a stored session only if its
// header carries that session's own cookie value — garbage, however close to
// a valid cookie, never names a session.
func FuzzMiddlewareCookieHeader(f *testing.F) {
	store, err := Open(filepath.Join(f.TempDir(), "sessions.db"), &BoltOptions{SweepInterval: -1, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	m, err := New(store, Options{Keys: [][]byte{testHashKey, testBlockKey}})
	if err != nil {
		f.Fatal(err)
	}
	const id = "fuzz-session-0123456789abcdefghijklmnopqrstu"
	if err := store.Save(context.Background(), Update{ID: id, Create: true, Expires: time.Now().Add(time.Hour)}); err != nil {
		f.Fatal(err)
	}
	// A fixed cookie, made once with SecureCookie(testHashKey,
	// testBlockKey): encoding is randomized, and every fuzz worker process
	// must agree on which value is the valid one. The codecs set no
	// MaxAge, so it stays valid.
	const valid = "MTc5NTcwMDg3MXxvM3FMVGFFUDB4OEZza2ZNUXVmTENYX0ZRQ3dIS3ZjUVlRU0pLclNzSWVvX1pxUGJfX0R3S2FlNk85MU5DM1g5SGFYTDRFMFpmVzZjRmpuMHzIOptMy1JDNE9Tlc1EZZa4GpJzSoCCSy402Q2knUCMRQ=="
	if got, err := m.cfg.Codec.Decode("sid", valid); err != nil || got != id {
		f.Fatalf("the fixed cookie no longer decodes: %q, %v", got, err)
	}

	var loaded string
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		loaded = ""
		if !s.IsNew() {
			loaded = s.ID()
		}
	}))

	for _, seed := range []string{
		"sid=" + valid,
		`sid="` + valid + `"`,
		"a=b; sid=" + valid + "; c=d",
		"sid=" + valid[:len(valid)-1],
		"sid=" + valid + "x",
		"sid=" + strings.ToUpper(valid),
		"sid=" + id,
		"sid=",
		"sid",
		";;;=;",
		"sid=" + strings.Repeat("A", 5000),
		"sid=\x00\xff\"",
		"SID=" + valid,
		"sid =" + valid,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header["Cookie"] = []string{header}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d for Cookie %q", rec.Code, header)
		}
		if loaded != "" && (loaded != id || !strings.Contains(header, valid)) {
			t.Fatalf("Cookie %q was served session %q", header, loaded)
		}
	})
}
