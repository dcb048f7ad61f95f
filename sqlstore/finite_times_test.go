package sqlstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// finiteTimesVersion is the schema version that reads infinite expiries
// as what they mean and keeps entries' times finite (migration 00031).
const finiteTimesVersion = 31

// TestMigrationFiniteTimes gives a PostgreSQL store at schema version 30
// the infinite times a statement outside the engine can write: an expiry
// at 'infinity' and one at '-infinity', and an infinite expiry in the
// change log (which a KeepTTL overwrite of such an entry copied there).
// At 30 none of them could be read back (the driver's "cannot scan
// Infinity" text). After Up to 31 every read works: the entry at
// 'infinity' has no expiry, the one at '-infinity' is expired, Query,
// GetMany, History and Watch read them all; and a new infinite time is
// refused by the database itself. Down to 30 and Up again keep it so.
func TestMigrationFiniteTimes(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	for i, k := range []string{"a", "b", "c"} {
		must(t, s.Set(ctx, k, map[string]any{"n": i}, storage.WithTTL(time.Hour)))
	}
	must(t, s.Close())
	db, m := pgMigrator(t, dsn)
	if _, err := m.DownTo(ctx, finiteTimesVersion-1); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE entries SET expires_at = 'infinity' WHERE key = 'a'`,
		`UPDATE entries SET expires_at = '-infinity' WHERE key = 'b'`,
		`UPDATE changes SET expires_at = 'infinity' WHERE key = 'a'`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := m.UpTo(ctx, finiteTimesVersion); err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		s := openTest(t, dsn, WithSweepInterval(-1))
		defer func() { _ = s.Close() }()
		e, err := s.Get(ctx, "a")
		if err != nil || !e.ExpiresAt.IsZero() {
			t.Fatalf("%s: Get a: expires %v, %v; want no expiry", step, e.ExpiresAt, err)
		}
		if _, err := s.Get(ctx, "b"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: Get b (expired at -infinity): %v, want ErrNotFound", step, err)
		}
		if es, err := s.GetMany(ctx, []string{"a", "b", "c"}); err != nil || len(es.Entries) != 2 {
			t.Fatalf("%s: GetMany: %d entries, %v; want 2", step, len(es.Entries), err)
		}
		r, err := s.Query(ctx, storage.Gte("n", 0))
		if err != nil || len(r.Entries) != 2 {
			t.Fatalf("%s: Query: %d entries, %v; want 2", step, len(r.Entries), err)
		}
		h, err := s.History(ctx, "a")
		if err != nil || len(h) == 0 {
			t.Fatalf("%s: History a: %+v, %v", step, h, err)
		}
		for _, ev := range h {
			if !ev.ExpiresAt.IsZero() {
				t.Fatalf("%s: History a: revision %d expires %v, want no expiry", step, ev.Revision, ev.ExpiresAt)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n := 0
		for ev, err := range s.Watch(wctx, storage.FromRevision(1)) {
			if err != nil {
				t.Fatalf("%s: Watch after %d events: %v", step, n, err)
			}
			if n++; ev.Type == storage.EventPut && ev.Key == "c" {
				break
			}
		}
		must(t, s.Set(ctx, "a", map[string]any{"n": 9}, storage.KeepTTL()))
		if e, err := s.Get(ctx, "a"); err != nil || !e.ExpiresAt.IsZero() {
			t.Fatalf("%s: Get a after KeepTTL: expires %v, %v; want no expiry", step, e.ExpiresAt, err)
		}
		for _, col := range []string{"expires_at", "created_at", "updated_at"} {
			for _, v := range []string{"infinity", "-infinity"} {
				_, err := db.ExecContext(ctx, `UPDATE entries SET `+col+` = '`+v+`' WHERE key = 'c'`)
				if err == nil || !strings.Contains(err.Error(), "entries_times_finite") {
					t.Fatalf("%s: %s = %s written outside the engine: %v, want the check violated", step, col, v, err)
				}
			}
		}
	}
	check("up to 31")
	if _, err := m.DownTo(ctx, finiteTimesVersion-1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE entries SET expires_at = 'infinity' WHERE key = 'c'`); err != nil {
		t.Fatalf("at 30 the check is gone: %v", err)
	}
	if _, err := m.UpTo(ctx, finiteTimesVersion); err != nil {
		t.Fatal(err)
	}
	check("down and up again")
	s = openTest(t, dsn, WithSweepInterval(-1))
	defer func() { _ = s.Close() }()
	if e, err := s.Get(ctx, "c"); err != nil || !e.ExpiresAt.IsZero() {
		t.Fatalf("Get c, at infinity before the second Up: expires %v, %v; want no expiry", e.ExpiresAt, err)
	}
}
