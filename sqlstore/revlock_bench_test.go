package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/txmanager"
)

// BenchmarkRevisionWriters measures what the revision lock costs writers
// on PostgreSQL (revlock.go): Set of distinct keys from 4 and 16
// goroutines at once (writes/s), and transfers between disjoint pairs of
// accounts in repeatable-read transactions from 4 and 16 goroutines, where
// the only conflicts are the revisions' (conflicts/attempt: the share of
// attempts that failed; exhausted: transfers whose retries all failed).
//
//	STORAGE_TEST_POSTGRES_DSN=... go test -run '^$' -bench BenchmarkRevisionWriters ./sqlstore
func BenchmarkRevisionWriters(b *testing.B) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		b.Skip("needs STORAGE_TEST_POSTGRES_DSN")
	}
	ctx := b.Context()
	s := openTest(b, newPGSchema(b), WithSweepInterval(-1))
	defer s.Close()
	for _, writers := range []int{4, 16} {
		b.Run(fmt.Sprintf("set/writers=%d", writers), func(b *testing.B) {
			in := storage.InNamespace(fmt.Sprintf("set%d", writers))
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := s.Set(ctx, fmt.Sprintf("w%d:%d", w, next.Load()), 1, in); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
		b.Run(fmt.Sprintf("rr-transfer/writers=%d", writers), func(b *testing.B) {
			in := storage.InNamespace(fmt.Sprintf("rr%d", writers))
			items := make([]storage.Item, 0, 2*writers)
			for w := range writers {
				items = append(items, storage.Item{Key: fmt.Sprintf("a%d", w), Value: 1000000}, storage.Item{Key: fmt.Sprintf("b%d", w), Value: 0})
			}
			if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
				b.Fatal(err, res.Err())
			}
			rr := storage.TxOptions{Isolation: storage.LevelRepeatableRead}
			var next, attempts, made atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					from, to := fmt.Sprintf("a%d", w), fmt.Sprintf("b%d", w)
					for next.Add(1) <= int64(b.N) {
						err := txmanager.RunInTx(ctx, s, rr, func(tx storage.Tx) error {
							attempts.Add(1)
							return transferIn(ctx, tx, from, to, in)
						})
						if err == nil {
							made.Add(1)
						} else if !errors.As(err, new(*txmanager.RetryError)) {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
			// Every attempt but the one that made a transfer failed (a
			// conflict: the accounts are disjoint).
			b.ReportMetric(float64(attempts.Load()-made.Load())/float64(max(1, attempts.Load())), "conflicts/attempt")
			b.ReportMetric(float64(int64(b.N)-made.Load()), "exhausted")
		})
	}
}

// transferIn moves 1 from one key to the other, in a transaction.
func transferIn(ctx context.Context, tx storage.Tx, from, to string, in storage.Option) error {
	var a, b int64
	ea, err := tx.Get(ctx, from, in)
	if err != nil {
		return err
	}
	eb, err := tx.Get(ctx, to, in)
	if err != nil {
		return err
	}
	if err := ea.Decode(&a); err != nil {
		return err
	}
	if err := eb.Decode(&b); err != nil {
		return err
	}
	if err := tx.Set(ctx, from, a-1, in); err != nil {
		return err
	}
	return tx.Set(ctx, to, b+1, in)
}
