package boltsession

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// The save plan. At the commit point, at Session.Save, and when the handler
// returns after the commit point, the session turns what its request did
// into one plan: nothing, or one lifecycle step of the store (see Update).
// Manager.save executes it as one store call and settle records the
// outcome; the middleware then sends the cookie the outcome calls for.

// step is the lifecycle step a plan executes.
type step int8

const (
	stepNone    step = iota
	stepCreate       // a new session: create-if-absent (after ending plan.ends, for Destroy then Regenerate)
	stepMerge        // the per-key merge of the request's changes into the live record
	stepTouch        // move the live record's expiry (lazy touch, Session.Touch)
	stepReplace      // Regenerate: the new ID takes over the live record in one step
	stepDestroy      // Destroy: end the record, and whatever replaced it meanwhile
)

func (st step) String() string {
	return [...]string{"save", "create", "save", "touch", "regenerate", "destroy"}[st]
}

// plan is what one save of a request does to the store.
type plan struct {
	step step

	// u is the Update of a create, merge or replace, and the ID and
	// Expires of a touch.
	u Update

	// ends is the ID a destroy ends, or the one a create ends first
	// (Destroy, then Regenerate: the new session carries nothing of the
	// old one, so the two need not be one step; ending first means a
	// failure leaves the user signed out, never still signed in).
	ends string

	// lenient marks a step the request did not ask for (a lazy touch, a
	// Resave of unchanged values): if the session turns out to be gone,
	// the request is not failed for it.
	lenient bool
}

// saveReason says who asked for a save.
type saveReason int8

const (
	saveAtCommit saveReason = iota // the commit point: the cookie can still be sent
	saveAtReturn                   // handler return after the commit point
	saveExplicit                   // Session.Save
)

// errInsecure is what Save returns when the cookie could never be sent.
var errInsecure = errors.New("boltsession: session not saved: its cookie must be Secure and cannot be sent over plain HTTP")

// plan decides what the request does to the store, following the request
// flow of the package design; s.mu is held. An error means a Session.Save
// that cannot happen.
func (s *Session) plan(why saveReason, now time.Time) (plan, error) {
	m := s.m
	switch s.state {
	case destroyed:
		if s.ends == "" {
			return plan{}, nil // nothing was stored
		}
		return plan{step: stepDestroy, ends: s.ends}, nil
	case gone:
		if why == saveExplicit {
			return plan{}, s.gone
		}
		return plan{}, nil
	}
	if s.noSave {
		m.warnInsecure()
		if why == saveExplicit {
			return plan{}, errInsecure
		}
		return plan{}, nil
	}
	exp := m.expiry(s, now)

	if s.state != stored { // unsaved or renewed
		if s.state == unsaved && why != saveExplicit && !m.cfg.SaveUninitialized && !s.modified() {
			return plan{}, nil
		}
		if s.headersSent {
			// The cookie that would name the record cannot reach the
			// client any more: a record now would be an orphan. Changes
			// after the commit point were refused already (errLate).
			if why == saveExplicit {
				return plan{}, errLate
			}
			return plan{}, nil
		}
		s.ensureID()
		if s.id == "" {
			return plan{}, errors.New("boltsession: Options.GenID returned an empty ID")
		}
		if s.from == "" {
			return plan{step: stepCreate, u: s.createUpdate(exp), ends: s.ends}, nil
		}
		u := s.mergeUpdate(exp, false)
		u.ID, u.Create, u.Replaces = s.id, true, s.from
		return plan{step: stepReplace, u: u}, nil
	}

	modified := s.modified()
	if modified || (m.cfg.Resave && why == saveAtCommit) {
		return plan{step: stepMerge, u: s.mergeUpdate(exp, m.cfg.Resave), lenient: !modified}, nil
	}
	if why == saveAtReturn && !s.touchDue {
		return plan{}, nil // the commit point already touched as far as needed
	}
	moved := exp.Sub(s.expires)
	if s.touchDue || (moved > 0 && (m.cfg.touchAlways || moved > m.touchAfter(s))) {
		return plan{step: stepTouch, u: Update{ID: s.id, Expires: exp}, lenient: !s.touchDue}, nil
	}
	return plan{}, nil
}

