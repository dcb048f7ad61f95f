package sqlstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestEntryCountFold (SQLite, migration 00023): a Set of a new key leaves
// its namespace's row alone (entry_count moves only at a fold, every 32
// revisions), and the exact count (namespace_counts; Status, the namespace
// delete check, Export) stays exact through every path that adds or
// removes entries with rows pending: single and batch writes across fold
// boundaries, a transaction, deletes, an expiry swept, Clear, compaction
// of the pending rows (changes_count_compact), and a namespace deleted and
// created again under the same name while its rows were pending
// (namespaces_count_fold).
func TestEntryCountFold(t *testing.T) {
	ctx := t.Context()
	clock := storetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := openTest(t, testdb.SQLiteFile(t), WithClock(clock.Now), WithSweepInterval(-1),
		WithRetention(Retention{Changes: 10}))
	defer s.Close()
	w := s.eng.writer()
	a, b := storage.InNamespace("a"), storage.InNamespace("b")
	must(t, s.CreateNamespace(ctx, "a"))
	must(t, s.CreateNamespace(ctx, "b", storage.WithIndexes("n")))

	one := func(q string, args ...any) int64 {
		t.Helper()
		var n int64
		must(t, w.queryRows(ctx, q, args, func(r rowScanner) error { return r.Scan(&n) }))
		return n
	}
	raw := func(ns string) int64 { return one(`SELECT entry_count FROM namespaces WHERE name = ?`, ns) }
	pending := func() int64 {
		return one(`SELECT count(*) FROM changes WHERE revision > (SELECT counted_through FROM change_log_state WHERE id = 1)`)
	}
	check := func(step string) {
		t.Helper()
		var wrong int64
		must(t, w.queryRows(ctx, `SELECT count(*) FROM namespace_counts n
			WHERE n.entry_count <> (SELECT count(*) FROM entries e WHERE e.namespace_id = n.id)`, nil,
			func(r rowScanner) error { return r.Scan(&wrong) }))
		if wrong != 0 {
			t.Errorf("%s: %d namespaces whose count is wrong", step, wrong)
		}
		st, err := s.Status(ctx)
		must(t, err)
		// An unlinked namespace's entries not yet purged are no one's.
		if want := one(`SELECT count(*) FROM entries WHERE namespace_id IN (SELECT id FROM namespaces) AND (expires_at IS NULL OR expires_at > ?)`, micros(clock.Now())); st.Size != want {
			t.Errorf("%s: Status().Size %d, want %d", step, st.Size, want)
		}
		if p := pending(); p >= 32 {
			t.Errorf("%s: %d change rows after counted_through, want fewer than 32", step, p)
		}
	}
	check("created")

	// A Set of a new key whose revision is not a fold's writes no count.
	for one(`SELECT current FROM revision_counter`)%32 >= 30 {
		must(t, s.Set(ctx, fmt.Sprintf("pad%d", one(`SELECT current FROM revision_counter`)), 0, b))
	}
	before := raw("a")
	must(t, s.Set(ctx, "k0", 1, a))
	if got := raw("a"); got != before {
		t.Errorf("a Set of a new key moved entry_count from %d to %d (want it left to the fold)", before, got)
	}
	check("set")

	for i := 1; i < 70; i++ {
		must(t, s.Set(ctx, fmt.Sprintf("k%d", i), i, a))
	}
	check("sets across folds")
	items := make([]storage.Item, 100)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("m%03d", i), Value: map[string]int{"n": i}}
	}
	_, err := s.SetMany(ctx, items, b)
	must(t, err)
	check("batch")
	tx, err := s.Begin(ctx, storage.TxOptions{})
	must(t, err)
	for i := range 40 {
		must(t, tx.Set(ctx, fmt.Sprintf("t%d", i), i, a))
	}
	must(t, tx.Delete(ctx, "k3", a))
	must(t, tx.Commit(ctx))
	check("transaction")
	must(t, s.Delete(ctx, "k4", a))
	must(t, s.Set(ctx, "k5", 5, a)) // overwrite
	must(t, s.Set(ctx, "x1", 1, a, storage.ExpiresAt(clock.Now().Add(time.Second))))
	check("delete, overwrite, expiring")
	clock.Advance(2 * time.Second)
	_, err = s.Sweep(ctx)
	must(t, err)
	check("swept")

	// Compaction removes rows not yet folded.
	for i := range 5 {
		must(t, s.Set(ctx, fmt.Sprintf("c%d", i), i, a))
	}
	if pending() == 0 {
		t.Fatal("no rows pending before Compact")
	}
	_, err = s.Compact(ctx)
	must(t, err)
	check("compacted")

	// A namespace deleted with rows pending, and created again.
	for one(`SELECT current FROM revision_counter`)%32 >= 28 {
		must(t, s.Set(ctx, fmt.Sprintf("pad%d", one(`SELECT current FROM revision_counter`)), 0, a))
	}
	must(t, s.Set(ctx, "gone1", 1, b))
	must(t, s.Set(ctx, "gone2", 2, b))
	must(t, s.DeleteNamespace(ctx, "b", storage.Recursive()))
	must(t, s.CreateNamespace(ctx, "b"))
	check("namespace deleted and created again")
	if n, err := s.Count(ctx, b); err != nil || n != 0 {
		t.Errorf("Count of the new namespace: %d, %v; want 0", n, err)
	}
	must(t, s.Set(ctx, "new", 1, b))
	check("written after")

	must(t, s.Clear(ctx, a))
	check("clear")
	must(t, s.Set(ctx, "after-clear", 1, a))
	must(t, s.Clear(ctx))
	check("clear all")
	// The cleared namespace's entries go with the purge (unlink.go).
	waitPurged(t, s)
	if got := one(`SELECT count(*) FROM entries`); got != 0 {
		t.Errorf("entries after clear all: %d", got)
	}
}

