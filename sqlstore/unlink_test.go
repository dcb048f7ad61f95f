package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// fillIndexed creates namespace ns declaring indexes city and age and
// writes n entries of ~256 bytes to it.
func fillIndexed(t *testing.T, s *Store, ns string, n int) {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, ns, storage.WithIndexes("city", "age")))
	for i := 0; i < n; i += 2000 {
		items := make([]storage.Item, 0, 2000)
		for j := i; j < min(i+2000, n); j++ {
			items = append(items, storage.Item{Key: fmt.Sprintf("k%06d", j), Value: map[string]any{
				"city": fmt.Sprintf("c%d", j%50), "age": j % 90, "name": fmt.Sprintf("n%d", j),
				"pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}})
		}
		if _, err := s.SetMany(ctx, items, storage.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
}

// unlinkConfigs are the configurations the unlink tests run on: a SQLite
// file (another store can open it) and PostgreSQL.
var unlinkConfigs = []testConfig{configs[1], configs[2]}

// unlinkSize is how many entries TestUnlinkYieldsWriter clears: 20,000,
// or STORAGE_TEST_UNLINK_N (the defect's figures were at 100,000).
func unlinkSize(t *testing.T) int {
	if v, err := strconv.Atoi(os.Getenv("STORAGE_TEST_UNLINK_N")); err == nil && v > 0 {
		return v
	}
	return 20000
}

// unlinkedLeft counts what is unlinked and not yet purged: rows of
// unlinked, and entries and index rows of no namespace.
func unlinkedLeft(t *testing.T, s *Store) (ids, entries, indexRows int64) {
	t.Helper()
	r := s.eng.reader()
	for _, c := range []struct {
		q string
		n *int64
	}{
		{"SELECT count(*) FROM unlinked", &ids},
		{"SELECT count(*) FROM entries WHERE namespace_id NOT IN (SELECT id FROM namespaces)", &entries},
		{"SELECT count(*) FROM index_entries WHERE ix_ns NOT IN (SELECT id FROM namespaces)", &indexRows},
	} {
		must(t, r.queryRows(t.Context(), c.q, nil, func(rs rowScanner) error { return rs.Scan(c.n) }))
	}
	return ids, entries, indexRows
}

// checkYields runs op (an unlink) and waits for its purge while another
// namespace's Sets run (probeDuring), and fails when they were held: at
// least 3 must start and end in the window, and none wait over half of it.
func checkYields(t *testing.T, s *Store, what string, op func() error) {
	t.Helper()
	var opTook time.Duration
	t0, t1, spans, err := probeDuring(t, s, func() error {
		a := time.Now()
		err := op()
		opTook = time.Since(a)
		if err == nil {
			waitPurged(t, s)
		}
		return err
	})
	must(t, err)
	took := t1.Sub(t0)
	inside, longest := holdFigures(t0, t1, spans)
	t.Logf("%s: %s, then purged: %s in all; another namespace's Sets: %d started and ended meanwhile, the longest %s",
		what, opTook, took, inside, longest)
	if inside < 3 || longest > took/2 {
		t.Errorf("%s held the other namespaces' writes: over %s, %d other writes started and ended (want at least 3), the longest waited %s (want under half)",
			what, took, inside, longest)
	}
}

// waitPurged waits until nothing unlinked is left.
func waitPurged(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ids, e, ix := unlinkedLeft(t, s)
		if ids == 0 && e == 0 && ix == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not purged after 2 min: %d unlinked ids, %d entries, %d index rows", ids, e, ix)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUnlinkYieldsWriter: Clear and a recursive DeleteNamespace of a
// namespace of 20,000 entries with two declared indexes no longer hold
// what every other namespace's writes need, for their whole delete:
// SQLite's one writer (bench/results/2026-12-04-writer-holds.md: 5.5 s and
// 1.2 s at 100k entries), PostgreSQL's revision lock (2.9 s and 1.0 s at
// 100k entries). From the operation's start to the end of the purge,
// another namespace's single Sets go on: several start and end
// meanwhile, and the longest waits less than half of that time; while
// one transaction deleted everything, none could, and the longest waited
// all of it.
func TestUnlinkYieldsWriter(t *testing.T) {
	n := unlinkSize(t)
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			defer s.Close()
			ctx := t.Context()
			for _, op := range []struct {
				name string
				run  func() error
			}{
				{"clear", func() error { return s.Clear(ctx, storage.InNamespace("big")) }},
				{"deleteNamespace", func() error { return s.DeleteNamespace(ctx, "big", storage.Recursive()) }},
			} {
				t.Run(op.name, func(t *testing.T) {
					if op.name == "deleteNamespace" {
						// Clear left the namespace, empty.
						must(t, s.DeleteNamespace(ctx, "big"))
					}
					fillIndexed(t, s, "big", n)
					checkYields(t, s, fmt.Sprintf("%s of %d entries", op.name, n), op.run)
					exactIndexRows(t, s, "after the purge")
				})
			}
		})
	}
}

// TestUnlinkReads: after a Clear, every read of the namespace finds it
// empty at once, by this store and by another on the same file whose
// cache knows the namespace's old id, before the purge and after; writes
// of the same keys start new lives (new revisions, versions from 1);
// History and the counts are as when Clear deleted the entries. After a
// recursive DeleteNamespace and a CreateNamespace of the same name,
// nothing old shows.
func TestUnlinkReads(t *testing.T) {
	purgerOff = true
	t.Cleanup(func() { purgerOff = false })
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) { unlinkReads(t, c.dsn(t)) })
	}
}

