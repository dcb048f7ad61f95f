package console

import (
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/security"
)

// TestSessionExpiry: a session ends when idle too long or too old, and the
// number of sessions is bounded.
func TestSessionExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &sessions{idle: time.Minute, max: 3 * time.Minute, limit: 2, now: func() time.Time { return now }, m: map[string]*session{}}
	p, _ := security.NewPKR("p", nil)
	a, err := s.create(p)
	if err != nil {
		t.Fatal(err)
	}
	if a.id == a.csrf || len(a.id) < 40 {
		t.Fatalf("weak session: %+v", a)
	}
	for range 3 { // used every 50 s: alive until the absolute limit
		now = now.Add(50 * time.Second)
		if _, ok := s.get(a.id); !ok {
			t.Fatalf("session ended at %v while in use", now)
		}
	}
	now = now.Add(50 * time.Second) // 200 s > 3 min
	if _, ok := s.get(a.id); ok {
		t.Fatal("session outlived SessionMax")
	}
	b, _ := s.create(p)
	now = now.Add(61 * time.Second)
	if _, ok := s.get(b.id); ok {
		t.Fatal("session outlived SessionIdle")
	}
	if _, err := s.create(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.create(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.create(p); !errors.Is(err, errTooManySessions) {
		t.Fatalf("third session over a limit of 2: %v", err)
	}
	now = now.Add(2 * time.Minute) // both idle: swept by the next create
	if _, err := s.create(p); err != nil {
		t.Fatalf("create after expiry: %v", err)
	}
}

func TestNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "/console/namespaces",
		"/console/status":           "/console/status",
		"/console/entry?ns=a&key=b": "/console/entry?ns=a&key=b",
		"//evil.example/console/":   "/console/namespaces",
		"https://evil.example/":     "/console/namespaces",
		"/console/\\evil":           "/console/namespaces",
		"/console/../v1/storage/x":  "/console/namespaces",
	} {
		if got := next(in); got != want {
			t.Errorf("next(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadable(t *testing.T) {
	for in, want := range map[string]string{
		`"\u003cb\u003e \u0026"`: `"<b> &"`,
		`"\\u003c"`:              `"\\u003c"`,
		`"\\\u003c"`:             `"\\<"`,
		`"\u00e9 \n \" \u003C"`:  `"\u00e9 \n \" <"`,
		`{"a":"\u003e"}`:         `{"a":">"}`,
		`"trailing \u00`:         `"trailing \u00`,
	} {
		if got := readable([]byte(in)); got != want {
			t.Errorf("readable(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestEndedSessionsForgotten: a session that ended unused (SessionIdle)
// is forgotten, not kept until MaxSessions sign-ins have accumulated.
// Before, only a sign-in at the limit (or a request with that very
// cookie) removed ended sessions: a browser or script that signs in and
// never signs out left one per sign-in, 1,086 after the 15 minutes of
// bench/results/2026-12-06-longrun.md, up to 10,000.
func TestEndedSessionsForgotten(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &sessions{idle: time.Minute, max: time.Hour, limit: DefaultMaxSessions, now: func() time.Time { return now }, m: map[string]*session{}}
	p, _ := security.NewPKR("p", nil)
	// a sign-in every 10 s, each session used once: at most 7 are live
	most := 0
	for range 3000 {
		now = now.Add(10 * time.Second)
		if _, err := s.create(p); err != nil {
			t.Fatal(err)
		}
		most = max(most, len(s.m))
	}
	live := 0
	for _, ss := range s.m {
		if !s.expired(ss, now) {
			live++
		}
	}
	// about twice the live ones (at most 7) plus minSweepSessions (64),
	// written out so that the test builds on the code before the fix
	if want := 2*live + 64; most > want {
		t.Fatalf("the console held %d sessions, %d of them live; want at most %d", most, live, want)
	}
}