// settle records the outcome err of executing p; s.mu is held. It returns
// the error the request gets, if any: nil also for a lenient step that
// found the session gone.
func (s *Session) settle(p *plan, err error) error {
	if err == nil {
		switch p.step {
		case stepDestroy:
			s.ends = ""
		case stepCreate, stepReplace:
			s.id = p.u.ID // a retry may have drawn another
			s.state = stored
			s.from, s.ends = "", ""
			s.saved(p.u.Expires)
			s.cookieDue = true
		case stepMerge, stepTouch:
			s.saved(p.u.Expires)
		}
		return nil
	}
	id := p.u.ID
	if p.step == stepReplace {
		id = p.u.Replaces
	}
	ended, replaced := errors.Is(err, ErrNotFound), errors.Is(err, ErrReplaced)
	if (!ended && !replaced) || p.step == stepCreate || p.step == stepDestroy {
		if p.lenient {
			// The request was served from the record and changed
			// nothing; failing it for a step it did not ask for (a full
			// disk refusing a lazy touch) would turn every read into an
			// error page. The session keeps its stored expiry, and a
			// later request tries again.
			s.m.log.Error("boltsession: could not extend a session's expiry; it keeps the current one",
				"session", logID(id), "error", err)
			return nil
		}
		return fmt.Errorf("boltsession: %s session %s: %w", p.step, logID(id), err)
	}
	// Another request ended or regenerated the session after this one
	// loaded it: nothing of this request can land any more.
	s.state = gone
	if replaced {
		s.gone = fmt.Errorf("boltsession: %s session %s: %w", p.step, logID(id), ErrReplaced)
	} else {
		s.gone = fmt.Errorf("boltsession: %s session %s: %w (%w)", p.step, logID(id), ErrEnded, ErrNotFound)
	}
	if p.lenient {
		s.m.log.Debug("boltsession: session gone before "+p.step.String()+"; nothing changed by the request was lost",
			"session", logID(id), "error", err)
		return nil
	}
	return s.gone
}

// modified reports whether the session differs from the stored record;
// s.mu is held. It allocates nothing, so the read path stays cheap.
func (s *Session) modified() bool {
	if s.cleared || s.ownerDirty || s.maxAgeDirty {
		return true
	}
	if !s.forked {
		return false
	}
	if len(s.values) != len(s.base) {
		return true
	}
	for k, v := range s.values {
		if b, ok := s.base[k]; !ok || !bytes.Equal(b, v) {
			return true
		}
	}
	return false
}

// createUpdate is the Update that creates the record of a new session;
// s.mu is held.
func (s *Session) createUpdate(expires time.Time) Update {
	owner, maxAge := s.owner, s.maxAge
	return Update{
		ID:      s.id,
		Create:  true,
		Created: s.created,
		Set:     s.current(),
		Expires: expires,
		Owner:   &owner,
		MaxAge:  &maxAge,
	}
}

// mergeUpdate is the per-key merge that brings the stored record up to
// date: only keys whose bytes changed are set, only keys that were present
// are deleted, owner and lifetime only when changed, so that what a
// concurrent request changed meanwhile survives. all (Resave) sets every
// value. A replace applies the same merge to the record it takes over.
// s.mu is held.
func (s *Session) mergeUpdate(expires time.Time, all bool) Update {
	u := Update{ID: s.id, Expires: expires, Clear: s.cleared}
	cur := s.current()
	if s.cleared || all {
		u.Set = cur
	} else {
		for k, v := range cur {
			if b, ok := s.base[k]; !ok || !bytes.Equal(b, v) {
				if u.Set == nil {
					u.Set = make(map[string][]byte)
				}
				u.Set[k] = v
			}
		}
	}
	if !s.cleared {
		for k := range s.base {
			if _, ok := cur[k]; !ok {
				u.Delete = append(u.Delete, k)
			}
		}
	}
	if s.ownerDirty {
		owner := s.owner
		u.Owner = &owner
	}
	if s.maxAgeDirty {
		maxAge := s.maxAge
		u.MaxAge = &maxAge
	}
	return u
}

// persistent reports whether the session's cookie carries a Max-Age:
// Cookie.Persist, or a lifetime of its own from SetMaxAge ("remember me"
// with browser-session cookies otherwise); s.mu is held.
func (s *Session) persistent() bool {
	return s.m.cfg.persist || s.maxAge > 0
}

// saved records that the store now holds the session as it is; s.mu is
// held. The saved value map becomes the base, and the next change forks
// again, so the map handed to the store is never written to afterwards.
func (s *Session) saved(expires time.Time) {
	if s.maxAgeDirty || (s.persistent() && !expires.Equal(s.expires)) {
		s.cookieDue = true // SetMaxAge can also switch the cookie between persistent and not
	}
	s.base = s.current()
	s.values = nil
	s.forked = false
	s.expires = expires
	s.cleared, s.ownerDirty, s.maxAgeDirty, s.touchDue = false, false, false, false
}
