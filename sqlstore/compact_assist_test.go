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
)

// TestCompactAssistKeepsPace: 4 writers write batches of 1000 as fast as
// they can into a store that keeps 2000 changes, with the sweeper running
// every 100 ms. The sweeper alone compacts 500 changes a writer turn while
// the writers add 1000 each, so the log grew for as long as they wrote
// (the hour-long soak, bench/results/2026-12-05-soak3.md: 897k changes
// kept for 50k); the writers' compaction assist keeps it within Changes +
// compactMargin + what the writers have in flight (a batch and the check
// interval each), by rule rather than by timing: each writer removes twice
// what it adds before it writes again. Compaction never cuts into the
// window, a watch of the whole store sees increasing revisions and ends at
// the last, and History lists only retained changes.
func TestCompactAssistKeepsPace(t *testing.T) {
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) {
			const window, writers, batch = 2000, 4, 1000
			s := openTest(t, c.dsn(t), WithRetention(Retention{Changes: window}), WithSweepInterval(100*time.Millisecond))
			defer s.Close()
			ctx := t.Context()
			must(t, s.CreateNamespace(ctx, "w"))
			bound := window + s.compactMargin() + writers*(batch+compactCheckEvery)

			// A watch of the whole store, from now on.
			wctx, stopWatch := context.WithCancel(ctx)
			defer stopWatch()
			var watchLast atomic.Int64
			watchErr := make(chan error, 1)
			from := head(t, s)
			go func() {
				watchErr <- func() error {
					for wctx.Err() == nil {
						for ev, err := range s.Watch(wctx, storage.FromRevision(from)) {
							var ce *storage.CompactedError
							var le *storage.LaggedError
							switch {
							case err == nil:
								if ev.Revision <= from {
									return fmt.Errorf("watch: revision %d after %d", ev.Revision, from)
								}
								from = ev.Revision
								watchLast.Store(from)
								continue
							case errors.As(err, &ce):
								if ce.Oldest <= from+1 {
									return fmt.Errorf("watch: compacted at %d, oldest %d: nothing it had not seen was removed", from, ce.Oldest)
								}
								from = ce.Oldest - 1
							case errors.As(err, &le):
								from = le.Last
							case wctx.Err() != nil:
								return nil
							default:
								return err
							}
							break
						}
					}
					return nil
				}()
			}()

			// The log's length, sampled while the writers write.
			done := make(chan struct{})
			var maxLen, samples int64
			var sampleErr error
			var sampled sync.WaitGroup
			sampled.Add(1)
			go func() {
				defer sampled.Done()
				for {
					var n int64
					if err := s.eng.reader().queryRows(ctx, "SELECT count(*) FROM changes", nil, func(r rowScanner) error { return r.Scan(&n) }); err != nil {
						sampleErr = err
						return
					}
					st, err := s.logState(ctx, s.eng.reader())
					if err != nil {
						sampleErr = err
						return
					}
					if st.head > window && st.compacted > st.head-window {
						sampleErr = fmt.Errorf("compacted through %d at head %d: inside the window of %d changes", st.compacted, st.head, window)
						return
					}
					maxLen, samples = max(maxLen, n), samples+1
					select {
					case <-done:
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
			}()

			// The writers: at least 6 batches each (24,000 changes, which
			// the sweeper alone leaves far past the bound), for at least 2 s.
			const minRounds = 6
			until := time.Now().Add(2 * time.Second)
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			var written atomic.Int64
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					items := make([]storage.Item, batch)
					for round := 0; round < minRounds || time.Now().Before(until); round++ {
						for i := range items {
							items[i] = storage.Item{Key: fmt.Sprintf("k%d-%d", w, i), Value: map[string]int{"round": round}}
						}
						res, err := s.SetMany(ctx, items, storage.InNamespace("w"))
						if err == nil {
							err = res.Err()
						}
						if err != nil {
							errs <- err
							return
						}
						written.Add(batch)
					}
				}()
			}
			wg.Wait()
			close(done)
			sampled.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if sampleErr != nil {
				t.Fatal(sampleErr)
			}
			t.Logf("%d changes written, %d samples of the log: at most %d changes (bound %d)", written.Load(), samples, maxLen, bound)
			if maxLen > bound {
				t.Errorf("the change log held %d changes while the writers wrote; want at most %d (Changes %d + margin %d + %d writers × (batch %d + check interval %d))",
					maxLen, bound, window, s.compactMargin(), writers, batch, compactCheckEvery)
			}

			// The watch reaches the last change.
			last := head(t, s)
			for deadline := time.Now().Add(time.Minute); watchLast.Load() < last; {
				if time.Now().After(deadline) {
					t.Fatalf("the watch is at %d, the store at %d", watchLast.Load(), last)
				}
				select {
				case err := <-watchErr:
					t.Fatalf("the watch ended: %v", err)
				case <-time.After(10 * time.Millisecond):
				}
			}
			stopWatch()
			if err := <-watchErr; err != nil {
				t.Fatal(err)
			}

			// History lists the key's retained changes, the last among them.
			st, err := s.logState(ctx, s.eng.reader())
			must(t, err)
			evs, err := s.History(ctx, "k0-0", storage.InNamespace("w"))
			must(t, err)
			e, err := s.Get(ctx, "k0-0", storage.InNamespace("w"))
			must(t, err)
			for _, ev := range evs {
				if ev.Revision <= st.compacted {
					t.Errorf("History lists revision %d, compacted through %d", ev.Revision, st.compacted)
				}
			}
			if e.Revision > st.compacted && (len(evs) == 0 || (evs[0].Revision != e.Revision && evs[len(evs)-1].Revision != e.Revision)) {
				t.Errorf("History of k0-0 (revision %d, compacted through %d): %d events without its last change", e.Revision, st.compacted, len(evs))
			}
		})
	}
}

