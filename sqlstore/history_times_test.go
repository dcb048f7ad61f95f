package sqlstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/schema"
	"github.com/mycelia-kernel/storage/storetest"
)

// times is what a history check expects of CreatedAt and ExpiresAt.
type times struct{ created, expires time.Time }

func (w times) String() string {
	return fmt.Sprintf("created %s expires %s", w.created.Format(time.RFC3339Nano), w.expires.Format(time.RFC3339Nano))
}

// TestHistoryTimes: Get at a past revision and History report the
// CreatedAt and ExpiresAt the entry had at each revision, through every
// write path that logs a put or a metadata change (Set with and without a
// TTL, KeepTTL, SetMetadata, SetMany, a create-only write, a transaction,
// a re-creation after a delete, Restore), on every configuration.
func TestHistoryTimes(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			clock := storetest.NewClock(t0)
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			ns := storage.InNamespace("h")
			want := map[int64]times{} // revision -> the key's times then
			step := func(w times) {
				t.Helper()
				want[head(t, s)] = w
				clock.Advance(time.Minute)
			}

			must(t, s.Set(ctx, "k", 1, ns, storage.WithTTL(time.Hour)))
			step(times{t0, t0.Add(time.Hour)})
			must(t, s.Set(ctx, "k", 2, ns, storage.KeepTTL()))
			step(times{t0, t0.Add(time.Hour)})
			t2 := clock.Now()
			must(t, s.Set(ctx, "k", 3, ns, storage.WithTTL(2*time.Hour)))
			step(times{t0, t2.Add(2 * time.Hour)})
			must(t, s.SetMetadata(ctx, "k", map[string]any{"m": 1}, ns))
			step(times{t0, t2.Add(2 * time.Hour)})
			t4 := clock.Now()
			if _, err := s.SetMany(ctx, []storage.Item{{Key: "k", Value: 4, ExpiresAt: t4.Add(3 * time.Hour)}}, ns); err != nil {
				t.Fatal(err)
			}
			step(times{t0, t4.Add(3 * time.Hour)})
			must(t, s.Set(ctx, "k", 5, ns)) // no TTL: the expiry goes
			step(times{t0, time.Time{}})
			must(t, s.Delete(ctx, "k", ns))
			clock.Advance(time.Minute)
			t7 := clock.Now()
			must(t, s.Set(ctx, "k", 6, ns, storage.NoOverwrite(), storage.WithTTL(time.Hour)))
			step(times{t7, t7.Add(time.Hour)})
			t8 := clock.Now()
			tx, err := s.Begin(ctx, storage.TxOptions{})
			must(t, err)
			if _, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 7, TTL: 30 * time.Minute}}, ns); err != nil {
				t.Fatal(err)
			}
			must(t, tx.SetMetadata(ctx, "k", map[string]any{"m": 2}, ns))
			must(t, tx.Commit(ctx))
			step(times{t7, t8.Add(30 * time.Minute)})
			// An expiry that passed, then a write: a new life.
			clock.Advance(time.Hour)
			t9 := clock.Now()
			if _, err := s.SetMany(ctx, []storage.Item{{Key: "k", Value: 8}}, ns); err != nil {
				t.Fatal(err)
			}
			step(times{t9, time.Time{}})

			evs, err := s.History(ctx, "k", ns)
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, ev := range evs {
				w, ok := want[ev.Revision]
				switch {
				case ev.Type == storage.EventDelete:
					if !ev.CreatedAt.IsZero() || !ev.ExpiresAt.IsZero() {
						t.Errorf("delete event at %d: %+v, want zero times", ev.Revision, ev)
					}
					continue
				case !ok:
					continue // the transaction's SetMany, before its SetMetadata
				}
				seen++
				if !ev.CreatedAt.Equal(w.created) || !ev.ExpiresAt.Equal(w.expires) {
					t.Errorf("History %s@%d: created %s expires %s; want %s", ev.Type, ev.Revision, ev.CreatedAt, ev.ExpiresAt, w)
				}
				e, err := s.Get(ctx, "k", ns, storage.AtRevision(ev.Revision))
				if err != nil {
					t.Fatalf("Get at %d: %v", ev.Revision, err)
				}
				if !e.CreatedAt.Equal(w.created) || !e.ExpiresAt.Equal(w.expires) {
					t.Errorf("Get at %d: created %s expires %s; want %s", ev.Revision, e.CreatedAt, e.ExpiresAt, w)
				}
			}
			if seen != len(want) {
				t.Errorf("History matched %d of %d revisions: %+v", seen, len(want), evs)
			}

			// Restore logs the record's times.
			created, expires := t0.Add(-24*time.Hour), clock.Now().Add(5*time.Hour)
			rec := Record{Namespace: "h", Key: "imported", Value: json.RawMessage(`1`), Metadata: json.RawMessage(`{}`), Version: 4,
				CreatedAt: created, UpdatedAt: t0, ExpiresAt: expires}
			if _, err := s.Restore(ctx, []Record{rec}, ConflictOverwrite); err != nil {
				t.Fatal(err)
			}
			evs, err = s.History(ctx, "imported", ns)
			if err != nil || len(evs) != 1 {
				t.Fatalf("History of the import: %+v, %v", evs, err)
			}
			if !evs[0].CreatedAt.Equal(created) || !evs[0].ExpiresAt.Equal(expires) {
				t.Errorf("import's put: created %s expires %s; want %s %s", evs[0].CreatedAt, evs[0].ExpiresAt, created, expires)
			}
		})
	}
}

