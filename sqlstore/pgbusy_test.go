package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
)

// pgBusyFilter is a filter no entry of pgBusyFill passes, whose test of
// each entry or change costs something: a count or a watch read with it
// goes through everything.
func pgBusyFilter() storage.Filter {
	var or []storage.Filter
	for l := range 200 {
		or = append(or, storage.EndsWith("s", fmt.Sprintf("no such text %d", l)))
	}
	return storage.Or(or...)
}

// pgBusyFill writes n entries of namespace "big", rounds times over.
func pgBusyFill(t *testing.T, s *Store, n, rounds int) {
	t.Helper()
	ctx := t.Context()
	for r := range rounds {
		for b := 0; b < n; b += 1000 {
			items := make([]storage.Item, 0, 1000)
			for i := b; i < min(n, b+1000); i++ {
				items = append(items, storage.Item{Key: fmt.Sprintf("r%06d", i), Value: map[string]any{"s": fmt.Sprintf("text %d %d", i, r), "n": i}})
			}
			if _, err := s.SetMany(ctx, items, storage.InNamespace("big")); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestPostgresQuickBesideLongReads (PostgreSQL): with the reads that last
// at their caps — read-only transactions each running, over and over, a
// count no index serves (txCapacity), watches from the start of a long
// log with a filter no change passes (watchReadPlaces), and scans outside
// transactions (two, as many as httpapi's DefaultMaxScansInStore admits)
// — a Get, a Set, Status and GetMetadata of another caller are served at
// once, not after those reads.
func TestPostgresQuickBesideLongReads(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, newPGSchema(t), WithRetention(Retention{Changes: 10_000_000}))
	defer s.Close()
	pgBusyFill(t, s, 20_000, 5)
	must(t, s.Set(ctx, "k", 1, storage.WithMetadata(map[string]any{"m": 1})))
	in := storage.InNamespace("big")
	where := storage.Where(pgBusyFilter())
	start := time.Now()
	if _, err := s.Count(ctx, in, where); err != nil {
		t.Fatal(err)
	}
	per := time.Since(start)

	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	txs, _ := s.eng.txCapacity()
	for range txs {
		tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer func() { _ = tx.Rollback(context.Background()) }()
			for lctx.Err() == nil {
				if _, err := tx.Count(lctx, in, where); err != nil && lctx.Err() == nil {
					t.Errorf("count in a read-only transaction: %v", err)
					return
				}
			}
		})
	}
	for range 16 {
		wg.Go(func() {
			for _, err := range s.Watch(lctx, in, where, storage.FromRevision(1)) {
				if err != nil && lctx.Err() == nil {
					t.Errorf("watch: %v", err)
				}
				return
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for lctx.Err() == nil {
				if _, err := s.Count(lctx, in, where); err != nil && lctx.Err() == nil {
					t.Errorf("count: %v", err)
					return
				}
			}
		})
	}
	time.Sleep(per / 2)
	ops := []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, "k"); return err }},
		{"Set", func(ctx context.Context) error { return s.Set(ctx, "k", 2) }},
		{"Status", func(ctx context.Context) error { _, err := s.Status(ctx); return err }},
		{"GetMetadata", func(ctx context.Context) error { _, err := s.GetMetadata(ctx, "k"); return err }},
	}
	for range 3 {
		for _, o := range ops {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			start := time.Now()
			err := o.fn(cctx)
			d := time.Since(start)
			cancel()
			t.Logf("%s beside %d read-only transactions, 16 watches and 2 counts (a count alone %v): %v after %v", o.name, txs, per.Round(time.Millisecond), err, d.Round(time.Millisecond))
			if err != nil || d > time.Second {
				t.Errorf("%s beside the long reads: %v after %v; want it served at once", o.name, err, d)
			}
		}
	}
}