func unlinkReads(t *testing.T, dsn string) {
	s := openTest(t, dsn, WithSweepInterval(-1))
	defer s.Close()
	s2 := openTest(t, dsn, WithSweepInterval(-1))
	defer s2.Close()
	ctx := t.Context()
	in := storage.InNamespace("big")
	fillIndexed(t, s, "big", 300)
	must(t, s.Set(ctx, "k000001", map[string]any{"city": "c1", "age": 1}, in))
	must(t, s.Set(ctx, "o", 1, storage.InNamespace("other")))
	before, err := s.Get(ctx, "k000001", in)
	must(t, err)
	histBefore, err := s.History(ctx, "k000001", in)
	must(t, err)
	// s2 caches the namespace's id and fields.
	for _, st := range []*Store{s, s2} {
		if n, err := st.Count(ctx, in); err != nil || n != 300 {
			t.Fatalf("Count before: %d, %v", n, err)
		}
		if n, err := st.Count(ctx, storage.Where(storage.Eq("city", "c1")), in); err != nil || n != 6 {
			t.Fatalf("Count(city = c1) before: %d, %v", n, err)
		}
	}
	must(t, s.Clear(ctx, in))
	check := func(step string, want int) {
		t.Helper()
		for i, st := range []*Store{s, s2} {
			who := fmt.Sprintf("%s, store %d", step, i+1)
			if _, err := st.Get(ctx, "k000002", in); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s: Get of a cleared key: %v", who, err)
			}
			if ok, err := st.Has(ctx, "k000002", in); err != nil || ok {
				t.Errorf("%s: Has of a cleared key: %v, %v", who, ok, err)
			}
			if n, err := st.Count(ctx, in); err != nil || n != int64(want) {
				t.Errorf("%s: Count %d, %v; want %d", who, n, err, want)
			}
			if n, err := st.Count(ctx, storage.Where(storage.Eq("city", "c1")), in); err != nil || n != int64(min(want, 1)) {
				t.Errorf("%s: Count(city = c1) %d, %v; want %d", who, n, err, min(want, 1))
			}
			if n, err := st.Count(ctx, storage.Where(storage.And(storage.Eq("city", "c1"), storage.Eq("name", "n1"))), in); err != nil || n != 0 {
				t.Errorf("%s: Count(city = c1, name = n1) %d, %v; want 0", who, n, err)
			}
			r, err := st.Query(ctx, storage.Gte("age", 0), in)
			if err != nil || len(r.Entries) != want {
				t.Errorf("%s: Query(age >= 0): %d entries, %v; want %d", who, len(r.Entries), err, want)
			}
			l, err := st.List(ctx, in)
			if err != nil || len(l.Keys) != want {
				t.Errorf("%s: List: %d keys, %v; want %d", who, len(l.Keys), err, want)
			}
			g, err := st.GetMany(ctx, []string{"k000002", "k000003"}, in)
			if err != nil || len(g.Entries) != 0 {
				t.Errorf("%s: GetMany of cleared keys: %d, %v", who, len(g.Entries), err)
			}
			stt, err := st.Status(ctx)
			if err != nil || stt.Size != int64(want)+1 {
				t.Errorf("%s: Status.Size %d, %v; want %d", who, stt.Size, err, want+1)
			}
		}
	}
	check("after Clear", 0)
	if ids, e, ix := unlinkedLeft(t, s); ids != 1 || e != 300 || ix != 600 {
		t.Fatalf("unlinked after Clear: %d ids, %d entries, %d index rows; want 1, 300, 600", ids, e, ix)
	}
	histCleared, err := s.History(ctx, "k000001", in)
	must(t, err)
	must(t, s.Set(ctx, "k000001", map[string]any{"city": "c1", "age": 1}, in))
	after, err := s.Get(ctx, "k000001", in)
	must(t, err)
	if after.Version != 1 || after.Revision <= before.Revision || after.CreateRevision <= before.Revision {
		t.Errorf("the key set again after Clear: version %d revision %d create %d; before Clear version %d revision %d",
			after.Version, after.Revision, after.CreateRevision, before.Version, before.Revision)
	}
	check("after Clear and a Set", 1)
	histNew, err := s.History(ctx, "k000001", in)
	must(t, err)
	must(t, s.purgeWait(ctx))
	if ids, e, ix := unlinkedLeft(t, s); ids != 0 || e != 0 || ix != 0 {
		t.Fatalf("unlinked after the purge: %d ids, %d entries, %d index rows", ids, e, ix)
	}
	exactIndexRows(t, s, "after the purge")
	check("after the purge", 1)
	histPurged, err := s.History(ctx, "k000001", in)
	must(t, err)
	if !slices.EqualFunc(histNew, histPurged, eventEqual) {
		t.Errorf("History before the purge %v, after %v", histNew, histPurged)
	}
	if len(histCleared) != len(histBefore) || len(histNew) != len(histBefore)+1 {
		t.Errorf("History: %d events before Clear, %d after, %d after a new Set", len(histBefore), len(histCleared), len(histNew))
	}

	// DeleteNamespace, then the name again.
	fillIndexed(t, s, "gone", 200)
	for _, st := range []*Store{s, s2} {
		if n, err := st.Count(ctx, storage.Where(storage.Eq("city", "c1")), storage.InNamespace("gone")); err != nil || n != 4 {
			t.Fatalf("Count(gone, city = c1): %d, %v", n, err)
		}
	}
	must(t, s.DeleteNamespace(ctx, "gone", storage.Recursive()))
	must(t, s.CreateNamespace(ctx, "gone", storage.WithIndexes("city")))
	must(t, s.Set(ctx, "k000001", map[string]any{"city": "c1"}, storage.InNamespace("gone")))
	for i, st := range []*Store{s, s2} {
		if n, err := st.Count(ctx, storage.Where(storage.Eq("city", "c1")), storage.InNamespace("gone")); err != nil || n != 1 {
			t.Errorf("store %d: Count(gone, city = c1) after re-creating it: %d, %v; want 1", i+1, n, err)
		}
		if n, err := st.Count(ctx, storage.InNamespace("gone")); err != nil || n != 1 {
			t.Errorf("store %d: Count(gone) after re-creating it: %d, %v; want 1", i+1, n, err)
		}
		if _, err := st.Get(ctx, "k000002", storage.InNamespace("gone")); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("store %d: Get of a deleted key: %v", i+1, err)
		}
		e, err := st.Get(ctx, "k000001", storage.InNamespace("gone"))
		if err != nil || e.Version != 1 {
			t.Errorf("store %d: Get of the key set again: version %d, %v", i+1, e.Version, err)
		}
	}
	must(t, s.purgeWait(ctx))
	exactIndexRows(t, s, "after the second purge")
}

