package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestSweepShared runs two stores on one database (two connections to one
// SQLite file, two pools on one PostgreSQL schema) that sweep at the same
// time while a writer revives some expired keys and adds live ones: every
// expired row is removed exactly once, and no live row is touched.
func TestSweepShared(t *testing.T) {
	for _, c := range configs {
		if c.name == "sqlite-memory" {
			continue // one connection: nothing to share
		}
		t.Run(c.name, func(t *testing.T) {
			dsn := c.dsn(t)
			clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
			var mu sync.Mutex
			swept := map[string]int{}
			hook := func(rows []SweptRow) {
				mu.Lock()
				defer mu.Unlock()
				for _, r := range rows {
					swept[r.Key]++
				}
			}
			var stores [2]*Store
			for i := range stores {
				stores[i] = openTest(t, dsn, WithClock(clock.Now), WithSweepInterval(-1), WithSweepBatch(7), withSweepHook(hook))
				t.Cleanup(func() { _ = stores[i].Close() })
			}
			ctx := t.Context()
			const n = 400
			var items []storage.Item
			for i := range n {
				it := storage.Item{Key: fmt.Sprintf("k%03d", i), Value: i}
				switch i % 4 {
				case 0, 1:
					it.TTL = time.Duration(1+i%3) * time.Second // expire
				case 2:
					it.TTL = time.Hour // live
				}
				items = append(items, it)
			}
			res, err := stores[0].SetMany(ctx, items)
			if err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			clock.Advance(3 * time.Second)

			// Sweep from both stores while a writer revives every fourth
			// expired key (i%8 == 0) and adds new live keys.
			revived := map[string]bool{}
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			for _, s := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.Sweep(ctx); err != nil {
						errs <- err
					}
				}()
			}
			for i := 0; i < n; i += 8 {
				k := fmt.Sprintf("k%03d", i)
				revived[k] = true
				if err := stores[1].Set(ctx, k, "revived"); err != nil {
					t.Fatalf("Set(%q): %v", k, err)
				}
				if err := stores[1].Set(ctx, fmt.Sprintf("new%03d", i), i, storage.WithTTL(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("Sweep: %v", err)
			}
			// A last pass: what the writer revived after a sweeper had
			// passed is no longer expired, the rest is gone.
			if _, err := stores[0].Sweep(ctx); err != nil {
				t.Fatal(err)
			}

			for k, times := range swept {
				if times != 1 {
					t.Errorf("key %q swept %d times", k, times)
				}
			}
			for i := range n {
				k := fmt.Sprintf("k%03d", i)
				expired := i%4 < 2
				e, err := stores[1].Get(ctx, k)
				switch {
				case revived[k]:
					if err != nil || string(e.Value) != `"revived"` {
						t.Errorf("revived %q: %s, %v", k, e.Value, err)
					}
				case expired:
					if !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("expired %q: %v, want ErrNotFound", k, err)
					}
					if swept[k] != 1 {
						t.Errorf("expired %q swept %d times, want 1", k, swept[k])
					}
				default:
					if err != nil {
						t.Errorf("live %q: %v", k, err)
					}
					if swept[k] != 0 {
						t.Errorf("live %q was swept", k)
					}
				}
				if !expired && swept[k] != 0 {
					t.Errorf("live %q was swept", k)
				}
			}
			// No expired row is left, and the counts agree.
			var left int64
			q, args := `SELECT count(*) FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?`, []any{micros(clock.Now())}
			if stores[0].Dialect() != "sqlite" {
				q, args = `SELECT count(*) FROM entries WHERE expires_at <= $1`, []any{clock.Now()}
			}
			if err := stores[0].eng.reader().queryRows(ctx, q, args, func(r rowScanner) error { return r.Scan(&left) }); err != nil {
				t.Fatal(err)
			}
			if left != 0 {
				t.Errorf("%d expired rows left after sweeping", left)
			}
			st, err := stores[0].Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(n/2 + 2*(n/8)); st.Size != want {
				t.Errorf("Status().Size = %d, want %d", st.Size, want)
			}
			checkInvariants(t, stores[0])
		})
	}
}

