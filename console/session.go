package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/mycelia-kernel/storage/security"
)

// session is one signed-in browser.
type session struct {
	id      string
	pkr     security.PKR
	csrf    string // the token every state-changing form of this session carries
	created time.Time
	seen    time.Time
	ended   chan struct{} // closed when the session is removed (signed out or found expired)
}

// sessions holds the signed-in sessions in memory: a restart signs
// everyone out. Safe for concurrent use.
type sessions struct {
	idle, max time.Duration
	limit     int
	perPK     int // sessions of one principal at most; 0: no bound of its own
	now       func() time.Time

	mu   sync.Mutex          // protects m, byPK and sweepAt
	m    map[string]*session // by session ID
	byPK map[string]int      // how many of m each principal holds, by PKR
	// sweepAt is the size of m at which create removes the ended
	// sessions (0: minSweepSessions).
	sweepAt int
}

// minSweepSessions is the fewest sessions held that make create remove the
// ended ones.
const minSweepSessions = 64

var errTooManySessions = errors.New("console: too many sessions are signed in; try again later")

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for p with fresh ID and CSRF token (never one the
// browser had before, so a planted ID is worthless).
func (s *sessions) create(p security.PKR) (*session, error) {
	now := s.now()
	pk := p.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byPK == nil {
		s.byPK = make(map[string]int)
	}
	if s.perPK > 0 && s.byPK[pk] >= s.perPK {
		s.sweepLocked(now)
		if s.byPK[pk] >= s.perPK {
			s.removeLocked(s.leastRecentLocked(pk))
		}
	}
	// Sessions that ended unused are removed here, at twice the sessions
	// left by the last sweep (at least minSweepSessions), so that m holds
	// about twice the live ones, not one per sign-in since the start up to
	// the limit, for a sweep's cost spread over as many sign-ins.
	if len(s.m) >= max(s.sweepAt, minSweepSessions) || len(s.m) >= s.limit {
		s.sweepLocked(now)
		s.sweepAt = 2 * len(s.m)
		if len(s.m) >= s.limit {
			return nil, errTooManySessions
		}
	}
	ss := &session{id: randomToken(), pkr: p, csrf: randomToken(), created: now, seen: now, ended: make(chan struct{})}
	s.m[ss.id] = ss
	s.byPK[pk]++
	return ss, nil
}

// leastRecentLocked is the session of principal pk used least recently;
// pk holds one at least.
func (s *sessions) leastRecentLocked(pk string) *session {
	var lru *session
	for _, ss := range s.m {
		if ss.pkr.String() == pk && (lru == nil || ss.seen.Before(lru.seen)) {
			lru = ss
		}
	}
	return lru
}

// get returns the live session with this ID and marks it used; an expired
// one is removed.
func (s *sessions) get(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return nil, false
	}
	if s.expired(ss, now) {
		s.removeLocked(ss)
		return nil, false
	}
	ss.seen = now
	return ss, true
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.m[id]; ok {
		s.removeLocked(ss)
	}
}

// removeLocked removes ss, which is in the map, and closes its ended.
func (s *sessions) removeLocked(ss *session) {
	delete(s.m, ss.id)
	if pk := ss.pkr.String(); s.byPK[pk] > 1 {
		s.byPK[pk]--
	} else {
		delete(s.byPK, pk)
	}
	close(ss.ended)
}

// errSessionEnded is the cause of a context of sessions.bind ended by its
// session's end.
var errSessionEnded = errors.New("console: the session ended")

// bind returns ctx, also ended (cause errSessionEnded) when ss ends: it
// is signed out, or it is past SessionMax or SessionIdle, as get would
// then find it. It does not count as use of the session. A stream (the
// live tail) runs in it, so that it cannot outlive the session that
// opened it.
func (s *sessions) bind(ctx context.Context, ss *session) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		for {
			s.mu.Lock()
			now := s.now()
			if s.m[ss.id] != ss || s.expired(ss, now) {
				if s.m[ss.id] == ss {
					s.removeLocked(ss)
				}
				s.mu.Unlock()
				cancel(errSessionEnded)
				return
			}
			// Just past the first instant expired reports true.
			wait := min(ss.seen.Add(s.idle).Sub(now), ss.created.Add(s.max).Sub(now)) + time.Millisecond
			s.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-ss.ended:
				t.Stop()
				cancel(errSessionEnded)
				return
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) > s.idle || now.Sub(ss.created) > s.max
}

func (s *sessions) sweepLocked(now time.Time) {
	for _, ss := range s.m {
		if s.expired(ss, now) {
			s.removeLocked(ss)
		}
	}
}

// tokensEqual compares two secrets in constant time; empty never matches.
func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
