package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// cpuNow is this process's user plus system CPU time (getrusage).
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPGClient measures the client side of single PostgreSQL
// operations, the engine's against bench/peers' raw pgx: Set of a new key,
// Set of an existing key, Get and Has of an existing key, on a dataset of
// STORAGE_PGCLIENT_N entries (default 10,000). Besides ns/op and allocs/op
// it reports cpu-µs/op, this process's CPU (getrusage) per operation, which
// a loaded machine disturbs less than wall time. Run it with -cpuprofile or
// -memprofile and one sub-benchmark to profile the client.
//
//	go test -run '^$' -bench PGClient -benchmem -pg "$STORAGE_TEST_POSTGRES_DSN"
func BenchmarkPGClient(b *testing.B) {
	dsn := os.Getenv("STORAGE_TEST_POSTGRES_DSN")
	if dsn == "" {
		b.Skip("set STORAGE_TEST_POSTGRES_DSN")
	}
	n := 10_000
	if v := os.Getenv("STORAGE_PGCLIENT_N"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	var systems []System
	for _, name := range []string{sEnginePG, sPGX} {
		sdsn, schema, drop, err := newPGSchema(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(drop)
		var s System
		if name == sEnginePG {
			s, err = openEngine(ctx, sEnginePG, "", sdsn, "", schema)
		} else {
			s, err = openRawPG(ctx, sdsn, schema)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		if err := loadData(ctx, s, n, 256); err != nil {
			b.Fatal(err)
		}
		if err := analyzePG(ctx, sdsn); err != nil {
			b.Fatal(err)
		}
		systems = append(systems, s)
	}
	seq := 0
	ops := []struct {
		name string
		op   func(s System) error
	}{
		{"set-insert", func(s System) error {
			seq++
			return s.Set(ctx, fmt.Sprintf("new%09d", seq), value(n*Groups+seq, 256))
		}},
		{"set-overwrite", func(s System) error {
			j := rand.IntN(n)
			return s.Set(ctx, Key(j), value(j, 256))
		}},
		{"get-hit", func(s System) error {
			_, ok, err := s.Get(ctx, randKey(n))
			if err == nil && !ok {
				err = fmt.Errorf("not found")
			}
			return err
		}},
		{"has", func(s System) error {
			ok, err := s.Has(ctx, randKey(n))
			if err == nil && !ok {
				err = fmt.Errorf("not found")
			}
			return err
		}},
	}
	// pgx-wait is the raw upsert run after a server-side pause of
	// STORAGE_PGCLIENT_WAIT (default 250µs, pg_sleep): what the client
	// spends on waiting longer for the same answer.
	if raw, ok := systems[1].(*rawPG); ok {
		wait := 250 * time.Microsecond
		if v := os.Getenv("STORAGE_PGCLIENT_WAIT"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				b.Fatal(err)
			}
			wait = d
		}
		sleepSQL := "WITH w AS (SELECT pg_sleep(" + fmt.Sprint(wait.Seconds()) + ")) " + pgUpsert[:len(pgUpsert)-len("RETURNING version")] + "RETURNING (SELECT 0 FROM w)::bigint + version"
		ops = append(ops, struct {
			name string
			op   func(s System) error
		}{"set-overwrite-wait", func(s System) error {
			j := rand.IntN(n)
			var ver int64
			return raw.pool.QueryRow(ctx, sleepSQL, Namespace, Key(j), string(value(j, 256)), time.Now()).Scan(&ver)
		}})
	}
	// pgx-batch is the raw upsert sent as the engine sends its writes:
	// after a transaction-scoped advisory lock, in one pgx.Batch (a
	// pipeline), so that the client's cost of the batch shows.
	if raw, ok := systems[1].(*rawPG); ok {
		ops = append(ops, struct {
			name string
			op   func(s System) error
		}{"set-overwrite-batch", func(s System) error {
			j := rand.IntN(n)
			b := &pgx.Batch{}
			b.Queue("SELECT set_config('lock_timeout', $2::text, true), pg_advisory_xact_lock($1::bigint)", int64(0x6d79), "0")
			b.Queue(pgUpsert, Namespace, Key(j), string(value(j, 256)), time.Now())
			br := raw.pool.SendBatch(ctx, b)
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return err
			}
			var ver int64
			if err := br.QueryRow().Scan(&ver); err != nil {
				_ = br.Close()
				return err
			}
			return br.Close()
		}})
	}
	for _, o := range ops {
		for _, s := range systems {
			if (o.name == "set-overwrite-wait" || o.name == "set-overwrite-batch") && s.Name() != sPGX {
				continue
			}
			b.Run(o.name+"/"+s.Name(), func(b *testing.B) {
				b.ReportAllocs()
				c0 := cpuNow()
				for b.Loop() {
					if err := o.op(s); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((cpuNow()-c0).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}
