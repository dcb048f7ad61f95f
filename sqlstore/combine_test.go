package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
)

// TestPGWritesShareCommits: concurrent Sets outside transactions commit in
// groups (combine.go): the entries they wrote were inserted by fewer
// transactions than there were Sets (every row's xmin is its inserting
// transaction), every write kept its own answer (the revision Written
// reports is the entry's), and revisions stay unique. Before group commit
// every Set was a transaction of its own (as many xmins as Sets).
func TestPGWritesShareCommits(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	must(t, s.CreateNamespace(ctx, "gc"))
	const writers, each = 16, 25
	concurrentSets(t, s, "gc", writers, each)
	conn, err := pgxpool.New(ctx, dsn)
	must(t, err)
	defer conn.Close()
	var txs, rows int
	must(t, conn.QueryRow(ctx, `SELECT count(DISTINCT e.xmin::text), count(*) FROM entries e
		JOIN namespaces n ON n.id = e.namespace_id WHERE n.name = 'gc'`).Scan(&txs, &rows))
	st := s.CombineStats()
	t.Logf("%d Sets in %d transactions; %d batches carried %d writes", rows, txs, st.Batches, st.Writes)
	if rows != writers*each {
		t.Fatalf("%d entries, want %d", rows, writers*each)
	}
	if txs >= rows || st.Batches == 0 || st.Writes < 2*st.Batches {
		t.Fatalf("%d Sets committed in %d transactions (stats %+v): not grouped", rows, txs, st)
	}

	// Off: each its own.
	s2 := openTest(t, dsn, WithSweepInterval(-1), WithoutWriteCombining())
	t.Cleanup(func() { _ = s2.Close() })
	in2 := storage.InNamespace("alone")
	must(t, s2.CreateNamespace(ctx, "alone"))
	var wg2 sync.WaitGroup
	for i := range 8 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for j := range 10 {
				if err := s2.Set(ctx, fmt.Sprintf("k%d-%d", i, j), 1, in2); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg2.Wait()
	must(t, conn.QueryRow(ctx, `SELECT count(DISTINCT e.xmin::text), count(*) FROM entries e
		JOIN namespaces n ON n.id = e.namespace_id WHERE n.name = 'alone'`).Scan(&txs, &rows))
	if txs != rows || rows != 80 || s2.CombineStats() != (CombineStats{}) {
		t.Fatalf("WithoutWriteCombining: %d Sets in %d transactions, stats %+v", rows, txs, s2.CombineStats())
	}
}

// combTurn holds s's write turn (as a write in flight does) until the
// returned function is called with how many writes must be waiting.
func combTurn(t *testing.T, s *Store) func(waiting int) {
	t.Helper()
	switch e := s.eng.(type) {
	case *pgEngine:
		return holdTurn(t, e.comb)
	case *sqliteEngine:
		return holdTurn(t, e.comb)
	}
	t.Fatalf("no group commit in %T", s.eng)
	return nil
}

func holdTurn[J any](t *testing.T, c *turns[J]) func(waiting int) {
	t.Helper()
	var none J
	if _, held := c.enter(context.Background(), none); !held {
		t.Fatal("the turn is taken")
	}
	return func(waiting int) {
		t.Helper()
		waitQueued(t, &c.mu, func() int { return len(c.queue) }, waiting)
		c.release()
	}
}

// deadlineBehindTx: with a write transaction open in namespace ns (it
// holds PostgreSQL's revision lock, SQLite's writer), a write with a
// deadline of 300 ms and one without, queued together, go as one batch;
// the transaction commits after hold. The first fails with its deadline
// and is not written, the second is written.
func deadlineBehindTx(t *testing.T, s *Store, ns string, hold time.Duration) {
	t.Helper()
	ctx := t.Context()
	in := storage.InNamespace(ns)
	must(t, s.CreateNamespace(ctx, ns))
	tx, err := s.Begin(ctx, storage.TxOptions{})
	must(t, err)
	must(t, tx.Set(ctx, "held", 1, in))
	release := combTurn(t, s)
	var wg sync.WaitGroup
	var shortErr, longErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		shortErr = s.Set(sctx, "short", 1, in)
	}()
	go func() {
		defer wg.Done()
		longErr = s.Set(ctx, "long", 1, in)
	}()
	release(2)
	time.Sleep(hold)
	must(t, tx.Commit(ctx))
	wg.Wait()
	if !errors.Is(shortErr, context.DeadlineExceeded) {
		t.Fatalf("the write whose deadline passed while its batch waited: %v", shortErr)
	}
	must(t, longErr)
	if _, err := s.Get(ctx, "short", in); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the write that failed its deadline was written: %v", err)
	}
	if _, err := s.Get(ctx, "long", in); err != nil {
		t.Fatal(err)
	}
}

