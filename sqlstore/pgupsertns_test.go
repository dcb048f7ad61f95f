package sqlstore

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage/internal/pgdb"
)

// TestPGUpsertEntryNamespaceOnce: UpsertEntry looks its namespace up once
// (bench/results/2026-12-05-pgset.md) and still takes exactly one
// revision when the namespace exists, the one its entry and its change-log
// row carry, and none, writing nothing, when it does not.
func TestPGUpsertEntryNamespaceOnce(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	must(t, s.CreateNamespace(ctx, "a"))
	pool, err := pgxpool.New(ctx, strings.Replace(dsn, "pool_max_conns=8", "pool_max_conns=1", 1))
	must(t, err)
	t.Cleanup(pool.Close)
	q := pgdb.New(pool)
	last := func() (r int64) {
		must(t, pool.QueryRow(ctx, "SELECT COALESCE(pg_sequence_last_value('storage_revision'), 0)").Scan(&r))
		return r
	}
	count := func(sql string) (n int64) {
		must(t, pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	r0 := last()
	now := time.Now()
	for i, key := range []string{"k", "k"} { // a new key, then over it
		w, err := q.UpsertEntry(ctx, pgdb.UpsertEntryParams{Namespace: "a", Key: key, Value: []byte(`{"n":1}`), Now: now})
		must(t, err)
		if want := r0 + int64(i) + 1; w.Revision != want || last() != want {
			t.Fatalf("write %d: revision %d, sequence at %d, want %d", i, w.Revision, last(), want)
		}
		if w.Version != int64(i)+1 {
			t.Fatalf("write %d: version %d, want %d", i, w.Version, i+1)
		}
		if n := count("SELECT count(*) FROM changes WHERE kind = 'put' AND namespace = 'a' AND key = 'k' AND revision = " +
			strconv.FormatInt(w.Revision, 10)); n != 1 {
			t.Fatalf("write %d: %d change-log rows at revision %d, want 1", i, n, w.Revision)
		}
	}
	before, entries, changes := last(), count("SELECT count(*) FROM entries"), count("SELECT count(*) FROM changes")
	_, err = q.UpsertEntry(ctx, pgdb.UpsertEntryParams{Namespace: "missing", Key: "k", Value: []byte(`{}`), Now: now})
	if !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("UpsertEntry in a missing namespace: %v, want no row", err)
	}
	if last() != before || count("SELECT count(*) FROM entries") != entries || count("SELECT count(*) FROM changes") != changes {
		t.Fatalf("UpsertEntry in a missing namespace took a revision or wrote: sequence %d (was %d)", last(), before)
	}
	if n := count("SELECT entry_count FROM namespaces WHERE name = 'a'"); n != 1 {
		t.Fatalf("entry_count %d, want 1", n)
	}
}
