package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/txmanager"
)

// TestWALBounded: under continuous single writes with concurrent readers
// (gets, lists, read-only transactions), SQLite's WAL stays within a few MB: the store
// lets SQLite checkpoint while it is open (walhook.go). Before, single
// writes never checkpointed and the WAL grew with everything written.
func TestWALBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	s := openTest(t, "sqlite:"+path)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const (
		valueSize = 32 << 10
		writes    = 600 // about 40 MB written (20 MB of values, and their change log rows), 10x the WAL's checkpoint point
		keys      = 64
	)
	val := strings.Repeat("v", valueSize)
	var maxWAL atomic.Int64
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	var readers sync.WaitGroup
	var reads atomic.Int64
	for r := range 4 {
		readers.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				var err error
				switch (i + r) % 3 {
				case 0:
					_, err = s.Get(ctx, fmt.Sprintf("k%d", i%keys))
				case 1:
					_, err = s.List(ctx, storage.Limit(10))
				case 2:
					var tx storage.Tx
					if tx, err = s.Begin(ctx, storage.TxOptions{ReadOnly: true}); err == nil {
						_, err = tx.Count(ctx)
						_ = tx.Rollback(ctx)
					}
				}
				if err != nil && ctx.Err() == nil && !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("read: %v", err)
					return
				}
				reads.Add(1)
			}
		})
	}
	for i := range writes {
		// Single writes: a batch or a transaction ends with a COMMIT,
		// which always let SQLite checkpoint.
		var err error
		k := fmt.Sprintf("k%d", i%keys)
		if i%2 == 0 {
			err = s.Set(ctx, k, val)
		} else {
			err = s.Set(ctx, k, val, storage.WithMetadata(map[string]any{"i": i}))
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if w := walSize(); w > maxWAL.Load() {
			maxWAL.Store(w)
		}
	}
	cancel()
	readers.Wait()
	db, _ := os.Stat(path)
	t.Logf("%d writes of %d KiB, %d reads: largest WAL %.1f MB, database %.1f MB",
		writes, valueSize>>10, reads.Load(), float64(maxWAL.Load())/1e6, float64(db.Size())/1e6)
	// A WAL never checkpointed holds everything written (over 40 MB).
	// Busy readers delay the checkpoints that let it restart, and each
	// write also writes its change log row, so the high-water mark varies
	// with the timing (7 to 37 MB seen on a loaded machine).
	if limit := int64(40 << 20); maxWAL.Load() > limit {
		t.Errorf("the WAL reached %d bytes, more than %d: it is not checkpointed", maxWAL.Load(), limit)
	}
}

// TestWALBoundedWithSnapshots: a reader that holds snapshots back to back
// starves SQLite's passive checkpoints; the store's TRUNCATE checkpoint
// (walrestart.go) still empties the WAL once it passes walRestartBytes (at
// the latest once it passes walEscalate times that, where a try waits
// busy_timeout).
func TestWALBoundedWithSnapshots(t *testing.T) {
	defer func(b int64, e, d time.Duration) { walRestartBytes, walWatchEvery, walDrainMax = b, e, d }(walRestartBytes, walWatchEvery, walDrainMax)
	// No drain: these snapshots are shorter than busy_timeout, so the
	// checkpoint's own wait is enough (the drain, which lets writes go on
	// while it waits, is TestWALBoundedWithLongSnapshots' case).
	walRestartBytes, walWatchEvery, walDrainMax = 4<<20, 10*time.Millisecond, 0
	path := filepath.Join(t.TempDir(), "snap.db")
	s := openTest(t, "sqlite:"+path)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Two holders, staggered: a snapshot is open at every moment.
	var holder sync.WaitGroup
	for h := range 2 {
		holder.Go(func() {
			time.Sleep(time.Duration(h) * 300 * time.Millisecond)
			for ctx.Err() == nil {
				tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
				if err != nil {
					continue
				}
				_, _ = tx.Count(ctx)
				time.Sleep(600 * time.Millisecond)
				_ = tx.Rollback(context.Background())
			}
		})
	}
	for range 2 { // and readers always busy
		holder.Go(func() {
			for ctx.Err() == nil {
				_, _ = s.Get(ctx, "k1")
			}
		})
	}
	val := strings.Repeat("v", 32<<10)
	var maxWAL int64
	for i := range 600 { // about 20 MB
		if err := s.Set(ctx, fmt.Sprintf("k%d", i%64), val); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > maxWAL {
			maxWAL = fi.Size()
		}
	}
	cancel()
	holder.Wait()
	t.Logf("largest WAL %.1f MB with snapshots held back to back", float64(maxWAL)/1e6)
	// 40 MB without the restart (the change log writes each value twice).
	// The snapshots outlast a short try's wait (walShortWait), so the WAL
	// grows to walEscalate times the restart point (16 MiB), where a try
	// waits busy_timeout: 16.9 MB seen under -race at load 12; room for a
	// loaded machine.
	if limit := int64(24 << 20); maxWAL > limit {
		t.Errorf("the WAL reached %d bytes, more than %d", maxWAL, limit)
	}
}

