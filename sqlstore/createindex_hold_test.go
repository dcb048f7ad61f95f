package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// holdSpan is one probe write: when it started and ended.
type holdSpan struct{ start, end time.Time }

// probeDuring writes keys of namespace "other" one after another, with a
// pause of 1 ms, while run runs, and returns run's start and end, its
// error, and the probe's writes.
func probeDuring(t *testing.T, s *Store, run func() error) (t0, t1 time.Time, spans []holdSpan, runErr error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			a := time.Now()
			err := s.Set(t.Context(), "p"+strconv.Itoa(i%100), i, storage.InNamespace("other"))
			b := time.Now()
			if err != nil {
				t.Errorf("probe Set: %v", err)
				return
			}
			mu.Lock()
			spans = append(spans, holdSpan{a, b})
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	})
	time.Sleep(50 * time.Millisecond)
	t0 = time.Now()
	runErr = run()
	t1 = time.Now()
	time.Sleep(20 * time.Millisecond)
	cancel()
	wg.Wait()
	return t0, t1, spans, runErr
}

// holdFigures are the probe writes that started and ended while [t0, t1]
// ran (none can while a transaction holds the writer from t0 to t1), and
// the longest of those that overlapped it.
func holdFigures(t0, t1 time.Time, spans []holdSpan) (inside int, longest time.Duration) {
	for _, sp := range spans {
		if sp.start.After(t0) && sp.end.Before(t1) {
			inside++
		}
		if sp.end.After(t0) && sp.start.Before(t1) {
			longest = max(longest, sp.end.Sub(sp.start))
		}
	}
	return inside, longest
}

// TestCreateIndexYieldsWriter: CreateIndex on a large namespace no longer
// holds, for its whole fill, what every other namespace's writes need:
// SQLite's one writer (1 s at 100k entries,
// bench/results/2026-12-04-writer-holds.md), PostgreSQL's store-wide
// revision lock (4.8 s at 100k entries). Another namespace's single Sets
// go on while it runs: several start and end during the build, where none
// could while one transaction held the writer or the lock from its start
// to its end (the count, not a time, so a loaded machine cannot fail it).
// Meanwhile writes to the namespace itself (updates of the indexed field,
// inserts, deletes) race the chunks; at the end index_entries holds
// exactly the rows of the entries, and a Query through the index gives
// what a scan of the entries gives.
// STORAGE_TEST_INDEX_HOLD_N sets the entries (default 12000, chunks of
// 250; with it, chunks of the default size).
func TestCreateIndexYieldsWriter(t *testing.T) {
	n := 12000
	if v := os.Getenv("STORAGE_TEST_INDEX_HOLD_N"); v != "" {
		n, _ = strconv.Atoi(v)
	} else {
		buildInChunks(t, 250)
	}
	for _, c := range fileConfigs {
		t.Run(c.name, func(t *testing.T) { testCreateIndexYieldsWriter(t, c, n) })
	}
}