// TestMigrationChangeTimes: a store with history at schema version 11
// opens at the current version; the changes logged before report zero
// CreatedAt and ExpiresAt (unknown), the changes after report the
// entry's; Down to 11 drops the columns and a write there still logs.
func TestMigrationChangeTimes(t *testing.T) {
	for _, c := range []testConfig{{name: "sqlite-file", dsn: testdb.SQLiteFile}, {name: "postgres", dsn: newPGSchema}} {
		t.Run(c.name, func(t *testing.T) { testMigrationChangeTimes(t, c) })
	}
}

func testMigrationChangeTimes(t *testing.T, c testConfig) {
	ctx := t.Context()
	dsn := c.dsn(t)
	migrator := func(db *sql.DB) *schema.Migrator {
		t.Helper()
		d, opts := schema.Postgres, []schema.Option(nil)
		if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
			d, opts = schema.SQLite, []schema.Option{schema.WithSQLiteFile(path)}
		}
		m, err := schema.NewMigrator(d, db, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var db *sql.DB
	pg := !strings.HasPrefix(dsn, "sqlite:")
	if pg {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		db = stdlib.OpenDBFromPool(pool)
	} else {
		var err error
		if db, err = sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite:")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := migrator(db).UpTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// A namespace and an entry with an expiry, logged as version 11 logs
	// them (SQLite's trigger; PostgreSQL's statements, here by hand).
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	expires := time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)
	if pg {
		exec(`INSERT INTO namespaces (name, metadata, created_at) VALUES ('m', '{}', now())`)
		exec(fmt.Sprintf(`WITH r AS (SELECT storage_next_revision() AS r),
e AS (INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, expires_at, revision, create_revision)
      SELECT n.id, 'k', '1', '{}', 1, '%[1]s', '%[1]s', '%[2]s', r.r, r.r FROM namespaces n, r WHERE n.name = 'm' RETURNING revision)
INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, created_at)
SELECT e.revision, 'put', 'm', 'k', '1', '{}', 1, '%[1]s' FROM e`, created.Format(time.RFC3339), expires.Format(time.RFC3339)))
	} else {
		exec(`INSERT INTO namespaces (name, metadata, created_at) VALUES ('m', jsonb('{}'), 0)`)
		exec(fmt.Sprintf(`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, expires_at, revision, create_revision)
SELECT n.id, 'k', jsonb('1'), jsonb('{}'), 1, %[1]d, %[1]d, %[2]d, r.current + 1, r.current + 1
FROM namespaces n, revision_counter r WHERE n.name = 'm'`, created.UnixMicro(), expires.UnixMicro()))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, dsn, WithSweepInterval(-1))
	defer func() { _ = s.Close() }()
	ns := storage.InNamespace("m")
	old := head(t, s)
	must(t, s.Set(ctx, "k", 2, ns, storage.KeepTTL()))
	evs, err := s.History(ctx, "k", ns)
	if err != nil || len(evs) != 2 {
		t.Fatalf("History: %+v, %v", evs, err)
	}
	if evs[0].Revision != old || !evs[0].CreatedAt.IsZero() || !evs[0].ExpiresAt.IsZero() {
		t.Errorf("the put logged at version 11: %+v, want revision %d and zero times", evs[0], old)
	}
	if !evs[1].CreatedAt.Equal(created) || !evs[1].ExpiresAt.Equal(expires) {
		t.Errorf("the put after the migration: created %s expires %s; want %s %s", evs[1].CreatedAt, evs[1].ExpiresAt, created, expires)
	}
	if e, err := s.Get(ctx, "k", ns, storage.AtRevision(evs[1].Revision)); err != nil || !e.CreatedAt.Equal(created) || !e.ExpiresAt.Equal(expires) {
		t.Errorf("Get at %d: %+v, %v", evs[1].Revision, e, err)
	}

	// Down to 11: the columns go, and a write still logs its put.
	var down *sql.DB
	if b := s.Backend(); b.Pool != nil {
		down = stdlib.OpenDBFromPool(b.Pool)
		defer down.Close()
	} else {
		down = b.Writer
	}
	if _, err := migrator(down).DownTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	var cols int
	stmt := `SELECT count(*) FROM pragma_table_info('changes') WHERE name IN ('entry_created_at', 'expires_at')`
	if pg {
		stmt = `SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'changes'
AND column_name IN ('entry_created_at', 'expires_at')`
	}
	if err := down.QueryRowContext(ctx, stmt).Scan(&cols); err != nil || cols != 0 {
		t.Errorf("Down to 11 left %d columns, %v", cols, err)
	}
	if !pg {
		if _, err := down.ExecContext(ctx, `UPDATE entries SET value = jsonb('3'), revision = revision + 100 WHERE key = 'k'`); err != nil {
			t.Errorf("a write at version 11: %v", err)
		}
	}
	if _, err := migrator(down).Up(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestGetAtRevisionExpired: Get at a revision after the entry's expiry
// passed, before the sweeper removed it, is ErrNotFound, as Get was then;
// at the revisions before, the entry; on every configuration.
func TestGetAtRevisionExpired(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			clock := storetest.NewClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			must(t, s.Set(ctx, "x", 1, storage.WithTTL(time.Minute)))
			live := head(t, s)
			clock.Advance(30 * time.Second)
			must(t, s.Set(ctx, "other", 1))
			stillLive := head(t, s)
			clock.Advance(time.Minute)
			must(t, s.Set(ctx, "other", 2))
			expired := head(t, s)
			for r, want := range map[int64]bool{live: true, stillLive: true, expired: false} {
				e, err := s.Get(ctx, "x", storage.AtRevision(r))
				switch {
				case want && (err != nil || string(e.Value) != "1"):
					t.Errorf("Get at %d (live): %+v, %v", r, e, err)
				case !want && !errors.Is(err, storage.ErrNotFound):
					t.Errorf("Get at %d (expired, not swept): %+v, %v; want ErrNotFound", r, e, err)
				}
			}
			// Written again: the new entry from its revision on.
			must(t, s.Set(ctx, "x", 2))
			if e, err := s.Get(ctx, "x", storage.AtRevision(head(t, s))); err != nil || string(e.Value) != "2" {
				t.Errorf("Get at the rewrite: %+v, %v", e, err)
			}
		})
	}
}
