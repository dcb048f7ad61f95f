package bench

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/txmanager"
)

// MixedResult is one side of a mixed run: 90% Get, 10% Set (overwrite) of
// random keys from G goroutines.
type MixedResult struct {
	Side       string // "engine" or "raw"
	Goroutines int
	Ops        int
	Elapsed    time.Duration
	Throughput float64 // operations per second
	P50, P99   time.Duration
	// Errors counts failed operations by class ("busy", "conflict", …).
	Errors map[string]int
}

// TxResult is one side of a contention run: goroutines running 10-operation
// read-modify-write transactions (5 reads, 5 writes) over 10 hot keys.
type TxResult struct {
	Side    string
	Level   storage.IsolationLevel
	InForce storage.IsolationLevel
	Commits int
	Elapsed time.Duration
	// CommitsPerSec is committed transactions per second.
	CommitsPerSec float64
	// Retries counts attempts rerun after a conflict.
	Retries int
	// Failures counts transactions that failed for good, by class.
	Failures map[string]int
}

// segments splits each side's time into alternating slices so that noise
// hits both sides alike.
const segments = 3

// ContentionGoroutines is the number of goroutines of the contention runs.
const ContentionGoroutines = 8

func isBusy(err error) bool {
	d, _ := dialect.ForName(dialect.SQLite)
	return d.Classify(err) == dialect.ClassBusy
}

type opFunc func(ctx context.Context, rng *rand.Rand) error

// drive runs op from g goroutines for d and collects latencies and errors.
func drive(ctx context.Context, g int, d time.Duration, op opFunc, lat *[]time.Duration, errs map[string]int, mu *sync.Mutex) int {
	var wg sync.WaitGroup
	var ops atomic.Int64
	deadline := time.Now().Add(d)
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var mine []time.Duration
			local := map[string]int{}
			for time.Now().Before(deadline) {
				t := time.Now()
				err := op(ctx, rng)
				mine = append(mine, time.Since(t))
				if err != nil {
					local[errClass(err)]++
				}
			}
			ops.Add(int64(len(mine)))
			mu.Lock()
			*lat = append(*lat, mine...)
			for k, v := range local {
				errs[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return int(ops.Load())
}

func (e *env) mixed(ctx context.Context, g int) ([]MixedResult, error) {
	s, raw, in, size := e.store, e.raw, e.in, max(e.cfg.Size, 1)
	nv := len(e.values)
	encoded := make([][]byte, nv)
	for i, v := range e.values {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		encoded[i] = b
	}
	engine := func(ctx context.Context, rng *rand.Rand) error {
		if rng.IntN(10) == 0 {
			j := rng.IntN(nv)
			return s.Set(ctx, Key(j), e.values[j], in)
		}
		_, err := s.Get(ctx, Key(rng.IntN(size)), in)
		return err
	}
	rawOp := func(ctx context.Context, rng *rand.Rand) error {
		if rng.IntN(10) == 0 {
			j := rng.IntN(nv)
			b, err := json.Marshal(e.values[j])
			if err != nil {
				return err
			}
			return raw.Set(ctx, Key(j), b, now())
		}
		_, err := raw.Get(ctx, Key(rng.IntN(size)))
		return err
	}
	type acc struct {
		lat     []time.Duration
		errs    map[string]int
		ops     int
		elapsed time.Duration
	}
	accs := [2]acc{{errs: map[string]int{}}, {errs: map[string]int{}}}
	ops := [2]opFunc{engine, rawOp}
	var mu sync.Mutex
	seg := e.cfg.MixedTime / segments
	for i := range 2 * segments {
		k := i % 2
		if (i/2)%2 == 1 {
			k = 1 - k
		}
		t := time.Now()
		accs[k].ops += drive(ctx, g, seg, ops[k], &accs[k].lat, accs[k].errs, &mu)
		accs[k].elapsed += time.Since(t)
	}
	var out []MixedResult
	for k, a := range accs {
		slices.Sort(a.lat)
		r := MixedResult{Side: []string{"engine", "raw"}[k], Goroutines: g, Ops: a.ops, Elapsed: a.elapsed, Errors: a.errs}
		if len(a.lat) > 0 {
			r.P50, r.P99 = a.lat[len(a.lat)/2], a.lat[len(a.lat)*99/100]
		}
		r.Throughput = float64(a.ops) / a.elapsed.Seconds()
		out = append(out, r)
	}
	return out, nil
}

// hotSet picks 5 distinct hot keys, in key order (so that PostgreSQL's
// read-committed runs meet lock waits, not deadlocks: random orders made
// every run a measure of deadlock_timeout).
func hotSet(rng *rand.Rand) []string {
	p := rng.Perm(hotKeys)[:5]
	slices.Sort(p)
	keys := make([]string, len(p))
	for i, j := range p {
		keys[i] = hotKey(j)
	}
	return keys
}

func (e *env) contention(ctx context.Context, level storage.IsolationLevel) ([]TxResult, error) {
	s, raw, in := e.store, e.raw, e.in
	var inForce storage.IsolationLevel
	var once sync.Once
	var retries [2]atomic.Int64
	engine := func(ctx context.Context, rng *rand.Rand) error {
		keys := hotSet(rng)
		attempts := 0
		err := txmanager.RunInTx(ctx, s, storage.TxOptions{Isolation: level}, func(tx storage.Tx) error {
			attempts++
			once.Do(func() { inForce = tx.Isolation() })
			for _, k := range keys {
				en, err := tx.Get(ctx, k, in)
				if err != nil {
					return err
				}
				b, err := bumpCounter(en.Value)
				if err != nil {
					return err
				}
				if err := tx.Set(ctx, k, json.RawMessage(b), in); err != nil {
					return err
				}
			}
			return nil
		})
		retries[0].Add(int64(attempts - 1))
		return err
	}
	rawOp := func(ctx context.Context, rng *rand.Rand) error {
		n, err := raw.RMW(ctx, level, hotSet(rng), now)
		retries[1].Add(int64(n))
		return err
	}
	ops := [2]opFunc{engine, rawOp}
	var lat [2][]time.Duration
	errs := [2]map[string]int{{}, {}}
	var commits [2]int
	var elapsed [2]time.Duration
	var mu sync.Mutex
	seg := e.cfg.TxTime / 2
	for i := range 4 {
		k := i % 2
		if i >= 2 {
			k = 1 - k
		}
		t := time.Now()
		drive(ctx, ContentionGoroutines, seg, ops[k], &lat[k], errs[k], &mu)
		elapsed[k] += time.Since(t)
	}
	var out []TxResult
	for k := range 2 {
		failed := 0
		for _, v := range errs[k] {
			failed += v
		}
		commits[k] = len(lat[k]) - failed
		r := TxResult{Side: []string{"engine", "raw"}[k], Level: level, InForce: inForce, Commits: commits[k],
			Elapsed: elapsed[k], CommitsPerSec: float64(commits[k]) / elapsed[k].Seconds(),
			Retries: int(retries[k].Load()), Failures: errs[k]}
		out = append(out, r)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return out, ctx.Err()
	}
	return out, nil
}