// foldVersion is the SQLite schema version at which inserts leave
// entry_count to the fold (migration 00023).
const foldVersion = 23

// TestMigrationEntryCountFold takes a populated SQLite store with change
// rows pending (not folded into entry_count) down below version 23 and up
// again. Down folds them: every namespace's entry_count is its number of
// rows, the schema is that of a store migrated only that far, the rows are
// unchanged, and plain SQL inserts at that version move entry_count
// through its trigger; Up gives the schema of a new store, keeps the
// counts exact, and the store counts on from there.
func TestMigrationEntryCountFold(t *testing.T) {
	ctx := t.Context()
	dsn := testdb.SQLiteFile(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	fillIndexedAndPlain(t, s, 45)
	must(t, s.Delete(ctx, "k03", storage.InNamespace("ix")))
	must(t, s.Set(ctx, "k50", map[string]any{"age": 1}, storage.InNamespace("plain")))
	must(t, s.Close())

	path := strings.TrimPrefix(dsn, "sqlite:")
	db, m := sqliteMigrator(t, path)
	exact := func(step string) {
		t.Helper()
		var wrong int
		must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM namespaces n
			WHERE n.entry_count <> (SELECT count(*) FROM entries e WHERE e.namespace_id = n.id)`).Scan(&wrong))
		if wrong != 0 {
			t.Errorf("%s: %d namespaces whose entry_count is not their number of rows", step, wrong)
		}
	}
	var pending int
	must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM changes
		WHERE revision > (SELECT counted_through FROM change_log_state) AND new_entry = 1`).Scan(&pending))
	if pending == 0 {
		t.Fatal("no change rows pending: the test needs some")
	}
	latest := downChecked(t, db, m, foldVersion-1)
	exact("after Down")
	if _, err := db.ExecContext(ctx, `INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
		SELECT id, 'k60', jsonb('{"age": 3}'), jsonb('{}'), 1, 0, 0,
		       (SELECT current + 1 FROM revision_counter), (SELECT current + 1 FROM revision_counter) FROM namespaces WHERE name = 'plain'`); err != nil {
		t.Fatal(err)
	}
	exact("after an insert at the lower version")
	upChecked(t, db, m, latest)
	exact("after Up")
	must(t, db.Close())

	s = openTest(t, dsn, WithSweepInterval(-1))
	defer s.Close()
	for i := range 40 {
		must(t, s.Set(ctx, fmt.Sprintf("n%02d", i), map[string]any{"age": i}, storage.InNamespace("ix")))
	}
	checkInvariants(t, s)
}
