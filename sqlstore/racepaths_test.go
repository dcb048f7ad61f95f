package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// The tests of this file race the paths the fault tests (fault_test.go)
// do not drive (imports, exports, the change log's readers, the sweeper)
// against namespace deletes, clears, compaction and cancelled contexts,
// and check that every error they return wraps exactly one documented
// sentinel (faultLog.typed).

// deleter deletes (recursively) and clears namespace ns until ctx ends.
func deleter(ctx context.Context, s *Store, log *faultLog, ns string) {
	in := storage.InNamespace
	for i := 0; ctx.Err() == nil; i++ {
		var err error
		if i%3 == 2 {
			err = s.Clear(ctx, in(ns))
		} else {
			err = s.DeleteNamespace(ctx, ns, storage.Recursive())
			if errors.Is(err, storage.ErrNamespaceNotFound) {
				err = nil
			}
		}
		log.typed("delete/clear", err, ctx.Err() != nil, storage.ErrTxConflict)
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
	}
}

// TestRaceRestoreNamespaceDelete races imports (Restore, RestoreNamespace)
// into a namespace against its recursive deletes and clears: an import
// that lost its namespace is ErrTxConflict (RunInTx's retry recreates
// it), never an internal error.
func TestRaceRestoreNamespaceDelete(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			const victim = "victim"
			log := &faultLog{}
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			now := time.Now().UTC()
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					for i := 0; ctx.Err() == nil; i++ {
						recs := make([]Record, 4)
						for j := range recs {
							recs[j] = Record{Namespace: victim, Key: fmt.Sprintf("k%d", (i+j)%8), Value: []byte(fmt.Sprint(i)), Metadata: []byte(`{}`),
								Version: 1, CreatedAt: now, UpdatedAt: now}
						}
						mode := ConflictOverwrite
						if (i+w)%2 == 1 {
							mode = ConflictSkip
						}
						_, err := s.Restore(ctx, recs, mode)
						log.typed("Restore", err, ctx.Err() != nil, storage.ErrTxConflict)
					}
				})
			}
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					_, err := s.RestoreNamespace(ctx, NamespaceRecord{Name: victim, Metadata: []byte(`{}`), CreatedAt: now,
						Indexes: []string{"v"}}, ConflictOverwrite)
					log.typed("RestoreNamespace", err, ctx.Err() != nil, storage.ErrTxConflict, storage.ErrNamespaceExists)
				}
			})
			wg.Go(func() { // writes, which create the namespace again
				for i := 0; ctx.Err() == nil; i++ {
					err := s.Set(ctx, fmt.Sprintf("k%d", i%8), map[string]int{"v": i}, storage.InNamespace(victim))
					log.typed("Set", err, ctx.Err() != nil, storage.ErrTxConflict)
				}
			})
			wg.Go(func() { deleter(ctx, s, log, victim) })
			wg.Wait()
			log.report(t)
			checkIndexes(t, s)
			checkInvariants(t, s)
		})
	}
}

// checkCompacted fails when err is an ErrCompacted that does not name a
// retained revision after the one requested (a Get at a revision may name
// a later one: the key's last change before it was compacted, AtRevision).
func checkCompacted(log *faultLog, what string, err error) {
	var ce *storage.CompactedError
	if errors.As(err, &ce) && ce.Oldest <= ce.Requested && what != "Get at" {
		log.typed(what, fmt.Errorf("storage: %s: a CompactedError with oldest %d for requested %d", what, ce.Oldest, ce.Requested), false)
	}
}