// TestPGCombinedWriteFailsAlone: a statement the server refuses in a batch
// aborts the batch before its commit, and every write of it runs again
// alone: the refused one fails with its own error, the others succeed.
func TestPGCombinedWriteFailsAlone(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, newPGSchema(t), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	in := storage.InNamespace("iso")
	must(t, s.CreateNamespace(ctx, "iso"))
	e := s.eng.(*pgEngine)
	release := combTurn(t, s)
	var wg sync.WaitGroup
	var badErr error
	setErrs := make([]error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, badErr = e.writes.q.wdb.Exec(ctx, "SELECT 1/0")
	}()
	for i := range setErrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			setErrs[i] = s.Set(ctx, fmt.Sprintf("k%d", i), i, in)
		}()
	}
	release(4)
	wg.Wait()
	if badErr == nil || !strings.Contains(badErr.Error(), "division by zero") {
		t.Fatalf("the refused statement: %v, want division by zero", badErr)
	}
	for i, err := range setErrs {
		if err != nil {
			t.Fatalf("Set k%d beside a refused statement: %v", i, err)
		}
		got, err := s.Get(ctx, fmt.Sprintf("k%d", i), in)
		must(t, err)
		if string(got.Value) != fmt.Sprint(i) {
			t.Fatalf("k%d = %s", i, got.Value)
		}
	}
}

// TestPGCombinedWriteDeadline: a batch waits for the revision lock no
// longer than its earliest deadline; then its writes run alone: the one
// whose deadline passed fails with it and is not written, the other waits
// for the lock and is written.
func TestPGCombinedWriteDeadline(t *testing.T) {
	s := openTest(t, newPGSchema(t), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	deadlineBehindTx(t, s, "dl", time.Second)
}

// TestPGCombinedWriteLeavesQueue: a write whose caller gives up while it
// waits for its turn leaves the queue: the context's error, nothing
// written, and the writes behind it go on.
func TestPGCombinedWriteLeavesQueue(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, newPGSchema(t), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	in := storage.InNamespace("lq")
	must(t, s.CreateNamespace(ctx, "lq"))
	release := combTurn(t, s)
	cctx, cancel := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() { left <- s.Set(cctx, "gone", 1, in) }()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Set(ctx, fmt.Sprintf("k%d", i), i, in)
		}()
	}
	c := s.eng.(*pgEngine).comb
	waitQueued(t, &c.mu, func() int { return len(c.queue) }, 3)
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("a write that left the queue: %v", err)
	}
	release(0)
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	if _, err := s.Get(ctx, "gone", in); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a write that left the queue was written: %v", err)
	}
	if st := s.CombineStats(); st.Batches != 1 || st.Writes != 2 {
		t.Fatalf("stats %+v, want one batch of the two writes that stayed", st)
	}
}

