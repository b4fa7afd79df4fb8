// Package admin is the operator HTTP handler of a running app's session
// file: what the command-line tool does, for a file the app holds open.
//
// NEVER EXPOSE IT WITHOUT AUTHENTICATION: see Handler.
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/boltsession/boltsession"
)

// Handler returns an http.Handler that lets operators inspect and
// maintain a running app's session file, which the command-line tool
// cannot open while the app holds it.
//
// SECURITY: NEVER EXPOSE THIS HANDLER WITHOUT AUTHENTICATION. It lists
// every session with its owner, deletes sessions and serves a copy of the
// whole file, values included (sealed when the store has ValueKeys). It
// never shows a session ID: sessions are named by their handles (see
// boltsession.Handle), which cannot sign anyone in. Mount it only behind
// the app's own admin authentication and authorization (and TLS), for
// example:
//
//	admin := http.StripPrefix("/admin/sessions", admin.Handler(store))
//	mux.Handle("/admin/sessions/", requireAdmin(admin))
//
// Routes, relative to where it is mounted (answers are JSON unless noted;
// errors are {"error": "..."} with a 4xx or 5xx status):
//
//	GET    /stats                  boltsession.Inspection and Stats in one object
//	GET    /sessions               live sessions in handle order, each with its
//	                               "handle"; query parameters owner=U,
//	                               expired=true (include expired ones),
//	                               prefix=P (handles starting with P, hex),
//	                               limit=N (default 100, at most 10000)
//	DELETE /sessions/{handle}      delete one session: {"deleted": 1};
//	                               404 if there is no such record
//	DELETE /sessions?owner=U       delete every session of U: {"deleted": n},
//	                               n counting the live ones ended
//	GET    /backup                 a consistent copy of the file while the
//	                               app keeps running (WriteTo), as
//	                               application/octet-stream
//
// A path that is none of those gives 404, and a method other than those
// 405 with an Allow header, both as JSON errors too. Only DELETE changes
// anything, and browsers send a cross-site DELETE only after a CORS
// preflight, so a forged form or link cannot delete sessions through an
// admin's cookie.
// Every route uses the store's ordinary operations and is safe alongside
// the app's traffic; /backup snapshots the file to a temporary copy (one
// short read transaction) and streams that, so a slow download never holds
// up the app's saves (see BoltStore.WriteTo).
func Handler(s *boltsession.BoltStore) http.Handler {
	a := &admin{store: s}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", a.stats)
	mux.HandleFunc("GET /sessions", a.list)
	mux.HandleFunc("DELETE /sessions", a.deleteOwner)
	mux.HandleFunc("DELETE /sessions/{handle}", a.deleteHandle)
	mux.HandleFunc("GET /backup", a.backup)
	return adminRoutes{mux}
}

// adminRoutes answers what the mux itself would answer with a plain-text
// page (no route: 404; a route without that method: 405) with the JSON
// error every other admin answer uses, keeping the mux's Allow header.
type adminRoutes struct{ mux *http.ServeMux }

func (a adminRoutes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := a.mux.Handler(r); pattern != "" {
		a.mux.ServeHTTP(w, r)
		return
	}
	// No pattern matched: let the mux decide between 404 and 405, and
	// keep only its status and Allow header.
	rec := &adminStatus{header: http.Header{}}
	a.mux.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		adminError(w, rec.status, fmt.Errorf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow")))
	case http.StatusNotFound, 0:
		adminError(w, http.StatusNotFound, fmt.Errorf("no admin route %s (see the routes of admin.Handler)", r.URL.Path))
	default: // a redirect or anything else the mux answers: as it is
		a.mux.ServeHTTP(w, r)
	}
}

// adminStatus records the status and header a handler writes, and drops
// its body.
type adminStatus struct {
	header http.Header
	status int
}

func (s *adminStatus) Header() http.Header { return s.header }

func (s *adminStatus) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
}

func (s *adminStatus) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(p), nil
}

// Limits on one list response.
const (
	adminDefaultLimit = 100
	adminMaxLimit     = 10000
)

type admin struct {
	store *boltsession.BoltStore
}

// adminStats is the answer of GET /stats.
type adminStats struct {
	Path              string     `json:"path"`
	FormatVersion     int        `json:"format_version"`
	FileSize          int64      `json:"file_size"`
	PageSize          int        `json:"page_size"`
	FreePages         int        `json:"free_pages"`
	Sessions          int        `json:"sessions"`
	Expired           int        `json:"expired"`
	Owners            int        `json:"owners"`
	ExpiresFirst      *time.Time `json:"expires_first,omitempty"`
	ExpiresLast       *time.Time `json:"expires_last,omitempty"`
	Sweeps            int64      `json:"sweeps"`
	Swept             int64      `json:"swept"`
	LastSweep         *time.Time `json:"last_sweep,omitempty"`
	LastSweepDuration string     `json:"last_sweep_duration,omitempty"`
	LastSweepError    string     `json:"last_sweep_error,omitempty"`
	Corrupt           int64      `json:"corrupt"`
	Commits           int64      `json:"commits"`
	Writes            int64      `json:"writes"`
}