// TestRaceChangeLogReaders races the change log's readers (Watch resumed
// from a past revision, History, Get at a revision) against writes,
// compaction, recursive deletes and clears of their namespace, and their
// own contexts ending: every error is ErrCompacted (naming a later oldest
// revision), ErrNotFound for a Get, or the context's.
func TestRaceChangeLogReaders(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithRetention(Retention{Changes: 30}), WithSweepInterval(-1), WithSweepBatch(7),
				WithWatchPollInterval(5*time.Millisecond))
			defer s.Close()
			const victim, stable = "victim", "stable"
			in := storage.InNamespace
			log := &faultLog{}
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			var wg sync.WaitGroup
			wg.Go(func() { // writes
				for i := 0; ctx.Err() == nil; i++ {
					err := s.Set(ctx, fmt.Sprintf("k%d", i%5), i, in(victim))
					log.typed("Set victim", err, ctx.Err() != nil, storage.ErrTxConflict)
					err = s.SetMetadata(ctx, fmt.Sprintf("k%d", (i+1)%5), map[string]any{"i": i}, in(victim))
					log.typed("SetMetadata victim", err, ctx.Err() != nil, storage.ErrTxConflict, storage.ErrNotFound)
					err = s.Set(ctx, fmt.Sprintf("k%d", i%5), i, in(stable))
					log.typed("Set stable", err, ctx.Err() != nil, storage.ErrTxConflict)
				}
			})
			wg.Go(func() { // compaction
				for ctx.Err() == nil {
					_, err := s.Compact(ctx)
					log.typed("Compact", err, ctx.Err() != nil, storage.ErrTxConflict)
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				}
			})
			wg.Go(func() { deleter(ctx, s, log, victim) })
			past := func() int64 {
				st, err := s.Status(ctx)
				if err != nil {
					log.typed("Status", err, ctx.Err() != nil)
					return 0
				}
				return max(0, st.Revision-int64(rand.IntN(60)))
			}
			for w := range 2 {
				wg.Go(func() { // watches resumed from a past revision
					for ctx.Err() == nil {
						wctx, wcancel := context.WithTimeout(ctx, time.Duration(1+rand.IntN(50))*time.Millisecond)
						opts := []storage.Option{storage.FromRevision(past())}
						if w == 0 {
							opts = append(opts, in(victim))
						}
						for _, err := range s.Watch(wctx, opts...) {
							if err != nil {
								log.typed("Watch", err, wctx.Err() != nil, storage.ErrCompacted)
								checkCompacted(log, "Watch", err)
							}
						}
						wcancel()
					}
				})
			}
			wg.Go(func() { // History and Get at a revision
				for i := 0; ctx.Err() == nil; i++ {
					cctx, ccancel := context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
					if i%4 != 0 {
						cctx, ccancel = ctx, func() {}
					}
					ns := victim
					if i%3 == 0 {
						ns = stable
					}
					key := fmt.Sprintf("k%d", i%5)
					_, err := s.History(cctx, key, in(ns), storage.FromRevision(past()))
					log.typed("History from", err, cctx.Err() != nil, storage.ErrCompacted)
					checkCompacted(log, "History from", err)
					_, err = s.History(cctx, key, in(ns))
					log.typed("History", err, cctx.Err() != nil)
					if r := past(); r > 0 {
						_, err = s.Get(cctx, key, in(ns), storage.AtRevision(r))
						log.typed("Get at", err, cctx.Err() != nil, storage.ErrCompacted, storage.ErrNotFound)
						checkCompacted(log, "Get at", err)
					}
					ccancel()
				}
			})
			wg.Wait()
			log.report(t)
		})
	}
}

// TestRaceExportSweep races Export (of one namespace and of all) and the
// TTL sweeper against writes of expiring entries, deletes, recursive
// deletes and clears of their namespace, and contexts that end while they
// run: Export's errors are ErrNamespaceNotFound (the namespace it was asked
// for is gone) or the context's, the sweeper's ErrTxConflict or the
// context's.
func TestRaceExportSweep(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1), WithSweepBatch(5))
			defer s.Close()
			const victim = "victim"
			in := storage.InNamespace
			log := &faultLog{}
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			var wg sync.WaitGroup
			wg.Go(func() { // expiring writes and deletes
				for i := 0; ctx.Err() == nil; i++ {
					k := fmt.Sprintf("k%d", i%40)
					err := s.Set(ctx, k, i, in(victim), storage.WithTTL(time.Duration(1+rand.IntN(3))*time.Millisecond))
					log.typed("Set", err, ctx.Err() != nil, storage.ErrTxConflict)
					if i%3 == 0 {
						err = s.Delete(ctx, fmt.Sprintf("k%d", (i+7)%40), in(victim))
						log.typed("Delete", err, ctx.Err() != nil, storage.ErrTxConflict, storage.ErrNotFound)
					}
				}
			})
			wg.Go(func() { // the sweeper
				for i := 0; ctx.Err() == nil; i++ {
					cctx, ccancel := ctx, context.CancelFunc(func() {})
					if i%3 == 0 {
						cctx, ccancel = context.WithTimeout(ctx, time.Duration(rand.IntN(2000))*time.Microsecond)
					}
					_, err := s.Sweep(cctx)
					ccancel()
					log.typed("Sweep", err, cctx.Err() != nil, storage.ErrTxConflict)
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				}
			})
			wg.Go(func() { deleter(ctx, s, log, victim) })
			for w := range 2 {
				wg.Go(func() { // exports
					for i := 0; ctx.Err() == nil; i++ {
						cctx, ccancel := ctx, context.CancelFunc(func() {})
						if i%2 == 0 {
							cctx, ccancel = context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
						}
						o := ExportOptions{PageSize: 3}
						if w == 0 {
							o.Namespace = victim
						}
						err := s.Export(cctx, o, func(NamespaceRecord) error { return nil }, func(Record) error { return nil })
						ccancel()
						log.typed("Export", err, cctx.Err() != nil, storage.ErrNamespaceNotFound)
					}
				})
			}
			wg.Wait()
			log.report(t)
			time.Sleep(10 * time.Millisecond) // every entry written has expired: the checks' Sweep changes no count
			checkInvariants(t, s)
		})
	}
}