func eventEqual(a, b storage.Event) bool {
	return a.Revision == b.Revision && a.Type == b.Type && a.Key == b.Key && a.Version == b.Version
}

// TestUnlinkPurgeResumes: a store closed while its purger has work left
// leaves it in unlinked; the next Open finishes it.
func TestUnlinkPurgeResumes(t *testing.T) {
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) { unlinkPurgeResumes(t, c.dsn(t)) })
	}
}

func unlinkPurgeResumes(t *testing.T, dsn string) {
	s := openTest(t, dsn, WithSweepInterval(-1), withPurgeChunk(50))
	fillIndexed(t, s, "big", 3000)
	must(t, s.Clear(t.Context(), storage.InNamespace("big")))
	must(t, s.Close())
	s = openTest(t, dsn, WithSweepInterval(-1), withPurgeChunk(50))
	defer s.Close()
	ids, e, ix := unlinkedLeft(t, s)
	t.Logf("left at Close: %d ids, %d entries, %d index rows", ids, e, ix)
	if ids == 0 {
		t.Errorf("the purge finished before Close: the test shows nothing")
	}
	waitPurged(t, s)
	exactIndexRows(t, s, "after the purge")
	ctxT, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if n, err := s.Count(ctxT, storage.InNamespace("big")); err != nil || n != 0 {
		t.Errorf("Count after the purge: %d, %v", n, err)
	}
}