// concurrentSets runs writers×each Sets in namespace ns of s at once and
// checks what they reported: every key stored with the revision Written
// gave it, no revision given twice.
func concurrentSets(t *testing.T, s *Store, ns string, writers, each int) {
	t.Helper()
	ctx := t.Context()
	in := storage.InNamespace(ns)
	var mu sync.Mutex
	revs := map[string]int64{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				var w storage.WriteResult
				key := fmt.Sprintf("k%02d-%02d", i, j)
				if err := s.Set(ctx, key, map[string]any{"i": i, "j": j}, in, storage.Written(&w)); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				revs[key] = w.Revision
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]string{}
	for k, r := range revs {
		if o, dup := seen[r]; dup {
			t.Fatalf("revision %d reported for %s and %s", r, o, k)
		}
		seen[r] = k
		e, err := s.Get(ctx, k, in)
		must(t, err)
		if e.Revision != r {
			t.Fatalf("%s: Written said revision %d, Get says %d", k, r, e.Revision)
		}
	}
	if len(revs) != writers*each {
		t.Fatalf("%d keys written, want %d", len(revs), writers*each)
	}
}

// TestSQLiteWritesShareCommits: on SQLite the single Sets that wait for the
// writer go together in one transaction (combine.go), each with its own
// answer; a statement that fails in a batch makes each write of it run
// again alone.
func TestSQLiteWritesShareCommits(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "gc.db"), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	must(t, s.CreateNamespace(ctx, "gc"))
	concurrentSets(t, s, "gc", 16, 25)
	st := s.CombineStats()
	t.Logf("batches %d carried %d writes", st.Batches, st.Writes)
	if st.Batches == 0 || st.Writes < 2*st.Batches {
		t.Fatalf("stats %+v: no batch", st)
	}

	// A statement that fails (no arguments) beside three Sets.
	e := s.eng.(*sqliteEngine)
	c := e.comb
	release := combTurn(t, s)
	in := storage.InNamespace("gc")
	var wg sync.WaitGroup
	var badErr error
	setErrs := make([]error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		badErr = e.wq.(walHookQ).query(ctx, writeUpsert, nil, noRows)
	}()
	for i := range setErrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			setErrs[i] = s.Set(ctx, fmt.Sprintf("iso%d", i), i, in)
		}()
	}
	before := c.batches.Load()
	release(4)
	wg.Wait()
	if badErr == nil {
		t.Fatal("a statement without its arguments succeeded")
	}
	if c.batches.Load() != before+1 {
		t.Fatalf("batches %d, want %d", c.batches.Load(), before+1)
	}
	for i, err := range setErrs {
		if err != nil {
			t.Fatalf("Set iso%d beside a failed statement: %v", i, err)
		}
		got, err := s.Get(ctx, fmt.Sprintf("iso%d", i), in)
		must(t, err)
		if string(got.Value) != fmt.Sprint(i) {
			t.Fatalf("iso%d = %s", i, got.Value)
		}
	}
	// Without: no batch.
	s2 := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "alone.db"), WithSweepInterval(-1), WithoutWriteCombining())
	t.Cleanup(func() { _ = s2.Close() })
	must(t, s2.CreateNamespace(ctx, "gc"))
	concurrentSets(t, s2, "gc", 8, 10)
	if st := s2.CombineStats(); st != (CombineStats{}) {
		t.Fatalf("WithoutWriteCombining: %+v", st)
	}
}

// waitQueued waits until n() (read under mu) is at least want.
func waitQueued(t *testing.T, mu *sync.Mutex, n func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := n()
		mu.Unlock()
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes waiting, want %d", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSQLiteCombinedWriteBehindTx: a batch that waits for the writer
// connection (a transaction holds it) waits no longer than its earliest
// deadline, and a write whose caller gives up before the batch has the
// connection leaves it: its context's error, nothing written (never
// ErrCommitUnknown for a write that was never sent); the other write runs
// once the transaction ends.
func TestSQLiteCombinedWriteBehindTx(t *testing.T) {
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "behind.db"), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	deadlineBehindTx(t, s, "bt", 1500*time.Millisecond)
}