// TestRaceTxTimeouts runs transactions whose idle timeout and maximum
// lifetime fire while their operations run or between them, against
// recursive deletes and clears of their namespace: every error is
// ErrTxDone (the transaction was rolled back under it), ErrTxConflict, a
// miss, or the context's.
func TestRaceTxTimeouts(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithTxIdleTimeout(2*time.Millisecond), WithTxMaxLifetime(15*time.Millisecond))
			defer s.Close()
			const victim = "victim"
			in := storage.InNamespace
			log := &faultLog{}
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			allowed := []error{storage.ErrTxDone, storage.ErrTxConflict, storage.ErrNotFound, storage.ErrTooManyTx}
			var wg sync.WaitGroup
			wg.Go(func() { deleter(ctx, s, log, victim) })
			for w := range 3 {
				wg.Go(func() {
					for i := 0; ctx.Err() == nil; i++ {
						tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: w == 2 && i%2 == 0})
						if err != nil {
							log.typed("Begin", err, ctx.Err() != nil, allowed...)
							continue
						}
						for j := range 4 {
							time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
							k := fmt.Sprintf("k%d", (i+j)%10)
							switch j {
							case 0:
								_, err = tx.Get(ctx, k, in(victim))
							case 1:
								_, err = tx.Query(ctx, storage.Eq("v", 1), in(victim))
							case 2:
								if tx.ReadOnly() {
									_, err = tx.Count(ctx, in(victim))
								} else {
									_, err = tx.SetMany(ctx, []storage.Item{{Key: k, Value: map[string]int{"v": i}}}, in(victim))
								}
							default:
								if !tx.ReadOnly() {
									err = tx.Set(ctx, k, map[string]int{"v": j}, in(victim))
								}
							}
							log.typed(fmt.Sprintf("tx op %d", j), err, ctx.Err() != nil, allowed...)
						}
						err = tx.Commit(ctx)
						log.typed("Commit", err, ctx.Err() != nil, allowed...)
						err = tx.Rollback(ctx)
						log.typed("Rollback", err, ctx.Err() != nil)
					}
				})
			}
			wg.Wait()
			log.report(t)
			checkInvariants(t, s)
		})
	}
}

// TestRaceIndexBuildCancelled creates and drops indexes of a namespace of
// a few thousand entries with contexts that end while the rows are built,
// beside writers, clears and queries by the field: every error is typed,
// and the declared, recorded and built indexes agree at the end.
func TestRaceIndexBuildCancelled(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			const big = "big"
			in := storage.InNamespace
			items := make([]storage.Item, 3000)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("k%04d", i), Value: map[string]any{"v": i % 7, "s": fmt.Sprint(i)}}
			}
			if _, err := s.SetMany(t.Context(), items, in(big)); err != nil {
				t.Fatal(err)
			}
			log := &faultLog{}
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			idx := []error{storage.ErrIndexExists, storage.ErrIndexNotFound, storage.ErrTxConflict}
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					for i := 0; ctx.Err() == nil; i++ {
						field := []string{"v", "s"}[(i+w)%2]
						cctx, ccancel := context.WithTimeout(ctx, time.Duration(rand.IntN(100))*time.Millisecond)
						if i%3 == 0 {
							ccancel()
							cctx, ccancel = ctx, func() {}
						}
						err := s.CreateIndex(cctx, big, field)
						log.typed("CreateIndex", err, cctx.Err() != nil, idx...)
						err = s.DropIndex(cctx, big, field)
						log.typed("DropIndex", err, cctx.Err() != nil, idx...)
						ccancel()
					}
				})
			}
			wg.Go(func() { // writes
				for i := 0; ctx.Err() == nil; i++ {
					err := s.Set(ctx, fmt.Sprintf("k%04d", rand.IntN(3000)), map[string]any{"v": i % 7, "s": fmt.Sprint(i)}, in(big))
					log.typed("Set", err, ctx.Err() != nil, storage.ErrTxConflict)
				}
			})
			wg.Go(func() { // queries by the fields
				for i := 0; ctx.Err() == nil; i++ {
					cctx, ccancel := context.WithTimeout(ctx, time.Duration(rand.IntN(5000))*time.Microsecond)
					_, err := s.Query(cctx, storage.Eq("v", i%7), in(big), storage.Limit(10))
					ccancel()
					log.typed("Query", err, cctx.Err() != nil)
				}
			})
			wg.Wait()
			log.report(t)
			checkIndexes(t, s)
			checkInvariants(t, s)
		})
	}
}