// TestUnlinkInTx: a Clear inside a transaction unlinks with it: rolled
// back, the entries are all there (and index queries find them); committed,
// they are gone and the purger deletes them.
func TestUnlinkInTx(t *testing.T) {
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) { unlinkInTx(t, c.dsn(t)) })
	}
}

func unlinkInTx(t *testing.T, dsn string) {
	s := openTest(t, dsn, WithSweepInterval(-1))
	defer s.Close()
	ctx := t.Context()
	in := storage.InNamespace("big")
	fillIndexed(t, s, "big", 100)
	for _, commit := range []bool{false, true} {
		tx, err := s.Begin(ctx, storage.TxOptions{})
		must(t, err)
		must(t, tx.Clear(ctx, in))
		if n, err := tx.Count(ctx, storage.Where(storage.Eq("city", "c1")), in); err != nil || n != 0 {
			t.Errorf("Count(city = c1) in the transaction after Clear: %d, %v", n, err)
		}
		want := int64(2)
		if commit {
			must(t, tx.Commit(ctx))
			want = 0
		} else {
			must(t, tx.Rollback(ctx))
		}
		if n, err := s.Count(ctx, storage.Where(storage.Eq("city", "c1")), in); err != nil || n != want {
			t.Errorf("commit %v: Count(city = c1) %d, %v; want %d", commit, n, err, want)
		}
	}
	waitPurged(t, s)
	exactIndexRows(t, s, "after the purge")
}