func testCreateIndexYieldsWriter(t *testing.T, c testConfig, n int) {
	s := openTest(t, c.dsn(t), WithSweepInterval(-1))
	defer s.Close()
	ctx := t.Context()
	in := storage.InNamespace
	for i := 0; i < n; i += 2000 {
		items := make([]storage.Item, 0, 2000)
		for j := i; j < min(i+2000, n); j++ {
			items = append(items, storage.Item{Key: fmt.Sprintf("k%06d", j), Value: map[string]any{"v": j % 97, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}})
		}
		if _, err := s.SetMany(ctx, items, in("big")); err != nil {
			t.Fatal(err)
		}
	}
	must(t, s.Set(ctx, "p0", 0, in("other")))
	// Writes to the namespace being indexed, racing the chunks.
	wctx, wcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var writes int
	wg.Go(func() {
		for i := 0; wctx.Err() == nil; i++ {
			k := fmt.Sprintf("k%06d", rand.IntN(n+n/10))
			var err error
			switch i % 5 {
			case 0:
				err = s.Delete(wctx, k, in("big"))
				if errors.Is(err, storage.ErrNotFound) {
					err = nil
				}
			case 1:
				err = s.Set(wctx, k, map[string]any{"s": "no v " + strconv.Itoa(i)}, in("big"))
			default:
				err = s.Set(wctx, k, map[string]any{"v": rand.IntN(97), "s": "w" + strconv.Itoa(i)}, in("big"))
			}
			if err != nil && wctx.Err() == nil {
				t.Errorf("write to big: %v", err)
				return
			}
			writes++
			time.Sleep(time.Millisecond)
		}
	})
	t0, t1, spans, err := probeDuring(t, s, func() error { return s.CreateIndex(ctx, "big", "v") })
	wcancel()
	wg.Wait()
	if err != nil {
		t.Fatalf("CreateIndex: %v", err)
	}
	took := t1.Sub(t0)
	inside, longest := holdFigures(t0, t1, spans)
	t.Logf("CreateIndex over %d entries took %s; the other namespace's Sets: %d started and ended meanwhile, the longest %s; %d writes to the namespace raced it",
		n, took, inside, longest, writes)
	if inside < 3 {
		t.Errorf("CreateIndex held the other namespaces' writes: over %s, %d other writes started and ended (want at least 3), the longest waited %s", took, inside, longest)
	}
	exactIndexRows(t, s, "after the build")
	checkIndexes(t, s)
	if d := nsIndexes(t, s, "big"); !slices.Equal(d, []string{"v"}) {
		t.Errorf("declared %v, want [v]", d)
	}
	checkQueryByIndex(t, s, "big")
}

// buildInChunks makes CreateIndex build in chunks of n entries each (not
// sized by their time) until the test ends, and removes indexBuildHook
// then.
func buildInChunks(t *testing.T, n int) {
	c, target := indexBuildChunk, indexChunkTarget
	indexBuildChunk, indexChunkTarget = n, 0 // every chunk n entries, however long it takes
	t.Cleanup(func() { indexBuildChunk, indexChunkTarget, indexBuildHook, indexChunkHook = c, target, nil, nil })
}

// checkQueryByIndex: for every value of top-level field "v" in namespace
// ns, a Query through the index finds the keys a scan of the entries
// finds.
func checkQueryByIndex(t *testing.T, s *Store, ns string) {
	t.Helper()
	ctx := t.Context()
	in := storage.InNamespace
	want := map[float64][]string{}
	for e, err := range storage.QueryAll(ctx, s, storage.All(), in(ns)) {
		must(t, err)
		var doc map[string]any
		must(t, json.Unmarshal(e.Value, &doc))
		if v, ok := doc["v"].(float64); ok {
			want[v] = append(want[v], e.Key)
		}
	}
	for v, keys := range want {
		var got []string
		for e, err := range storage.QueryAll(ctx, s, storage.Eq("v", v), in(ns)) {
			must(t, err)
			got = append(got, e.Key)
		}
		if !slices.Equal(got, keys) {
			t.Errorf("Query(v = %v): %d entries, a scan finds %d", v, len(got), len(keys))
		}
	}
}

// exactIndexRows fails the test unless index_entries holds exactly the
// rows of the entries and the recorded fields (built or being built).
func exactIndexRows(t *testing.T, s *Store, step string) {
	t.Helper()
	if s.Dialect() == dialect.SQLite {
		if got, want := sqliteIndexRows(t, s, false), sqliteIndexRows(t, s, true); !slices.Equal(got, want) {
			t.Errorf("%s: index_entries has %d rows, want %d", step, len(got), len(want))
		}
		return
	}
	var missing, extra int64
	must(t, s.eng.writer().queryRows(t.Context(), `WITH want AS (
    SELECT r.* FROM entries e JOIN index_fields f ON f.namespace_id = e.namespace_id
    CROSS JOIN LATERAL index_rows(e.namespace_id, e.key, e.value, e.metadata, e.expires_at, f) r
)
SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM index_entries) m),
       (SELECT count(*) FROM (SELECT * FROM index_entries EXCEPT ALL SELECT * FROM want) x)`, nil,
		func(r rowScanner) error { return r.Scan(&missing, &extra) }))
	if missing != 0 || extra != 0 {
		t.Errorf("%s: index_entries lacks %d rows and holds %d stale ones", step, missing, extra)
	}
}

