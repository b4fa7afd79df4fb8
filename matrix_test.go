package boltsession

import (
	"fmt"
	"testing"
	"time"
)

// TestExpressSessionMatrix pins the save/touch/cookie decision for every
// combination of Resave, SaveUninitialized, Rolling and a persistent
// cookie, in the shape of express-session's measured matrix. Each cell is
// "store write / Set-Cookie".
//
// It matches express-session except in one deliberate place: when a touch
// or save moves the expiry and the cookie persists, the cookie is re-sent
// with the new Max-Age, so the browser's expiry never drifts from the
// server's (express-session leaves it stale; its issue #718). Touches are
// lazy, so an existing unmodified session is written only once TouchAfter
// has passed ("late") and not before ("early").
func TestExpressSessionMatrix(t *testing.T) {
	type row struct {
		resave, saveUninit, rolling, persist bool

		newUntouched, newModified, existingEarly, existingLate, existingModified string
	}
	rows := []row{
		{false, false, false, false, "-/no", "save/yes", "-/no", "touch/no", "save/no"},
		{false, false, false, true, "-/no", "save/yes", "-/no", "touch/yes", "save/yes"},
		{false, false, true, false, "-/no", "save/yes", "-/yes", "touch/yes", "save/yes"},
		{false, false, true, true, "-/no", "save/yes", "-/yes", "touch/yes", "save/yes"},
		{false, true, false, false, "save/yes", "save/yes", "-/no", "touch/no", "save/no"},
		{false, true, false, true, "save/yes", "save/yes", "-/no", "touch/yes", "save/yes"},
		{false, true, true, false, "save/yes", "save/yes", "-/yes", "touch/yes", "save/yes"},
		{false, true, true, true, "save/yes", "save/yes", "-/yes", "touch/yes", "save/yes"},
		{true, false, false, false, "-/no", "save/yes", "save/no", "save/no", "save/no"},
		{true, false, false, true, "-/no", "save/yes", "save/yes", "save/yes", "save/yes"},
		{true, false, true, false, "-/no", "save/yes", "save/yes", "save/yes", "save/yes"},
		{true, false, true, true, "-/no", "save/yes", "save/yes", "save/yes", "save/yes"},
		{true, true, false, false, "save/yes", "save/yes", "save/no", "save/no", "save/no"},
		{true, true, false, true, "save/yes", "save/yes", "save/yes", "save/yes", "save/yes"},
		{true, true, true, false, "save/yes", "save/yes", "save/yes", "save/yes", "save/yes"},
		{true, true, true, true, "save/yes", "save/yes", "save/yes", "save/yes", "save/yes"},
	}
	for _, rw := range rows {
		name := fmt.Sprintf("resave=%v/saveUninitialized=%v/rolling=%v/persist=%v", rw.resave, rw.saveUninit, rw.rolling, rw.persist)
		t.Run(name, func(t *testing.T) {
			persist := Off
			if rw.persist {
				persist = On
			}
			e := newEnv(t, Options{
				Resave: rw.resave, SaveUninitialized: rw.saveUninit, Rolling: rw.rolling,
				MaxAge: time.Hour, TouchAfter: 10 * time.Minute,
				Cookie: CookieOptions{Persist: persist},
			})
			// observe runs one request on a client and describes what the
			// store and the response did.
			observe := func(fresh bool, path string, advance time.Duration) string {
				t.Helper()
				c := e.client
				if fresh {
					c = e.newClient()
				} else {
					e.mustGet(c, "/incr") // an existing session, saved just now
				}
				e.clock.Advance(advance)
				e.store.resetCounts()
				r := e.get(c, path)
				if r.status != 200 {
					t.Fatalf("%s: status %d", path, r.status)
				}
				op := "-"
				switch {
				case e.store.saves.Load() == 1 && e.store.touches.Load() == 0:
					op = "save"
				case e.store.touches.Load() == 1 && e.store.saves.Load() == 0:
					op = "touch"
				case e.store.writes() != 0:
					op = fmt.Sprintf("saves=%d,touches=%d", e.store.saves.Load(), e.store.touches.Load())
				}
				cookie := "no"
				if r.cookie("sid") != nil {
					cookie = "yes"
				}
				return op + "/" + cookie
			}
			check := func(cell, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s: got %s, want %s", cell, got, want)
				}
			}
			check("new, untouched", observe(true, "/noop", 0), rw.newUntouched)
			check("new, modified", observe(true, "/incr", 0), rw.newModified)
			check("existing, unmodified, inside TouchAfter", observe(false, "/noop", time.Minute), rw.existingEarly)
			check("existing, unmodified, past TouchAfter", observe(false, "/noop", 11*time.Minute), rw.existingLate)
			check("existing, modified", observe(false, "/incr", time.Minute), rw.existingModified)
		})
	}
}