// TestSweeperBackground checks that the background sweeper runs on its
// interval and stops with Close.
func TestSweeperBackground(t *testing.T) {
	swept := make(chan []SweptRow, 16)
	s := openTest(t, "sqlite::memory:", WithSweepInterval(10*time.Millisecond),
		withSweepHook(func(rows []SweptRow) { swept <- rows }))
	ctx := t.Context()
	if err := s.Set(ctx, "k", 1, storage.WithTTL(time.Microsecond)); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "live", 1, storage.WithTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	select {
	case rows := <-swept:
		if len(rows) != 1 || rows[0].Key != "k" || rows[0].Version != 1 {
			t.Errorf("swept %+v, want k at version 1", rows)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the background sweeper did not run")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.sweeper != nil {
		done := make(chan struct{})
		go func() { s.sweeper.done.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the sweeper still runs after Close")
		}
	}
}

// TestSweepBounded checks that one sweeper statement deletes at most its
// batch, oldest expiry first.
func TestSweepBounded(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			var items []storage.Item
			for i := range 20 {
				items = append(items, storage.Item{Key: fmt.Sprintf("k%02d", i), Value: i, TTL: time.Duration(20-i) * time.Second})
			}
			if res, err := s.SetMany(ctx, items); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			clock.Advance(time.Minute)
			rows, err := s.sweepBatch(ctx, clock.Now(), 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 5 {
				t.Fatalf("a batch of 5 swept %d rows", len(rows))
			}
			for _, r := range rows {
				var i int
				if _, err := fmt.Sscanf(r.Key, "k%02d", &i); err != nil || i < 15 {
					t.Errorf("swept %q, not one of the 5 oldest expiries (k15..k19)", r.Key)
				}
			}
			n, err := s.Sweep(ctx)
			if err != nil || n != 15 {
				t.Errorf("Sweep = %d, %v; want 15", n, err)
			}
			checkInvariants(t, s)
		})
	}
}

// TestSweepLetsWritersIn checks that a sweep never holds the SQLite writer
// for long: while Sweep removes 10,000 expired rows in batches of 100, a
// writer in the same store and one in a second store on the same file
// (another process's connection, which waits on SQLite's lock, not on the
// store's pool) each complete Sets (with a 10 s deadline) again and again
// between the sweep's first and last batches, not after it.
func TestSweepLetsWritersIn(t *testing.T) {
	for _, other := range []bool{false, true} {
		name := "same-store"
		if other {
			name = "other-store"
		}
		t.Run(name, func(t *testing.T) {
			dsn := testdb.SQLiteFile(t)
			clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
			var batches atomic.Int64
			var marks []int64 // writes done at each batch's end
			var writes atomic.Int64
			s := openTest(t, dsn, WithClock(clock.Now), WithSweepInterval(-1), WithSweepBatch(100),
				withSweepHook(func([]SweptRow) { batches.Add(1); marks = append(marks, writes.Load()) }))
			t.Cleanup(func() { _ = s.Close() })
			w := s
			if other {
				w = openTest(t, dsn, WithClock(clock.Now), WithSweepInterval(-1))
				t.Cleanup(func() { _ = w.Close() })
			}
			ctx := t.Context()
			const n = 10000
			for i := 0; i < n; i += 1000 {
				items := make([]storage.Item, 1000)
				for j := range items {
					items[j] = storage.Item{Key: fmt.Sprintf("e%05d", i+j), Value: j, TTL: time.Second}
				}
				if res, err := s.SetMany(ctx, items); err != nil || !res.OK() {
					t.Fatalf("SetMany: %v %v", err, res.Err())
				}
			}
			clock.Advance(2 * time.Second)

			stop := make(chan struct{})
			var worst time.Duration
			var failed []error
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					// The deadline bounds a wait far above one batch (~10 ms;
					// 0.9 s under -race at load 9, where a Set queued behind
					// two batches missed a 2 s deadline); the marks below are
					// the check that writes get in between batches.
					wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					start := time.Now()
					err := w.Set(wctx, fmt.Sprintf("w%05d", i), i)
					cancel()
					if err != nil {
						failed = append(failed, err)
						return
					}
					worst = max(worst, time.Since(start))
					writes.Add(1)
					time.Sleep(5 * time.Millisecond) // a steady writer, not a flood
				}
			}()
			start := time.Now()
			swept, err := s.Sweep(ctx)
			took := time.Since(start)
			close(stop)
			<-done
			if err != nil || swept != n {
				t.Fatalf("Sweep = %d, %v; want %d", swept, err, n)
			}
			for _, err := range failed {
				t.Errorf("a Set during the sweep: %v", err)
			}
			// Writes completed between the first batch and the last, in
			// every tenth of the sweep.
			if len(marks) != n/100 {
				t.Fatalf("%d batches, want %d", len(marks), n/100)
			}
			tenth := len(marks) / 10
			for k := 0; k+tenth < len(marks); k += tenth {
				if marks[k+tenth] == marks[k] {
					t.Errorf("no write got in between batches %d and %d (of %d)", k+1, k+tenth+1, len(marks))
				}
			}
			t.Logf("sweep of %d rows in %d batches took %v; %d writes during it (%d between its first and last batch), the slowest %v",
				n, batches.Load(), took, writes.Load(), marks[len(marks)-1]-marks[0], worst)
		})
	}
}