// TestCreateIndexBuildInterrupted: a chunked CreateIndex whose
// context ends, whose namespace is deleted, or that another CreateIndex
// of the same field overtakes between two chunks leaves nothing of
// itself: no declaration, no index_fields row, no index rows (the
// overtaking build's index is complete); a build's remains that its
// clean-up could not delete are taken over by the next CreateIndex of
// the field, and removed by Open (on PostgreSQL with the namespace's
// index_building flag, which such remains leave set).
func TestCreateIndexBuildInterrupted(t *testing.T) {
	buildInChunks(t, 100)
	for _, c := range fileConfigs {
		t.Run(c.name, func(t *testing.T) { testCreateIndexBuildInterrupted(t, c.dsn(t)) })
	}
}

func testCreateIndexBuildInterrupted(t *testing.T, dsn string) {
	s := openTest(t, dsn, WithSweepInterval(-1))
	ctx := t.Context()
	in := storage.InNamespace
	fill := func(ns string) {
		t.Helper()
		items := make([]storage.Item, 1000)
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("k%04d", i), Value: map[string]any{"v": i % 13}}
		}
		if _, err := s.SetMany(ctx, items, in(ns)); err != nil {
			t.Fatal(err)
		}
	}
	exact := func(step string) {
		t.Helper()
		var marks int64
		must(t, s.eng.writer().queryRows(ctx, "SELECT count(*) FROM index_fields WHERE field LIKE '$building:%'", nil,
			func(r rowScanner) error { return r.Scan(&marks) }))
		if marks != 0 {
			t.Errorf("%s: %d index_fields rows of builds left", step, marks)
		}
		if s.Dialect() == dialect.Postgres {
			var flagged int64
			must(t, s.eng.writer().queryRows(ctx, "SELECT count(*) FROM namespaces WHERE index_building", nil,
				func(r rowScanner) error { return r.Scan(&flagged) }))
			if flagged != 0 {
				t.Errorf("%s: %d namespaces flagged index_building", step, flagged)
			}
		}
		exactIndexRows(t, s, step)
		checkIndexes(t, s)
	}

	fill("a")
	cctx, cancel := context.WithCancel(ctx)
	indexBuildHook = func(chunk int) {
		if chunk == 3 {
			cancel()
		}
	}
	if err := s.CreateIndex(cctx, "a", "v"); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateIndex cancelled after 3 chunks: %v", err)
	}
	if d := nsIndexes(t, s, "a"); len(d) != 0 {
		t.Errorf("cancelled build declared %v", d)
	}
	exact("cancelled")

	indexBuildHook = func(chunk int) {
		if chunk == 3 {
			must(t, s.DeleteNamespace(ctx, "a", storage.Recursive()))
		}
	}
	if err := s.CreateIndex(ctx, "a", "v"); !errors.Is(err, storage.ErrNamespaceNotFound) {
		t.Errorf("CreateIndex whose namespace was deleted after 3 chunks: %v, want ErrNamespaceNotFound", err)
	}
	exact("namespace deleted")

	// A DeleteNamespace while a chunk is being filled: it waits for the
	// chunk (on PostgreSQL for the field's record the chunk holds), and no
	// row the chunk wrote stays.
	fill("a")
	indexBuildHook = nil
	var deleted sync.WaitGroup
	indexChunkHook = func(chunk int) {
		if chunk == 3 {
			deleted.Go(func() { must(t, s.DeleteNamespace(ctx, "a", storage.Recursive())) })
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := s.CreateIndex(ctx, "a", "v"); !errors.Is(err, storage.ErrNamespaceNotFound) && !errors.Is(err, storage.ErrTxConflict) {
		t.Errorf("CreateIndex whose namespace was deleted during a chunk: %v, want ErrNamespaceNotFound or ErrTxConflict", err)
	}
	deleted.Wait()
	indexChunkHook = nil
	var orphans int64
	must(t, s.eng.writer().queryRows(ctx, "SELECT count(*) FROM index_entries WHERE ix_ns NOT IN (SELECT id FROM namespaces)", nil,
		func(r rowScanner) error { return r.Scan(&orphans) }))
	if orphans != 0 {
		t.Errorf("namespace deleted during a chunk: %d index rows of no namespace", orphans)
	}
	exact("namespace deleted during a chunk")

	fill("b")
	var inner error
	indexBuildHook = func(chunk int) {
		if chunk == 3 {
			indexBuildHook = nil
			inner = s.CreateIndex(ctx, "b", "v")
		}
	}
	if err := s.CreateIndex(ctx, "b", "v"); !errors.Is(err, storage.ErrTxConflict) {
		t.Errorf("CreateIndex overtaken by another of the same field: %v, want ErrTxConflict", err)
	}
	if inner != nil {
		t.Errorf("the overtaking CreateIndex: %v", inner)
	}
	if d := nsIndexes(t, s, "b"); !slices.Equal(d, []string{"v"}) {
		t.Errorf("after the overtaking build: declared %v, want [v]", d)
	}
	exact("overtaken")
	res, err := s.Query(ctx, storage.Eq("v", 5), in("b"))
	if err != nil || len(res.Entries) != 77 {
		t.Errorf("Query by the built index: %d entries, %v; want 77", len(res.Entries), err)
	}

	// Remains of a build whose clean-up failed: the field's record under
	// its building spelling and some rows.
	leave := func(field string) {
		t.Helper()
		var nsID int64
		w := s.eng.writer()
		must(t, w.queryRows(ctx, "SELECT id FROM namespaces WHERE name = 'b'", nil, func(r rowScanner) error { return r.Scan(&nsID) }))
		_, err := w.exec(ctx, s.placeholders("UPDATE namespaces SET field_seq = field_seq + 1 WHERE id = ?"), nsID)
		must(t, err)
		if s.Dialect() == dialect.Postgres {
			_, err = w.exec(ctx, "INSERT INTO index_fields (namespace_id, field_id, field, col, tpath) SELECT $1, field_seq, $2, 0, '{w}' FROM namespaces WHERE id = $1",
				nsID, buildingPrefix+field)
			must(t, err)
			_, err = w.exec(ctx, "INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp) SELECT $1, field_seq, 4, 1, '', 'k0001', NULL FROM namespaces WHERE id = $1", nsID)
			must(t, err)
			_, err = w.exec(ctx, "UPDATE namespaces SET index_building = true WHERE id = $1", nsID)
			must(t, err)
		} else {
			_, err = w.exec(ctx, "INSERT INTO index_fields (namespace_id, field_id, field, col, path) SELECT ?, field_seq, ?, 0, '$.\"w\"' FROM namespaces WHERE id = ?",
				nsID, buildingPrefix+field, nsID)
			must(t, err)
			_, err = w.exec(ctx, "INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry) SELECT ?, field_seq, 4, 1, '', 'k0001', NULL, 1 FROM namespaces WHERE id = ?",
				nsID, nsID)
			must(t, err)
		}
		// The triggers keep the remains' rows until they go.
		must(t, s.Set(ctx, "k0002", map[string]any{"v": 1, "w": 2}, in("b")))
	}
	leave("w")
	must(t, s.CreateIndex(ctx, "b", "w"))
	exact("remains taken over")
	leave("x")
	must(t, s.Close())
	s = openTest(t, dsn, WithSweepInterval(-1))
	defer s.Close()
	exact("remains after Open")
}

// TestCreateIndexBuildRacesWrites: writes to the namespace between the
// chunks of a CreateIndex, behind and ahead of the fill (overwrites that
// change the indexed field, drop it or keep it and change the expiry
// only, deletes, inserts), and, on PostgreSQL, transactions that write
// several keys of the chunk being filled while it runs, leave the index
// exact: index_entries holds the rows of the entries, and a Query through
// the index gives what a scan gives.
func TestCreateIndexBuildRacesWrites(t *testing.T) {
	buildInChunks(t, 100)
	for _, c := range fileConfigs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			defer s.Close()
			ctx := t.Context()
			in := storage.InNamespace
			const n = 2000
			items := make([]storage.Item, n)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("k%05d", i), Value: map[string]any{"v": i % 7}}
			}
			_, err := s.SetMany(ctx, items, in("a"))
			must(t, err)
			key := func(i int) string { return fmt.Sprintf("k%05d", i) }
			indexBuildHook = func(chunk int) {
				done, next := chunk*indexBuildChunk-1, chunk*indexBuildChunk+5
				for _, i := range []int{done, next} {
					if i >= n {
						continue
					}
					must(t, s.Set(ctx, key(i), map[string]any{"v": 100 + chunk}, in("a")))
					must(t, s.Set(ctx, key(i-1), map[string]any{"other": chunk}, in("a")))
					must(t, s.Set(ctx, key(i-2), map[string]any{"v": (i - 2) % 7}, in("a"), storage.WithTTL(time.Hour)))
					if err := s.Delete(ctx, key(i-3), in("a")); err != nil && !errors.Is(err, storage.ErrNotFound) {
						t.Fatal(err)
					}
					must(t, s.Set(ctx, key(i)+"x", map[string]any{"v": chunk % 7}, in("a")))
				}
			}
			// Transactions that write keys across the fill's ranges, in
			// both orders, while it runs.
			wctx, wcancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for g := range 2 {
				wg.Go(func() {
					for i := 0; wctx.Err() == nil; i++ {
						a, b := rand.IntN(n), rand.IntN(n)
						if g == 1 {
							a, b = max(a, b), min(a, b)
						}
						err := func() error {
							tx, err := s.Begin(wctx, storage.TxOptions{})
							if err != nil {
								return err
							}
							defer func() { _ = tx.Rollback(context.WithoutCancel(wctx)) }()
							if err := tx.Set(wctx, key(a), map[string]any{"v": rand.IntN(7)}, in("a")); err != nil {
								return err
							}
							if err := tx.Set(wctx, key(b), map[string]any{"v": rand.IntN(7)}, in("a")); err != nil {
								return err
							}
							return tx.Commit(wctx)
						}()
						if err != nil && wctx.Err() == nil && !errors.Is(err, storage.ErrTxConflict) {
							t.Errorf("transaction: %v", err)
							return
						}
					}
				})
			}
			err = s.CreateIndex(ctx, "a", "v")
			wcancel()
			wg.Wait()
			must(t, err)
			exactIndexRows(t, s, "after the build")
			checkIndexes(t, s)
			checkQueryByIndex(t, s, "a")
		})
	}
}