// adminSession is one entry of GET /sessions.
type adminSession struct {
	Handle  string    `json:"handle"`
	Owner   string    `json:"owner,omitempty"`
	Created time.Time `json:"created,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
	MaxAge  string    `json:"maxage,omitempty"`
	Size    int       `json:"size"`
	Expired bool      `json:"expired,omitempty"`
	Corrupt string    `json:"corrupt,omitempty"`
}

func (a *admin) stats(w http.ResponseWriter, r *http.Request) {
	in, err := a.store.Inspect(r.Context())
	if err != nil {
		adminError(w, http.StatusInternalServerError, err)
		return
	}
	st := a.store.Stats()
	out := adminStats{
		Path: a.store.Path(), FormatVersion: in.FormatVersion, FileSize: in.FileSize,
		PageSize: in.PageSize, FreePages: in.FreePages,
		Sessions: in.Sessions, Expired: in.Expired, Owners: in.Owners,
		ExpiresFirst: optionalTime(in.ExpiresFirst), ExpiresLast: optionalTime(in.ExpiresLast),
		Sweeps: st.Sweeps, Swept: st.Swept, LastSweep: optionalTime(st.LastSweep),
		Corrupt: st.Corrupt, Commits: st.Commits, Writes: st.Writes,
	}
	if st.LastSweepDuration > 0 {
		out.LastSweepDuration = st.LastSweepDuration.String()
	}
	if st.LastSweepError != nil {
		out.LastSweepError = st.LastSweepError.Error()
	}
	adminJSON(w, http.StatusOK, out)
}

func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := boltsession.ScanOptions{Owner: q.Get("owner"), HandlePrefix: q.Get("prefix"), Limit: adminDefaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > adminMaxLimit {
			adminError(w, http.StatusBadRequest, fmt.Errorf("limit must be a number from 1 to %d", adminMaxLimit))
			return
		}
		opts.Limit = n
	}
	if v := q.Get("expired"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			adminError(w, http.StatusBadRequest, errors.New("expired must be true or false"))
			return
		}
		opts.Expired = b
	}
	list := []adminSession{}
	err := a.store.Scan(r.Context(), opts, func(in boltsession.SessionInfo) error {
		e := adminSession{Handle: in.Handle, Owner: in.Owner, Created: in.Created.UTC(), Expires: in.Expires.UTC(), Size: in.Size, Expired: in.Expired}
		if in.MaxAge != 0 {
			e.MaxAge = in.MaxAge.String()
		}
		if in.Err != nil {
			e.Corrupt = in.Err.Error()
		}
		list = append(list, e)
		return nil
	})
	if err != nil {
		status := http.StatusInternalServerError
		if opts.HandlePrefix != "" && !isHex(opts.HandlePrefix) {
			status = http.StatusBadRequest
		}
		adminError(w, status, err)
		return
	}
	adminJSON(w, http.StatusOK, map[string]any{"sessions": list})
}

func (a *admin) deleteHandle(w http.ResponseWriter, r *http.Request) {
	handle := r.PathValue("handle")
	if len(handle) != 64 || !isHex(handle) {
		adminError(w, http.StatusBadRequest, fmt.Errorf("%q is not a session handle (64 hex characters)", handle))
		return
	}
	found := false
	err := a.store.Scan(r.Context(), boltsession.ScanOptions{HandlePrefix: handle, Expired: true, Limit: 1}, func(in boltsession.SessionInfo) error {
		found = in.Handle == handle
		return nil
	})
	if err == nil && !found {
		adminError(w, http.StatusNotFound, boltsession.ErrNotFound)
		return
	}
	if err == nil {
		err = a.store.DeleteHandle(r.Context(), handle)
	}
	if err != nil {
		adminError(w, http.StatusInternalServerError, err)
		return
	}
	adminJSON(w, http.StatusOK, map[string]int{"deleted": 1})
}

func (a *admin) deleteOwner(w http.ResponseWriter, r *http.Request) {
	owner := r.URL.Query().Get("owner")
	if owner == "" {
		adminError(w, http.StatusBadRequest, errors.New("DELETE /sessions needs ?owner=U (or DELETE /sessions/{handle})"))
		return
	}
	n, err := a.store.DestroyOwner(r.Context(), owner)
	if err != nil {
		adminError(w, http.StatusInternalServerError, err)
		return
	}
	adminJSON(w, http.StatusOK, map[string]int{"deleted": n})
}

func (a *admin) backup(w http.ResponseWriter, r *http.Request) {
	name := fmt.Sprintf("sessions-%s.db", time.Now().UTC().Format("20060102T150405Z"))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := &countingResponse{w: w}
	if _, err := a.store.WriteTo(cw); err != nil {
		if cw.n == 0 { // nothing sent yet: a proper error answer is still possible
			w.Header().Del("Content-Disposition")
			adminError(w, http.StatusInternalServerError, err)
			return
		}
		// The body is partly sent. Returning normally would end a chunked
		// body cleanly and the client would keep a truncated backup as if
		// it were whole; aborting the connection makes the failure visible.
		slog.Error("boltsession: admin backup failed", "path", a.store.Path(), "err", err)
		panic(http.ErrAbortHandler)
	}
}

// countingResponse counts the body bytes written.
type countingResponse struct {
	w http.ResponseWriter
	n int64
}

func (c *countingResponse) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a failed write is the client gone
}

func adminError(w http.ResponseWriter, status int, err error) {
	adminJSON(w, status, map[string]string{"error": err.Error()})
}

// isHex reports whether s is made of hex digits only.
func isHex(s string) bool {
	for i := range len(s) {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
			return false
		}
	}
	return true
}
