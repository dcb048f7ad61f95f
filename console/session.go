package console

import (
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
}

// sessions holds the signed-in sessions in memory: a restart signs
// everyone out. Safe for concurrent use.
type sessions struct {
	idle, max time.Duration
	limit     int
	now       func() time.Time

	mu sync.Mutex          // protects m
	m  map[string]*session // by session ID
}

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
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.limit {
		s.sweepLocked(now)
		if len(s.m) >= s.limit {
			return nil, errTooManySessions
		}
	}
	ss := &session{id: randomToken(), pkr: p, csrf: randomToken(), created: now, seen: now}
	s.m[ss.id] = ss
	return ss, nil
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
		delete(s.m, id)
		return nil, false
	}
	ss.seen = now
	return ss, true
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) > s.idle || now.Sub(ss.created) > s.max
}

func (s *sessions) sweepLocked(now time.Time) {
	for id, ss := range s.m {
		if s.expired(ss, now) {
			delete(s.m, id)
		}
	}
}

// tokensEqual compares two secrets in constant time; empty never matches.
func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
