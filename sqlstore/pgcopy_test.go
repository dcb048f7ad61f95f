package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/pgdb"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestCopyStatements: every batch statement has the row source the COPY
// path rewrites (so none silently keeps its arrays), and its rewrite
// takes parameters $1..$n with none missing.
func TestCopyStatements(t *testing.T) {
	for name, sql := range pgdb.BatchSQL {
		c := rewriteForCopy(sql)
		if c == nil {
			t.Errorf("%s: no unnest row source of the shape pgcopy.go rewrites", name)
			continue
		}
		if strings.Contains(c.sql, "unnest(") {
			t.Errorf("%s: the rewrite still reads arrays:\n%s", name, c.sql)
		}
		seen := map[string]bool{}
		for _, p := range paramRE.FindAllString(c.sql, -1) {
			seen[p] = true
		}
		for i := 1; i <= len(c.keep); i++ {
			if !seen[fmt.Sprint("$", i)] {
				t.Errorf("%s: the rewrite lacks $%d:\n%s", name, i, c.sql)
			}
		}
		if len(seen) != len(c.keep) {
			t.Errorf("%s: the rewrite takes %d parameters, keeps %d arguments", name, len(seen), len(c.keep))
		}
	}
	if rewriteForCopy("SELECT 1") != nil {
		t.Error("a statement without arrays was rewritten")
	}
	if c := rewriteForCopy(`SELECT cardinality($1::text[]), j.* FROM ROWS FROM (unnest($1::text[]), unnest($2::bigint[])) WITH ORDINALITY AS j (k, v, ord)`); c != nil {
		t.Errorf("a statement that uses an array elsewhere too was rewritten:\n%s", c.sql)
	}
}

// copyConfig is c with every PostgreSQL batch write of n items or more
// sent through COPY.
func copyConfig(c testConfig, n int) testConfig {
	base := c.opts
	return testConfig{name: c.name + "-copy", dsn: c.dsn, opts: func(t testing.TB, dsn string) []Option {
		var opts []Option
		if base != nil {
			opts = base(t, dsn)
		}
		return append(opts, withCopyMin(n))
	}}
}

// TestCopyConformance runs the conformance suite on PostgreSQL with every
// batch write, however small, sent through COPY: on the store and with
// every operation in a transaction of its own.
func TestCopyConformance(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("needs STORAGE_TEST_POSTGRES_DSN")
	}
	c := copyConfig(testConfig{name: "postgres", dsn: newPGSchema}, 1)
	t.Run("store", func(t *testing.T) { storetest.Run(t, harness(c)) })
	if !raceEnabled {
		// Under the race detector (CI), TestCopyPgBouncer runs COPY in
		// transactions (its exec mode).
		t.Run("in-tx", func(t *testing.T) { storetest.Run(t, inTxHarness(c)) })
	}
}

// TestCopyPgBouncer runs the conformance suite through PgBouncer in
// transaction pooling mode with every batch write sent through COPY, in
// each exec mode that works through the pooler. Under the race detector
// (CI) each mode runs one of the two harnesses, in turn: the six runs took
// 404 s of sqlstore's race run at load 15.
func TestCopyPgBouncer(t *testing.T) {
	for i, mode := range bouncerExecModes {
		c := copyConfig(bouncerConfig(mode), 1)
		t.Run(c.name, func(t *testing.T) {
			if !raceEnabled || i%2 == 0 {
				t.Run("store", func(t *testing.T) { storetest.Run(t, harness(c)) })
			}
			if !raceEnabled || i%2 == 1 {
				t.Run("in-tx", func(t *testing.T) { storetest.Run(t, inTxHarness(c)) })
			}
		})
	}
}