// TestPostgresWritesBesideFullPool (PostgreSQL): with every connection of
// the store's pool held, as the reads that last may hold them (read-only
// transactions, watch reads, scans), the writes outside transactions,
// the point reads and the engine's own work go on, on the lanes
// (pgPoints). Queries, lists, History and watches read on the pool, and
// wait, as do Begin's transactions.
func TestPostgresWritesBesideFullPool(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, newPGSchema(t), WithRetention(Retention{Changes: 1000}))
	defer s.Close()
	must(t, s.CreateNamespace(ctx, "ix", storage.WithIndexes("n")))
	for i := range 50 {
		must(t, s.Set(ctx, fmt.Sprintf("k%02d", i), map[string]any{"n": i}, storage.InNamespace("ix")))
	}
	must(t, s.Set(ctx, "k", 1))
	e := s.eng.(*pgEngine)
	// A caller's transaction, TxRW, runs on the pool, and waits.
	ops := slices.DeleteFunc(busyOps(t, s), func(o busyOp) bool { return o.name == "TxRW" })
	n := int(e.pool.Config().MaxConns)
	for _, o := range ops {
		var held []interface{ Release() }
		for range n {
			c, err := e.pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		err := o.fn(cctx)
		d := time.Since(start)
		cancel()
		for _, c := range held {
			c.Release()
		}
		if err != nil || d > time.Second {
			t.Errorf("%s with every connection of the pool in use: %v after %v; want it served on a lane", o.name, err, d)
		}
	}
}

// TestCommitOutcomeBesideFullPool: a commit in doubt is settled with the
// store's pool held whole (by read-only transactions, watch reads or scans
// of one principal): the question to the server is a short read and goes
// on the point reads' lane. Before, it waited for the pool for
// commitOutcomeWait (5 s) and answered ErrCommitUnknown for a transaction
// that had committed.
func TestCommitOutcomeBesideFullPool(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, newPGSchema(t), WithSweepInterval(-1))
	defer s.Close()
	e := s.eng.(*pgEngine)
	var committed string
	must(t, e.pool.QueryRow(ctx, "SELECT "+xactRefSQL).Scan(&committed)) // its implicit transaction commits
	var held []interface{ Release() }
	for range int(e.pool.Config().MaxConns) {
		c, err := e.pool.Acquire(ctx)
		must(t, err)
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	start := time.Now()
	err := e.commitOutcome(ctx, committed, errors.New("the COMMIT's answer was lost"))
	if d := time.Since(start); err != nil || d > 2*time.Second {
		t.Errorf("a committed transaction's outcome with the pool held whole: %v after %v; want nil at once", err, d)
	}
}

// TestLockWaitSeenBesideFullPool: whether a session waits for the
// revision lock (the contended idle timeout's question, pgTx.waited) is
// answered with the store's pool held whole. Before, the question waited
// for the pool for its 2 s and answered no: a transaction idle while
// holding the lock was not rolled back at the contended timeout however
// many writers waited, when the pool was full.
func TestLockWaitSeenBesideFullPool(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, newPGSchema(t), WithSweepInterval(-1))
	defer s.Close()
	e := s.eng.(*pgEngine)
	holder, err := pgx.ConnectConfig(ctx, e.pool.Config().ConnConfig.Copy())
	must(t, err)
	defer holder.Close(context.Background())
	waiter, err := pgx.ConnectConfig(ctx, e.pool.Config().ConnConfig.Copy())
	must(t, err)
	defer waiter.Close(context.Background())
	_, err = holder.Exec(ctx, "BEGIN")
	must(t, err)
	_, err = holder.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", e.lockKey)
	must(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := waiter.Exec(ctx, "SELECT pg_advisory_lock($1)", e.lockKey)
		done <- err
	}()
	tx := &pgTx{e: e}
	for start := time.Now(); !tx.waited(ctx); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the waiting session was never seen")
		}
	}
	var held []interface{ Release() }
	for range int(e.pool.Config().MaxConns) {
		c, err := e.pool.Acquire(ctx)
		must(t, err)
		held = append(held, c)
	}
	start := time.Now()
	waits := tx.waited(ctx)
	d := time.Since(start)
	for _, c := range held {
		c.Release()
	}
	if !waits || d > time.Second {
		t.Errorf("a session waiting for the revision lock, with the pool held whole: seen %v after %v; want seen at once", waits, d)
	}
	_, err = holder.Exec(ctx, "COMMIT")
	must(t, err)
	must(t, <-done)
}

// resetPools closes the idle connections of the pool and of both lanes
// (pgPoints): after backends were terminated, the first use of each
// killed one would fail with ErrUnavailable.
func (e *pgEngine) resetPools() {
	e.pool.Reset()
	e.points.pool.Reset()
	e.writes.pool.Reset()
}
