package httpapi_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
)

// The load test's size. The defaults keep it to a few seconds per
// database; raise them to measure:
//
//	go test ./httpapi -run TestLoad -v -load.duration 30s -load.clients 32
var (
	loadDuration = flag.Duration("load.duration", 3*time.Second, "TestLoad: how long each database is loaded")
	loadClients  = flag.Int("load.clients", 16, "TestLoad: concurrent clients")
)

// loadKeys is how many keys each client owns.
const loadKeys = 8

// loadStats counts what the clients did.
type loadStats struct {
	calls [loadOps]atomic.Int64 // HTTP requests per kind of operation (a tx is 4)
}

const (
	opGet = iota
	opSet
	opGetMany
	opSetMany
	opQuery
	opCount
	opTx
	loadOps
)

var opNames = [loadOps]string{"get", "set", "getMany", "setMany", "query", "count", "tx"}

// TestLoad runs concurrent clients over HTTP on loopback, each with its
// own connection pool and its own keys, doing a mix of operations and
// checking every answer against what it wrote. At the end every key must
// hold the last value its client wrote: no error, no lost write. The log
// gives the throughput.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped with -short")
	}
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServer(t, c, httpapi.Config{})
			var stats loadStats
			ctx, cancel := context.WithTimeout(t.Context(), *loadDuration+time.Minute)
			defer cancel()
			stop := time.Now().Add(*loadDuration)
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, *loadClients)
			for id := range *loadClients {
				st := newClient(t, s, adminToken)
				wg.Go(func() {
					if err := loadClient(ctx, st, id, stop, &stats); err != nil {
						errs <- fmt.Errorf("client %d: %w", id, err)
						cancel()
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			var total int64
			msg := ""
			for op := range loadOps {
				n := stats.calls[op].Load()
				total += n
				msg += fmt.Sprintf(" %s=%d", opNames[op], n)
			}
			t.Logf("%s: %d clients, %v: %d requests, %.0f requests/s;%s",
				c.Name, *loadClients, elapsed.Round(time.Millisecond), total, float64(total)/elapsed.Seconds(), msg)
			if total == 0 {
				t.Error("no request completed")
			}
			// Nothing else wrote: the store holds exactly the clients' keys.
			n, err := s.inner.Count(context.Background(), storage.InNamespace("load"))
			if err != nil || n != int64(*loadClients*loadKeys) {
				t.Errorf("Count = %d, %v; want %d", n, err, *loadClients*loadKeys)
			}
		})
	}
}

// loadClient runs one client until stop, then verifies its keys.
func loadClient(ctx context.Context, st storage.Store, id int, stop time.Time, stats *loadStats) error {
	ns := storage.InNamespace("load")
	rng := rand.New(rand.NewPCG(uint64(id), 42))
	keys := make([]string, loadKeys)
	want := make([]int, loadKeys) // the last value written to each key
	for i := range keys {
		keys[i] = fmt.Sprintf("c%03d-k%d", id, i)
	}
	value := func(i int) map[string]any { return map[string]any{"client": id, "n": want[i]} }
	check := func(e storage.Entry, i int) error {
		var v struct{ Client, N int }
		if err := e.Decode(&v); err != nil {
			return err
		}
		if v.Client != id || v.N != want[i] {
			return fmt.Errorf("key %s = %+v, want n=%d: a lost write", keys[i], v, want[i])
		}
		return nil
	}
	// Every key exists from the start, so that every read can be checked.
	items := make([]storage.Item, loadKeys)
	for i := range keys {
		want[i] = 1
		items[i] = storage.Item{Key: keys[i], Value: value(i)}
	}
	if res, err := st.SetMany(ctx, items, ns); err != nil || !res.OK() {
		return fmt.Errorf("initial SetMany: %w %w", err, res.Err())
	}
	mine := storage.Eq("client", id)
	for time.Now().Before(stop) {
		i := rng.IntN(loadKeys)
		op := rng.IntN(loadOps)
		switch op {
		case opGet:
			e, err := st.Get(ctx, keys[i], ns)
			if err != nil {
				return fmt.Errorf("Get: %w", err)
			}
			if err := check(e, i); err != nil {
				return err
			}
		case opSet:
			want[i]++
			if err := st.Set(ctx, keys[i], value(i), ns); err != nil {
				return fmt.Errorf("Set: %w", err)
			}
		case opGetMany:
			res, err := st.GetMany(ctx, keys, ns)
			if err != nil || len(res.Errors) > 0 {
				return fmt.Errorf("GetMany: %w %v", err, res.Errors)
			}
			for j := range keys {
				if err := check(res.Entries[keys[j]], j); err != nil {
					return err
				}
			}
		case opSetMany:
			items := items[:0]
			for j := range keys {
				want[j]++
				items = append(items, storage.Item{Key: keys[j], Value: value(j)})
			}
			if res, err := st.SetMany(ctx, items, ns, storage.Atomic()); err != nil || !res.OK() {
				return fmt.Errorf("SetMany: %w %w", err, res.Err())
			}
		case opQuery:
			res, err := st.Query(ctx, mine, ns)
			if err != nil {
				return fmt.Errorf("Query: %w", err)
			}
			if len(res.Entries) != loadKeys {
				return fmt.Errorf("Query: %d entries, want %d", len(res.Entries), loadKeys)
			}
			for j, e := range res.Entries { // key order is keys' order
				if err := check(e, j); err != nil {
					return err
				}
			}
		case opCount:
			n, err := st.Count(ctx, ns, storage.Where(mine))
			if err != nil || n != loadKeys {
				return fmt.Errorf("Count = %d, %w; want %d", n, err, loadKeys)
			}
		case opTx:
			// Read-modify-write in a transaction: begin, get, set, commit.
			if err := txIncrement(ctx, st, keys[i], ns, id, want[i]); err != nil {
				return err
			}
			want[i]++
			stats.calls[op].Add(3) // begin, get and set; the commit is counted below
		}
		stats.calls[op].Add(1)
	}
	// The end: every key holds the last value written.
	res, err := st.GetMany(ctx, keys, ns)
	if err != nil || len(res.Errors) > 0 {
		return fmt.Errorf("final GetMany: %w %v", err, res.Errors)
	}
	for i := range keys {
		if err := check(res.Entries[keys[i]], i); err != nil {
			return fmt.Errorf("at the end: %w", err)
		}
	}
	return nil
}

// txIncrement sets key to want+1 in a transaction that first checks it
// holds want.
func txIncrement(ctx context.Context, st storage.Store, key string, ns storage.Option, id, want int) (err error) {
	tx, err := st.Begin(ctx, storage.TxOptions{})
	if err != nil {
		return fmt.Errorf("Begin: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback(context.WithoutCancel(ctx)))
		}
	}()
	e, err := tx.Get(ctx, key, ns)
	if err != nil {
		return fmt.Errorf("tx Get: %w", err)
	}
	var v struct{ Client, N int }
	if err := e.Decode(&v); err != nil {
		return err
	}
	if v.Client != id || v.N != want {
		return fmt.Errorf("tx Get %s = %+v, want n=%d: a lost write", key, v, want)
	}
	if err := tx.Set(ctx, key, map[string]any{"client": id, "n": want + 1}, ns); err != nil {
		return fmt.Errorf("tx Set: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	return nil
}
