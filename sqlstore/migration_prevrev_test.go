package sqlstore

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// prevRevisionVersion is the schema version whose upsert keeps the
// revision it overwrites in entries.prev_revision (migration 00022).
const prevRevisionVersion = 22

// TestMigrationEntriesPrevRevision checks the previous revision a single
// Set logs (changes.prev_revision, a watch event's previous revision) on
// PostgreSQL, where the upsert now takes it from the row it overwrites
// (migration 00022) instead of a probe of its own: an overwrite logs the
// entry's last revision, whichever statement wrote it last (a metadata
// change, a conditional write, a batch: the column they leave stale is
// never read); a new entry and an entry recreated over an expired row log
// none. The store is then taken down to 21 and up to 22 again, populated:
// the entries are unchanged and the same holds.
func TestMigrationEntriesPrevRevision(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	fillIndexedAndPlain(t, s, 8)
	db, m := pgMigrator(t, dsn)
	check := func(s *Store, step string) {
		t.Helper()
		for _, ns := range []string{"ix", "plain"} {
			in := storage.InNamespace(ns)
			set := func(key string, v any, opts ...storage.Option) storage.WriteResult {
				t.Helper()
				var w storage.WriteResult
				must(t, s.Set(ctx, key, v, append(opts, in, storage.Written(&w))...))
				return w
			}
			rev := func(key string) int64 {
				t.Helper()
				e, err := s.Get(ctx, key, in)
				must(t, err)
				return e.Revision
			}
			wantPrev := func(what string, w storage.WriteResult, want *int64) {
				t.Helper()
				var got sql.NullInt64
				if err := db.QueryRowContext(ctx, `SELECT prev_revision FROM changes WHERE revision = $1`, w.Revision).Scan(&got); err != nil {
					t.Fatalf("%s: %s/%s: %v", step, ns, what, err)
				}
				if want == nil && got.Valid {
					t.Fatalf("%s: %s/%s: logged previous revision %d, want none", step, ns, what, got.Int64)
				}
				if want != nil && (!got.Valid || got.Int64 != *want) {
					t.Fatalf("%s: %s/%s: logged previous revision %v, want %d", step, ns, what, got, *want)
				}
			}
			// An overwrite of an entry last written by a batch (SetMany),
			// by Set, by SetMetadata, by a conditional Set.
			for _, write := range []func(key string){
				func(string) {},
				func(key string) { set(key, map[string]any{"age": 1}) },
				func(key string) { must(t, s.SetMetadata(ctx, key, map[string]any{"team": "m"}, in)) },
				func(key string) { set(key, map[string]any{"age": 2}, storage.IfRevision(rev(key))) },
			} {
				write("k01")
				r := rev("k01")
				wantPrev("overwrite", set("k01", map[string]any{"age": 3}), &r)
			}
			wantPrev("new", set("new-"+strings.ReplaceAll(step, " ", "-"), map[string]any{"age": 4}), nil)
			// An expired entry is created anew: no previous revision.
			set("k02", map[string]any{"age": 5}, storage.WithTTL(time.Millisecond))
			time.Sleep(5 * time.Millisecond)
			wantPrev("over expired", set("k02", map[string]any{"age": 6}), nil)
			r := rev("k02")
			wantPrev("after expired", set("k02", map[string]any{"age": 7}), &r)
		}
	}
	check(s, "at 22")
	must(t, s.Close())
	entries := func() string {
		t.Helper()
		var sum string
		if err := db.QueryRowContext(ctx, `SELECT count(*) || ':' || md5(string_agg(namespace_id || key || value::text || metadata::text || version
			|| revision || create_revision || COALESCE(expires_at::text, ''), ',' ORDER BY namespace_id, key)) FROM entries`).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		return sum
	}
	before := entries()
	if _, err := m.DownTo(ctx, prevRevisionVersion-1); err != nil {
		t.Fatal(err)
	}
	if got := entries(); got != before {
		t.Fatalf("down to 21: entries %s, were %s", got, before)
	}
	if _, err := m.UpTo(ctx, prevRevisionVersion); err != nil {
		t.Fatal(err)
	}
	if got := entries(); got != before {
		t.Fatalf("up to 22: entries %s, were %s", got, before)
	}
	s = openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	check(s, "up again")
}