// TestMigrationIndexBuilding: migration 00032's Down drops
// namespaces.index_building and gives the triggers back their bodies of
// 00024, which keep a declared index exact; Up again, and a CreateIndex
// built in chunks, keep it exact too (PostgreSQL).
func TestMigrationIndexBuilding(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	in := storage.InNamespace
	must(t, s.CreateNamespace(ctx, "a", storage.WithIndexes("v")))
	write := func(round int) {
		t.Helper()
		for i := range 50 {
			must(t, s.Set(ctx, fmt.Sprintf("k%03d", i), map[string]any{"v": (i + round) % 7, "w": i % 3}, in("a")))
		}
		if err := s.Delete(ctx, fmt.Sprintf("k%03d", round), in("a")); err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
	}
	write(0)
	_, m := pgMigrator(t, dsn)
	if _, err := m.DownTo(ctx, 31); err != nil {
		t.Fatalf("Down to 31: %v", err)
	}
	var cols int64
	must(t, s.eng.writer().queryRows(ctx, "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'namespaces' AND column_name = 'index_building'", nil,
		func(r rowScanner) error { return r.Scan(&cols) }))
	if cols != 0 {
		t.Errorf("after Down to 31: namespaces.index_building still there")
	}
	write(1)
	exactIndexRows(t, s, "at 31")
	if _, err := m.UpTo(ctx, 32); err != nil {
		t.Fatalf("Up to 32: %v", err)
	}
	must(t, s.Close())
	s = openTest(t, dsn, WithSweepInterval(-1))
	defer s.Close()
	write(2)
	buildInChunks(t, 10)
	indexBuildHook = func(chunk int) { write(chunk + 3) }
	must(t, s.CreateIndex(ctx, "a", "w"))
	exactIndexRows(t, s, "at 32")
	checkIndexes(t, s)
}