// TestWALBoundedWithLongSnapshots: the soak's load in small: writers of
// single writes and transactions over many keys, readers of batches, and a
// read-only transaction after another, each held longer than busy_timeout.
// The TRUNCATE checkpoint alone waits busy_timeout for the snapshots open
// when it has copied the WAL, fails nearly every time, and the WAL grows
// with everything written (storebench -soak saw 2.4 GB after 15 minutes);
// the restarter drains the read-only transactions first (new ones wait),
// so the checkpoint waits only for plain reads.
func TestWALBoundedWithLongSnapshots(t *testing.T) {
	lowWALRestart(t, 4<<20)
	path := filepath.Join(t.TempDir(), "long.db")
	s := openTest(t, "sqlite:"+path+"?busy_timeout=200")
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	const keys = 20000
	val := strings.Repeat("v", 1024)
	var wg sync.WaitGroup
	var snapshots, writes atomic.Int64
	var maxWAL atomic.Int64
	wg.Go(func() { // one read-only transaction after another
		for ctx.Err() == nil {
			tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
			if err != nil {
				continue
			}
			if _, err := tx.Count(ctx); err == nil {
				snapshots.Add(1)
			}
			time.Sleep(600 * time.Millisecond) // longer than busy_timeout
			_ = tx.Rollback(context.Background())
		}
	})
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("k%d", (i*7919+w*104729)%keys)
				var err error
				if i%4 == 0 {
					err = txmanager.RunInTx(ctx, s, storage.TxOptions{}, func(tx storage.Tx) error {
						for j := range 5 {
							if err := tx.Set(ctx, fmt.Sprintf("%s-%d", k, j), val); err != nil {
								return err
							}
						}
						return nil
					})
				} else {
					err = s.Set(ctx, k, val)
				}
				if err == nil {
					writes.Add(1)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				_, _ = s.GetMany(ctx, []string{fmt.Sprintf("k%d", i%keys), fmt.Sprintf("k%d", (i+1)%keys)})
			}
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > maxWAL.Load() {
				maxWAL.Store(fi.Size())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	wg.Wait()
	t.Logf("largest WAL %.1f MB; %d writes, %d snapshots longer than busy_timeout", float64(maxWAL.Load())/1e6, writes.Load(), snapshots.Load())
	if snapshots.Load() < 4 {
		t.Errorf("only %d snapshots were taken: the read-only transactions starved", snapshots.Load())
	}
	// Without the restart the WAL holds everything written: 526 MB (23,381
	// writes) on a quiet machine, ~180 MB at the ~8,000 writes a loaded
	// one manages. With it, 12-26 MB quiet, and up to 66 MB seen at load
	// 20 (2026-12-04; the restarter and its checkpoint get less CPU while
	// the writers fill the WAL): the bound leaves room for that.
	if limit := int64(96 << 20); maxWAL.Load() > limit {
		t.Errorf("the WAL reached %d bytes, more than %d", maxWAL.Load(), limit)
	}
}

// TestWALDrain: while a drain runs, a read-only transaction's Begin waits
// (bounded by its context); the drain ends when the open ones have ended,
// or after walDrainMax.
func TestWALDrain(t *testing.T) {
	r := &walRestarter{stop: make(chan struct{})}
	ctx := t.Context()
	if err := r.enterRO(ctx); err != nil {
		t.Fatal(err)
	}
	ended := make(chan func())
	go func() { ended <- r.drain(0) }()
	for { // the drain has begun once it holds the gate
		r.mu.Lock()
		d := r.draining
		r.mu.Unlock()
		if d != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	entered := make(chan error, 1)
	go func() { entered <- r.enterRO(ctx) }()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := r.enterRO(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Begin during a drain: %v; want it to wait until its context ends", err)
	}
	select {
	case <-ended:
		t.Fatal("the drain ended with a read-only transaction open")
	case err := <-entered:
		t.Fatalf("a read-only transaction began during the drain (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	r.leaveRO()
	end := <-ended
	select {
	case err := <-entered:
		t.Fatalf("a read-only transaction began before the checkpoint ended (%v)", err)
	case <-time.After(20 * time.Millisecond):
	}
	end()
	if err := <-entered; err != nil {
		t.Fatal(err)
	}
	// A transaction that stays open past walDrainMax does not hold the
	// drain forever.
	defer func(d time.Duration) { walDrainMax = d }(walDrainMax)
	walDrainMax = 30 * time.Millisecond
	start := time.Now()
	r.drain(0)()
	if d := time.Since(start); d < walDrainMax || d > 5*time.Second {
		t.Errorf("a drain with a transaction open took %v; want about %v", d, walDrainMax)
	}
	r.leaveRO()
}

// TestWALBoundedOtherSingleWrites: the single writes other than a plain
// Set (create-only, replace-only, compare-and-swap) also let SQLite
// checkpoint: each steps its statement to SQLITE_DONE (walhook.go). With
// no reader to hold a snapshot, the WAL is reused from its start after
// each automatic checkpoint and stays near its checkpoint point (1000
// pages); a WAL never checkpointed holds everything written (over 30 MB
// per kind here: the values and their change log rows).
func TestWALBoundedOtherSingleWrites(t *testing.T) {
	const (
		valueSize = 32 << 10
		writes    = 500
		keys      = 64
	)
	val := strings.Repeat("v", valueSize)
	for _, kind := range []string{"create-only", "replace-only", "if-version"} {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "wal.db")
			s := openTest(t, "sqlite:"+path, WithSweepInterval(-1))
			defer s.Close()
			if kind != "create-only" {
				for i := range keys {
					if err := s.Set(ctx, fmt.Sprintf("k%d", i), "x"); err != nil {
						t.Fatal(err)
					}
				}
			}
			var maxWAL int64
			for i := range writes {
				var err error
				k := fmt.Sprintf("k%d", i%keys)
				switch kind {
				case "create-only":
					k = fmt.Sprintf("k%d", i)
					err = s.Set(ctx, k, val, storage.NoOverwrite())
				case "replace-only":
					err = s.Set(ctx, k, val, storage.MustExist())
				case "if-version":
					// Every key was written once above, then once per
					// round of keys writes.
					err = s.Set(ctx, k, val, storage.IfVersion(int64(1+i/keys)))
				}
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if fi, err := os.Stat(path + "-wal"); err == nil {
					maxWAL = max(maxWAL, fi.Size())
				}
			}
			t.Logf("%s: %d writes of %d KiB: largest WAL %.1f MB", kind, writes, valueSize>>10, float64(maxWAL)/1e6)
			if limit := int64(12 << 20); maxWAL > limit {
				t.Errorf("the WAL reached %d bytes, more than %d: it is not checkpointed", maxWAL, limit)
			}
		})
	}
}

// TestWALRestartBesideLongReads: plain reads that last (a count or an
// unindexed query over a large namespace takes seconds; storeserver admits
// them from any principal up to its request timeout), running back to back
// and overlapping, must not stall every write each time the WAL passes
// walRestartBytes. The TRUNCATE checkpoint held the writer while it waited
// (up to busy_timeout) for the reads open when it began, and again for
// those open when its copy ended: each try stalled every write for about
// as long as the reads, and tried again as soon as the WAL passed the
// restart point again. The reads here are cursors held open on the
// readers' pool, the pool Count and Query read on, each for readFor.
// Below walEscalate times the restart point a try waits only briefly and
// fails (phase 1); past it, it waits as long as before, so that the WAL
// stays bounded however long the reads overlap (phase 2).
func TestWALRestartBesideLongReads(t *testing.T) {
	lowWALRestart(t, 2<<20)
	path := filepath.Join(t.TempDir(), "reads.db")
	s := openTest(t, "sqlite:"+path+"?busy_timeout=5000")
	defer s.Close()
	e := s.eng.(*sqliteEngine)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const readFor = 2 * time.Second
	var readers sync.WaitGroup
	var reads atomic.Int64
	for r := range 2 { // staggered: a read older than the last write is open at every moment
		readers.Go(func() {
			sleepCtx(ctx, time.Duration(r)*readFor/2)
			for ctx.Err() == nil {
				rows, err := e.r.QueryContext(ctx, "SELECT name FROM sqlite_master")
				if err != nil {
					continue
				}
				if rows.Next() { // the read's snapshot stays open until Close
					sleepCtx(ctx, readFor)
					reads.Add(1)
				}
				_ = rows.Close()
			}
		})
	}
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	val := strings.Repeat("v", 4<<10)
	var i int
	// set writes one entry and returns how long it took.
	set := func() time.Duration {
		start := time.Now()
		if err := s.Set(ctx, fmt.Sprintf("k%d", i%500), val); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		i++
		return time.Since(start)
	}
	time.Sleep(readFor) // both readers are reading
	// Phase 1: up to 3 times the restart point, at most 6 s.
	var slowest1 time.Duration
	var maxWAL1 int64
	start := time.Now()
	for time.Since(start) < 6*time.Second {
		slowest1 = max(slowest1, set())
		w := walSize()
		maxWAL1 = max(maxWAL1, w)
		if w > 3*walRestartBytes {
			break
		}
	}
	phase1, writes1 := time.Since(start), i
	// Phase 2: on to past walEscalate times the restart point, until a
	// restart empties the WAL (at most 30 s).
	var slowest2 time.Duration
	var maxWAL2 int64
	var restarted bool
	start = time.Now()
	for time.Since(start) < 30*time.Second {
		slowest2 = max(slowest2, set())
		w := walSize()
		if w < maxWAL2/2 && maxWAL2 > walRestartBytes {
			restarted = true
			break
		}
		maxWAL2 = max(maxWAL2, w)
	}
	phase2 := time.Since(start)
	cancel()
	readers.Wait()
	t.Logf("phase 1: %d writes in %v, largest WAL %.1f MB, slowest set %v", writes1, phase1.Round(time.Millisecond), float64(maxWAL1)/1e6, slowest1.Round(time.Millisecond))
	t.Logf("phase 2: %d writes in %v, largest WAL %.1f MB, slowest set %v, restarted %v; %d reads of %v", i-writes1, phase2.Round(time.Millisecond), float64(maxWAL2)/1e6, slowest2.Round(time.Millisecond), restarted, reads.Load(), readFor)
	if maxWAL1 <= walRestartBytes {
		t.Fatalf("phase 1: the WAL reached %d bytes, not past the restart point %d", maxWAL1, walRestartBytes)
	}
	// Before: 2-3 s (the reads' length, up to busy_timeout).
	if limit := time.Second; slowest1 > limit {
		t.Errorf("phase 1: a set took %v beside long reads, more than %v: the WAL's restart held the writer while it waited for them", slowest1, limit)
	}
	if !restarted {
		t.Errorf("phase 2: the WAL was not restarted (largest %d bytes)", maxWAL2)
	}
	if limit := 8 * walRestartBytes; maxWAL2 > limit {
		t.Errorf("phase 2: the WAL reached %d bytes, more than %d", maxWAL2, limit)
	}
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// TestWALRestartRestoresBusyTimeout: a short try sets the writer's
// busy_timeout for its checkpoint only; it is the store's again after the
// try, and when setting it back fails the connection is discarded (the
// next one takes it from the DSN).
func TestWALRestartRestoresBusyTimeout(t *testing.T) {
	defer func(f bool) { walRestoreFails = f }(walRestoreFails)
	ctx := t.Context()
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "busy.db")+"?busy_timeout=3000")
	defer s.Close()
	e := s.eng.(*sqliteEngine)
	busyTimeout := func() int {
		var ms int
		must(t, e.w.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&ms))
		return ms
	}
	must(t, s.Set(ctx, "k", 1))
	for _, fails := range []bool{false, true} {
		walRestoreFails = fails
		if !e.walr.truncate(ctx, 50*time.Millisecond) {
			t.Errorf("restore fails %v: a checkpoint with no reader did not empty the WAL", fails)
		}
		if ms := busyTimeout(); ms != 3000 {
			t.Errorf("restore fails %v: busy_timeout is %d ms after a short try; want 3000", fails, ms)
		}
		must(t, s.Set(ctx, "k", 2))
	}
	walRestoreFails = false
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if e.walr.truncate(cancelled, 50*time.Millisecond) {
		t.Error("a try under a cancelled context reported success")
	}
	if ms := busyTimeout(); ms != 3000 {
		t.Errorf("busy_timeout is %d ms after a cancelled try; want 3000", ms)
	}
}

// lowWALRestart lowers walRestartBytes to restart and walWatchEvery to 20
// ms for t.
func lowWALRestart(t *testing.T, restart int64) {
	b, e := walRestartBytes, walWatchEvery
	t.Cleanup(func() { walRestartBytes, walWatchEvery = b, e })
	walRestartBytes, walWatchEvery = restart, 20*time.Millisecond
}