// TestCopySameAsArrays writes the same large batches (5000 items and
// more: new keys, overwrites of live and expired keys with and without
// metadata, kept expiries, revision conditions that hold and fail,
// NoOverwrite, MustExist, an aborted Atomic batch, two batches in one
// transaction, restores in each conflict mode) to two PostgreSQL stores
// with the same clock, one through the arrays and one through COPY, and
// compares every per-key result (version, revision, error) and, at the
// end, every row of entries, changes, index_entries and namespaces.
func TestCopySameAsArrays(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("needs STORAGE_TEST_POSTGRES_DSN")
	}
	ctx := t.Context()
	base := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var now atomic.Int64
	now.Store(base.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	type side struct {
		name string
		s    *Store
		db   *sql.DB
	}
	var sides []side
	for _, n := range []int{0, 1000} {
		dsn := newPGSchema(t)
		s := openTest(t, dsn, WithClock(clock), WithSweepInterval(-1), withCopyMin(n))
		t.Cleanup(func() { _ = s.Close() })
		db, _ := pgMigrator(t, dsn)
		sides = append(sides, side{fmt.Sprint("copyMin=", n), s, db})
	}
	arrays, copied := sides[0], sides[1]
	for _, sd := range sides {
		must(t, sd.s.CreateNamespace(ctx, "ix", storage.WithIndexes("age", "$metadata.team")))
	}
	const n = 5000
	key := func(i int) string { return fmt.Sprintf("k%05d", i) }
	value := func(i, round int) map[string]any {
		return map[string]any{"age": (i + round) % 7, "other": i, "s": strings.Repeat("x", i%50), "tab": "a\tb\n\\\"é"}
	}
	step := 0
	var copiedBatches [2]int64 // COPY statements each side sent (the test runs alone)
	// both runs one batch on each side and compares the results.
	both := func(what string, run func(s storage.Store) (storage.BatchResult, error)) storage.BatchResult {
		t.Helper()
		step++
		var got [2]storage.BatchResult
		var errs [2]error
		for i, sd := range sides {
			before := copyBatches.Load()
			got[i], errs[i] = run(sd.s)
			copiedBatches[i] += copyBatches.Load() - before
		}
		if fmt.Sprint(errs[0]) != fmt.Sprint(errs[1]) {
			t.Fatalf("%s: error %v (arrays) vs %v (COPY)", what, errs[0], errs[1])
		}
		a, c := got[0].Results, got[1].Results
		if len(a) != len(c) {
			t.Fatalf("%s: %d results (arrays) vs %d (COPY)", what, len(a), len(c))
		}
		for i := range a {
			if a[i].Key != c[i].Key || a[i].Version != c[i].Version || a[i].Revision != c[i].Revision || fmt.Sprint(a[i].Err) != fmt.Sprint(c[i].Err) {
				t.Fatalf("%s: result %d: %+v (arrays) vs %+v (COPY)", what, i, a[i], c[i])
			}
		}
		return got[0]
	}
	in := storage.InNamespace("ix")

	// New keys, a key given twice, some with metadata, some expiring.
	items := make([]storage.Item, 0, n+1)
	for i := range n {
		it := storage.Item{Key: key(i), Value: value(i, 0)}
		if i%3 == 0 {
			it.Metadata = map[string]any{"team": fmt.Sprint("t", i%4)}
		}
		if i%5 == 0 {
			it.TTL = time.Hour
		}
		items = append(items, it)
	}
	items = append(items, storage.Item{Key: key(7), Value: value(7, 9)})
	first := both("new keys", func(s storage.Store) (storage.BatchResult, error) { return s.SetMany(ctx, items, in) })
	if !first.OK() {
		t.Fatalf("new keys: %v", first.Err())
	}
	// Into a namespace that does not exist yet, without metadata.
	both("new namespace", func(s storage.Store) (storage.BatchResult, error) {
		return s.SetMany(ctx, items[:n], storage.InNamespace("fresh"))
	})

	// Two hours on: the expiring keys are expired. Overwrites and new
	// keys, revision conditions that hold and fail, kept expiries.
	now.Add(int64(2 * time.Hour))
	items = items[:0]
	for i := range n + 500 {
		it := storage.Item{Key: key(i), Value: value(i, 1)}
		switch {
		case i < n && i%11 == 0:
			it.IfRevision = first.Results[i].Revision
		case i < n && i%13 == 0:
			it.IfRevision = first.Results[i].Revision + 1
		}
		if i%7 == 0 && it.IfRevision == 0 {
			it.KeepTTL = true
		}
		if i%4 == 0 {
			it.Metadata = map[string]any{"team": fmt.Sprint("u", i%3)}
		}
		items = append(items, it)
	}
	res := both("overwrites", func(s storage.Store) (storage.BatchResult, error) { return s.SetMany(ctx, items, in) })
	if res.OK() {
		t.Fatal("overwrites: no condition failed")
	}
	// Without conditions, expiring in a day.
	both("plain overwrites", func(s storage.Store) (storage.BatchResult, error) {
		plain := slices.Clone(items)
		for i := range plain {
			plain[i].IfRevision, plain[i].KeepTTL = 0, false
		}
		return s.SetMany(ctx, plain, in, storage.WithTTL(24*time.Hour))
	})
	// Create-only over half existing keys; replace-only over half missing.
	shifted := make([]storage.Item, n)
	for i := range shifted {
		shifted[i] = storage.Item{Key: key(i + n/2 + 500), Value: value(i, 2), Metadata: map[string]any{"team": "c"}}
	}
	both("NoOverwrite", func(s storage.Store) (storage.BatchResult, error) {
		return s.SetMany(ctx, shifted, in, storage.NoOverwrite())
	})
	for i := range shifted {
		shifted[i].Key = key(i + n)
	}
	both("MustExist", func(s storage.Store) (storage.BatchResult, error) {
		return s.SetMany(ctx, shifted, in, storage.MustExist())
	})
	// An atomic batch with one failing condition writes nothing.
	atomicItems := slices.Clone(items[:n])
	for i := range atomicItems {
		atomicItems[i].IfRevision, atomicItems[i].KeepTTL = 0, false
	}
	atomicItems[n-1].IfRevision = 1 << 40
	both("Atomic", func(s storage.Store) (storage.BatchResult, error) {
		return s.SetMany(ctx, atomicItems, in, storage.Atomic())
	})
	// Two large batches in one transaction: the second empties the table.
	now.Add(int64(time.Minute))
	both("in a transaction", func(s storage.Store) (storage.BatchResult, error) {
		tx, err := s.Begin(ctx, storage.TxOptions{})
		if err != nil {
			return storage.BatchResult{}, err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		r1, err := tx.SetMany(ctx, atomicItems[:n/2], in)
		if err != nil || !r1.OK() {
			return r1, errors.Join(err, r1.Err())
		}
		r2, err := tx.SetMany(ctx, atomicItems[n/2:n-1], in, storage.WithMetadata(map[string]any{"team": "tx"}))
		if err != nil {
			return r2, err
		}
		r1.Results = append(r1.Results, r2.Results...)
		return r1, tx.Commit(ctx)
	})

	// Restores of the first side's export into a namespace of their own,
	// in each conflict mode.
	var recs []Record
	must(t, arrays.s.Export(ctx, ExportOptions{}, func(NamespaceRecord) error { return nil }, func(r Record) error {
		if r.Namespace == "ix" {
			r.Namespace = "restored"
			recs = append(recs, r)
		}
		return nil
	}))
	if len(recs) < n {
		t.Fatalf("exported %d records", len(recs))
	}
	for _, mode := range []ConflictMode{ConflictFail, ConflictSkip, ConflictOverwrite} {
		batch := slices.Clone(recs)
		if mode != ConflictFail {
			for i := range batch {
				if i%2 == 0 {
					batch[i].Value = json.RawMessage(fmt.Sprintf(`{"age":%d,"r":%d}`, i%7, mode))
					batch[i].Version++
				}
			}
		}
		var rr [2]RestoreResult
		var errs [2]error
		for i, sd := range sides {
			rr[i], errs[i] = sd.s.Restore(ctx, batch, mode)
		}
		if rr[0] != rr[1] || fmt.Sprint(errs[0]) != fmt.Sprint(errs[1]) {
			t.Fatalf("restore %v: %+v %v (arrays) vs %+v %v (COPY)", mode, rr[0], errs[0], rr[1], errs[1])
		}
	}

	// Every row, on both sides.
	for _, q := range []string{
		`SELECT row_to_json(t)::text FROM entries t ORDER BY namespace_id, key`,
		`SELECT row_to_json(t)::text FROM changes t ORDER BY revision`,
		`SELECT row_to_json(t)::text FROM index_entries t ORDER BY 1`,
		// (the default namespace's creation time is the migration's)
		`SELECT row_to_json(t)::text FROM (SELECT id, name, owner, metadata, entry_count, indexes, revision,
		    CASE WHEN name <> 'default' THEN created_at END AS created_at FROM namespaces) t ORDER BY id`,
	} {
		var rows [2][]string
		for i, sd := range sides {
			r, err := sd.db.QueryContext(ctx, q)
			must(t, err)
			for r.Next() {
				var s string
				must(t, r.Scan(&s))
				rows[i] = append(rows[i], s)
			}
			must(t, r.Err())
			_ = r.Close()
		}
		if len(rows[0]) < n && !strings.Contains(q, "namespaces") {
			t.Errorf("%s: only %d rows", q, len(rows[0]))
		}
		if len(rows[0]) != len(rows[1]) {
			t.Errorf("%s: %d rows (arrays) vs %d (COPY)", q, len(rows[0]), len(rows[1]))
			continue
		}
		for i := range rows[0] {
			if rows[0][i] != rows[1][i] {
				t.Errorf("%s: row %d:\n%s (arrays)\n%s (COPY)", q, i, rows[0][i], rows[1][i])
				break
			}
		}
	}
	// The COPY side did go through COPY.
	if copiedBatches[0] != 0 || copiedBatches[1] < int64(step) {
		t.Errorf("batches sent with COPY: %d (arrays), %d (COPY) of %d steps", copiedBatches[0], copiedBatches[1], step)
	}
	checkInvariants(t, arrays.s)
	checkInvariants(t, copied.s)
}

// TestCopyCancelled ends SetMany batches sent through COPY at deadlines
// spread over their run (before, during and after the COPY): each either
// fails with the context's error and writes nothing, or writes every
// item; the store takes the same batch afterwards.
func TestCopyCancelled(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("needs STORAGE_TEST_POSTGRES_DSN")
	}
	s := openTest(t, newPGSchema(t), WithSweepInterval(-1), withCopyMin(1))
	t.Cleanup(func() { _ = s.Close() })
	const n = 3000
	items := make([]storage.Item, n)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%05d", i), Value: map[string]any{"i": i, "pad": strings.Repeat("p", 200)}}
	}
	var failed, done, afterCopy int
	for i, d := range []time.Duration{0, 100 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
		5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
		300 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 10 * time.Second} {
		in := storage.InNamespace(fmt.Sprint("n", i))
		ctx, cancel := context.WithTimeout(t.Context(), d)
		before := copyBatches.Load()
		res, err := s.SetMany(ctx, items, in)
		cancel()
		copied := copyBatches.Load() > before
		got, cerr := s.Count(t.Context(), in)
		must(t, cerr)
		switch {
		case err == nil && res.OK() && got == n:
			done++
		case err != nil && errors.Is(err, context.DeadlineExceeded) && got == 0:
			failed++
			if copied {
				afterCopy++
			}
		default:
			t.Fatalf("deadline %v: SetMany %v (%v), %d of %d written", d, err, res.Err(), got, n)
		}
		if r, err := s.SetMany(t.Context(), items, in); err != nil || !r.OK() {
			t.Fatalf("deadline %v: the batch again: %v %v", d, err, r.Err())
		}
	}
	t.Logf("%d batches failed with the deadline (%d after their COPY), %d were written", failed, afterCopy, done)
	if failed == 0 || done == 0 {
		t.Errorf("want both outcomes: %d failed, %d written", failed, done)
	}
}