// TestFailedBuildCleanupYields (SQLite): the clean-up of a build that
// failed deletes the rows it built a chunk at a time, the writer going
// back to other writes between them, as DropIndex does. Before, one
// transaction deleted every row the build had made, holding the one
// writer as long, and a write to another namespace waited for all of it
// (a build of a random-order field at 1M entries fails past storeserver's
// 30 s timeout).
func TestFailedBuildCleanupYields(t *testing.T) {
	entries := 200_000
	if raceEnabled {
		entries = 10_000
	}
	ctx := t.Context()
	s := openTest(t, "sqlite:"+t.TempDir()+"/cleanup.db")
	defer s.Close()
	items := make([]storage.Item, 1000)
	for b := 0; b < entries; b += len(items) {
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("k%07d", b+i), Value: map[string]any{"v": (b + i) * 7919 % entries}}
		}
		res, err := s.SetMany(ctx, items, storage.InNamespace("big"))
		must(t, err)
		must(t, res.Err())
	}
	alone := time.Duration(0)
	for range 5 {
		start := time.Now()
		must(t, s.Set(ctx, "b", 1, storage.InNamespace("other")))
		alone = max(alone, time.Since(start))
	}
	buildInChunks(t, indexBuildChunk)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failing := make(chan time.Time, 1)
	last := entries/indexBuildChunk - 1
	indexBuildHook = func(chunk int) {
		if chunk == last {
			failing <- time.Now()
			cancel() // the build fails with every row but a chunk's built
		}
	}
	built := make(chan error, 1)
	go func() { built <- s.CreateIndex(bctx, "big", "v") }()
	var started time.Time
	select {
	case started = <-failing:
	case err := <-built:
		t.Fatalf("CreateIndex ended before its last chunk: %v", err)
	}
	var lat []time.Duration
	var err error
	for running := true; running; {
		time.Sleep(2 * time.Millisecond)
		start := time.Now()
		must(t, s.Set(ctx, "b", 2, storage.InNamespace("other")))
		lat = append(lat, time.Since(start))
		select {
		case err = <-built:
			running = false
		default:
		}
	}
	took := time.Since(started)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CreateIndex after its context was cancelled: %v, want context.Canceled", err)
	}
	slices.Sort(lat)
	longest := lat[len(lat)-1]
	t.Logf("a set beside the clean-up of a failed build of %d entries (%v): alone %v, %d sets, median %v, longest %v",
		entries, took.Round(time.Millisecond), alone.Round(time.Microsecond), len(lat), lat[len(lat)/2].Round(time.Millisecond), longest.Round(time.Millisecond))
	if limit := took/3 + 10*alone + 50*time.Millisecond; longest > limit {
		t.Errorf("a set took %v beside the clean-up (%v), more than %v: it waited for it", longest, took, limit)
	}
	var left int64
	must(t, s.eng.reader().queryRows(ctx, `SELECT (SELECT count(*) FROM index_entries) + (SELECT count(*) FROM index_fields)`, nil,
		func(r rowScanner) error { return r.Scan(&left) }))
	if left != 0 {
		t.Errorf("%d index rows and fields left by the failed build", left)
	}
}