// TestUnlinkDuringCreateIndex: a Clear of a namespace while CreateIndex
// builds a new index of it, between two chunks or while a chunk is being
// filled (the Clear then waits for the chunk: on PostgreSQL for the build's
// record, which the chunk holds FOR SHARE), fails the build as a
// DeleteNamespace does, and leaves no record of it, no index row of it
// once purged, no namespace flagged as building; the namespace keeps the
// indexes it declared, and they index what is written after.
func TestUnlinkDuringCreateIndex(t *testing.T) {
	buildInChunks(t, 100)
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			defer s.Close()
			ctx := t.Context()
			in := storage.InNamespace("big")
			check := func(step string) {
				t.Helper()
				waitPurged(t, s)
				var marks, flagged int64
				must(t, s.eng.writer().queryRows(ctx, "SELECT count(*) FROM index_fields WHERE field LIKE '$building:%'", nil,
					func(r rowScanner) error { return r.Scan(&marks) }))
				if s.Dialect() == "postgres" {
					must(t, s.eng.writer().queryRows(ctx, "SELECT count(*) FROM namespaces WHERE index_building", nil,
						func(r rowScanner) error { return r.Scan(&flagged) }))
				}
				if marks != 0 || flagged != 0 {
					t.Errorf("%s: %d records of builds left, %d namespaces flagged index_building", step, marks, flagged)
				}
				if d := nsIndexes(t, s, "big"); !slices.Equal(d, []string{"age", "city"}) && !slices.Equal(d, []string{"city", "age"}) {
					t.Errorf("%s: declared %v, want city and age", step, d)
				}
				must(t, s.Set(ctx, "new", map[string]any{"city": "cz", "age": 200, "name": "nz"}, in))
				if r, err := s.Query(ctx, storage.Eq("city", "cz"), in); err != nil || len(r.Entries) != 1 {
					t.Errorf("%s: Query(city = cz): %d entries, %v; want 1", step, len(r.Entries), err)
				}
				exactIndexRows(t, s, step)
			}
			fillIndexed(t, s, "big", 1000)
			indexBuildHook = func(chunk int) {
				if chunk == 3 {
					must(t, s.Clear(ctx, in))
				}
			}
			if err := s.CreateIndex(ctx, "big", "name"); !errors.Is(err, storage.ErrNamespaceNotFound) {
				t.Errorf("CreateIndex whose namespace was cleared after 3 chunks: %v, want ErrNamespaceNotFound", err)
			}
			indexBuildHook = nil
			check("cleared between chunks")

			must(t, s.DeleteNamespace(ctx, "big", storage.Recursive()))
			fillIndexed(t, s, "big", 1000)
			var cleared sync.WaitGroup
			indexChunkHook = func(chunk int) {
				if chunk == 3 {
					waits := clearWaits(s)
					cleared.Go(func() { must(t, s.Clear(ctx, in)) })
					waits()
				}
			}
			if err := s.CreateIndex(ctx, "big", "name"); !errors.Is(err, storage.ErrNamespaceNotFound) && !errors.Is(err, storage.ErrTxConflict) {
				t.Errorf("CreateIndex whose namespace was cleared during a chunk: %v, want ErrNamespaceNotFound or ErrTxConflict", err)
			}
			cleared.Wait()
			indexChunkHook = nil
			check("cleared during a chunk")
		})
	}
}

// TestUnlinkRepeatableRead (PostgreSQL): a repeatable-read transaction
// whose snapshot predates a Clear of the namespace sees the old id; its
// write of a key the Clear unlinked, with the same value or another,
// fails with ErrTxConflict, as when the Clear deleted the entries. The
// write of the same value fired no trigger, wrote the unlinked row and
// reported success: the key was lost.
func TestUnlinkRepeatableRead(t *testing.T) {
	purgerOff = true
	t.Cleanup(func() { purgerOff = false })
	s := openTest(t, newPGSchema(t), WithSweepInterval(-1))
	defer s.Close()
	ctx := t.Context()
	in := storage.InNamespace("a")
	for _, v := range []int{1, 2} {
		must(t, s.Set(ctx, "k", 1, in))
		tx, err := s.Begin(ctx, storage.TxOptions{Isolation: storage.LevelRepeatableRead})
		must(t, err)
		_, err = tx.Get(ctx, "k", in)
		must(t, err)
		must(t, s.Clear(ctx, in))
		err = tx.Set(ctx, "k", v, in)
		if err == nil {
			err = tx.Commit(ctx)
		} else {
			_ = tx.Rollback(ctx)
		}
		if !errors.Is(err, storage.ErrTxConflict) {
			t.Errorf("Set of %d in a repeatable-read transaction after a Clear: %v, want ErrTxConflict", v, err)
		}
		if _, err := s.Get(ctx, "k", in); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get after: %v, want ErrNotFound", err)
		}
	}
}

// clearWaits returns a function that waits until a Clear started after
// clearWaits was called waits for the writer the caller's transaction
// holds: on SQLite, until the writer pool counts one more wait for its
// connection (at most 10 s); on PostgreSQL, 100 ms. A fixed 100 ms on a
// loaded machine let the index build's next chunks run, and the build
// end, before the Clear had reached the writer (TestUnlinkDuringCreateIndex
// under load 30-46).
func clearWaits(s *Store) func() {
	e, ok := s.eng.(*sqliteEngine)
	if !ok {
		return func() { time.Sleep(100 * time.Millisecond) }
	}
	before := e.w.Stats().WaitCount
	return func() {
		for end := time.Now().Add(10 * time.Second); e.w.Stats().WaitCount == before && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
	}
}