// TestRaceCloseNewerPaths closes the store while Watch, History, Get at a
// revision, Export, Restore, RestoreNamespace, CreateIndex, DropIndex,
// Sweep, Compact and transactions run: each fails with ErrClosed (a
// transaction's operation with ErrTxDone, Close rolled it back), or
// succeeds, never with a driver's error.
func TestRaceCloseNewerPaths(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithRetention(Retention{Changes: 10}), WithWatchPollInterval(5*time.Millisecond))
			ctx := t.Context()
			const ns = "n"
			in := storage.InNamespace
			for i := range 50 {
				if err := s.Set(ctx, fmt.Sprintf("k%d", i%10), map[string]int{"v": i}, in(ns)); err != nil {
					t.Fatal(err)
				}
			}
			log := &faultLog{}
			closed := []error{storage.ErrClosed}
			now := time.Now().UTC()
			calls := map[string]func(i int) error{
				"Watch": func(int) error {
					for _, err := range s.Watch(ctx) {
						if err != nil {
							return err
						}
					}
					return nil
				},
				"History": func(i int) error {
					_, err := s.History(ctx, fmt.Sprintf("k%d", i%10), in(ns))
					return err
				},
				"Get at": func(i int) error {
					_, err := s.Get(ctx, fmt.Sprintf("k%d", i%10), in(ns), storage.AtRevision(1))
					if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrCompacted) {
						return nil
					}
					return err
				},
				"Export": func(int) error {
					return s.Export(ctx, ExportOptions{PageSize: 2}, nil, func(Record) error { return nil })
				},
				"Restore": func(i int) error {
					_, err := s.Restore(ctx, []Record{{Namespace: ns, Key: fmt.Sprintf("r%d", i%10), Value: []byte(`{"v":1}`),
						Metadata: []byte(`{}`), Version: 1, CreatedAt: now, UpdatedAt: now}}, ConflictOverwrite)
					return err
				},
				"RestoreNamespace": func(i int) error {
					_, err := s.RestoreNamespace(ctx, NamespaceRecord{Name: fmt.Sprintf("r%d", i%5), Metadata: []byte(`{}`), CreatedAt: now,
						Indexes: []string{"v"}}, ConflictOverwrite)
					return err
				},
				"CreateIndex": func(int) error {
					err := s.CreateIndex(ctx, ns, "v")
					if errors.Is(err, storage.ErrIndexExists) {
						return nil
					}
					return err
				},
				"DropIndex": func(int) error {
					err := s.DropIndex(ctx, ns, "v")
					if errors.Is(err, storage.ErrIndexNotFound) {
						return nil
					}
					return err
				},
				"Sweep": func(int) error {
					_, err := s.Sweep(ctx)
					return err
				},
				"Compact": func(i int) error {
					if err := s.Set(ctx, "c", i, in(ns)); err != nil {
						return err
					}
					_, err := s.Compact(ctx)
					return err
				},
				"tx": func(i int) error {
					tx, err := s.Begin(ctx, storage.TxOptions{})
					if err != nil {
						return err
					}
					defer func() { _ = tx.Rollback(ctx) }()
					if err := tx.Set(ctx, fmt.Sprintf("t%d", i%10), i, in(ns)); err != nil {
						return err
					}
					if _, err := tx.Query(ctx, storage.Eq("v", 1), in(ns)); err != nil {
						return err
					}
					return tx.Commit(ctx)
				},
			}
			var wg sync.WaitGroup
			for name, call := range calls {
				wg.Go(func() {
					for i := 0; ; i++ {
						err := call(i)
						if errors.Is(err, storage.ErrClosed) {
							return
						}
						allowed := closed
						switch name {
						case "tx":
							allowed = []error{storage.ErrClosed, storage.ErrTxDone}
						case "Watch":
							// Compact ran past a watch that had not read yet
							// (the retention is 10 changes).
							allowed = []error{storage.ErrClosed, storage.ErrCompacted}
						}
						log.typed(name, err, false, allowed...)
						if err != nil && i > 1000 {
							return
						}
					}
				})
			}
			time.Sleep(time.Duration(100+rand.IntN(200)) * time.Millisecond)
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			wg.Wait()
			log.report(t)
		})
	}
}