// logLen is how many changes the log holds.
func logLen(t *testing.T, s *Store) int64 {
	t.Helper()
	var n int64
	must(t, s.eng.reader().queryRows(t.Context(), "SELECT count(*) FROM changes", nil, func(r rowScanner) error { return r.Scan(&n) }))
	return n
}

// tx3 creates namespace w in s and writes 3000 changes to it, in batches
// of 1000, through ops (nil: a transaction of s, left open and returned).
func tx3(t *testing.T, s *Store, ops storage.Ops) storage.Tx {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, "w"))
	var tx storage.Tx
	if ops == nil {
		var err error
		tx, err = s.Begin(ctx, storage.TxOptions{})
		must(t, err)
		ops = tx
	}
	items := make([]storage.Item, 1000)
	for round := range 3 {
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("k%d", i), Value: round}
		}
		_, err := ops.SetMany(ctx, items, storage.InNamespace("w"))
		must(t, err)
	}
	return tx
}

// TestCompactAssistWhen: a commit's changes count for the assist as a
// write's do; with the sweeper off (compaction by hand), or a retention of
// age alone, writes never compact; a cancelled caller's context leaves
// what is owed to the next writer and compacts nothing.
func TestCompactAssistWhen(t *testing.T) {
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			t.Run("commit", func(t *testing.T) {
				s := openTest(t, c.dsn(t), WithRetention(Retention{Changes: 100}))
				defer s.Close()
				must(t, tx3(t, s, nil).Commit(ctx))
				if n, most := logLen(t, s), 100+s.compactMargin(); n > most {
					t.Errorf("after a commit of 3000 changes the log holds %d; want at most %d", n, most)
				}
			})
			for _, o := range []struct {
				name string
				opts []Option
			}{
				{"sweeper off", []Option{WithRetention(Retention{Changes: 100}), WithSweepInterval(-1)}},
				{"age only", []Option{WithRetention(Retention{Age: time.Nanosecond})}},
			} {
				t.Run(o.name, func(t *testing.T) {
					s := openTest(t, c.dsn(t), o.opts...)
					defer s.Close()
					tx3(t, s, s)
					if n := logLen(t, s); n < 3000 {
						t.Errorf("the log holds %d changes of 3000 written: writes compacted", n)
					}
				})
			}
			t.Run("cancelled", func(t *testing.T) {
				s := openTest(t, c.dsn(t), WithRetention(Retention{Changes: 100}))
				defer s.Close()
				// Written in a transaction whose commit's count is taken
				// back: the log is far past its margin, and nothing is owed.
				tx := tx3(t, s, nil)
				tx.(*sqlTx).changes = 0
				must(t, tx.Commit(ctx))
				before := logLen(t, s)
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				s.wroteChanges(cctx, 1000)
				if n := logLen(t, s); n != before {
					t.Errorf("a write with a cancelled context compacted: %d changes, %d before", n, before)
				}
				if owed := s.assist.owed.Load(); owed != 1000 {
					t.Errorf("owed after the cancelled assist: %d, want 1000", owed)
				}
				// The next write pays it: twice what is owed, no more.
				s.wroteChanges(ctx, 0)
				if n, want := logLen(t, s), max(before-2000, 100); n != want {
					t.Errorf("the next write left %d changes of %d; want %d", n, before, want)
				}
			})
		})
	}
}

// TestCompactAssistCountAllocs: counting a write's changes allocates
// nothing.
func TestCompactAssistCountAllocs(t *testing.T) {
	s := openTest(t, configs[1].dsn(t), WithRetention(Retention{Changes: 1_000_000}))
	defer s.Close()
	ctx := t.Context()
	if a := testing.AllocsPerRun(1000, func() { s.wroteChanges(ctx, 1) }); a != 0 {
		t.Errorf("wroteChanges: %v allocations a call, want 0", a)
	}
}

// BenchmarkCompactAssistTrigger is the write path's cost of the assist
// when it never compacts: count is the count alone (a write that does not
// reach compactCheckEvery), check a write of one change each time, with
// the read of the log's state every compactCheckEvery of them.
func BenchmarkCompactAssistTrigger(b *testing.B) {
	s := openTest(b, testdb.SQLiteFile(b), WithRetention(Retention{Changes: 1_000_000}))
	defer s.Close()
	ctx := b.Context()
	b.Run("count", func(b *testing.B) {
		for b.Loop() {
			s.wroteChanges(ctx, 1)
			s.assist.owed.Store(0)
		}
	})
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			s.wroteChanges(ctx, 1)
		}
	})
}
