package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// TestPGQueryCost measures the query workloads of bench/peers (indexed eq
// of 10 rows, range + sort desc limit 20, count of a range of 1000) on
// PostgreSQL beside bench/peers' hand-written pgx statements, on the same
// data (STORAGE_PGQUERYCOST_N entries, default 100000, n = i/10, ~256-byte
// values), in interleaved rounds in one process: per operation the server
// CPU (every client backend, /proc/<pid>/schedstat), the client's CPU
// (getrusage) and the wall time. It first prints each engine statement and
// its plan under EXPLAIN (ANALYZE, BUFFERS) as a generic plan (what a
// prepared statement runs after five executions). It asserts nothing. Run
// it with STORAGE_PGQUERYCOST=1 and a PostgreSQL on this machine
// (STORAGE_PGQUERYCOST_ROUNDS, default 9; STORAGE_PGQUERYCOST_ONLY, a
// regexp of the variants to keep; STORAGE_PGQUERYCOST_ANALYZE=1 runs
// VACUUM ANALYZE after loading, as autovacuum does within a minute;
// STORAGE_PGQUERYCOST_HOLD=<duration> waits that long after loading, for
// experiments on the schema it logs).
//
//	STORAGE_PGQUERYCOST=1 go test -run TestPGQueryCost -v ./sqlstore
func TestPGQueryCost(t *testing.T) {
	if os.Getenv("STORAGE_PGQUERYCOST") == "" {
		t.Skip("a measurement: set STORAGE_PGQUERYCOST=1 to run it")
	}
	rounds, keys := envInt("STORAGE_PGQUERYCOST_ROUNDS", 9), envInt("STORAGE_PGQUERYCOST_N", 100000)
	ctx := t.Context()
	const ns = peersNS
	s, admin, pool, dsn := loadPeersPG(t, keys)
	if os.Getenv("STORAGE_PGQUERYCOST_ANALYZE") != "" {
		// What autovacuum does within a minute of the load: statistics,
		// and the visibility map that index-only scans read.
		if _, err := admin.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := time.ParseDuration(os.Getenv("STORAGE_PGQUERYCOST_HOLD")); err == nil {
		t.Logf("holding %s: %s", d, dsn)
		time.Sleep(d)
	}
	const (
		pgEq    = `SELECT key, value, version FROM kv WHERE ns = $1 AND (value ->> 'n')::float8 = $2 ORDER BY key`
		pgTop   = `SELECT key, value, version FROM kv WHERE ns = $1 AND (value ->> 'n')::float8 >= $2 AND (value ->> 'n')::float8 < $3 ORDER BY (value ->> 'n')::float8 DESC, key DESC LIMIT $4`
		pgCount = `SELECT count(*) FROM kv WHERE ns = $1 AND (value ->> 'n')::float8 >= $2 AND (value ->> 'n')::float8 < $3`
	)
	nv := keys / 10
	in := storage.InNamespace(ns)
	eqFilter := func(v int) storage.Filter { return storage.Eq("n", v) }
	rangeFilter := func(lo int) storage.Filter { return storage.And(storage.Gte("n", lo), storage.Lt("n", lo+100)) }
	topOpts := []storage.Option{in, storage.SortBy(storage.Desc("n")), storage.Limit(20)}

	// The engine's statements and their generic plans.
	var eqQ, topQ, guard string
	var eqArgs, topArgs []any
	{
		nsi, err := s.readNamespace(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		show := func(name string, q string, args []any) {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
				t.Fatal(err)
			}
			defer func() { _, _ = conn.Exec(context.Background(), "RESET plan_cache_mode") }()
			// Run it (prepared, generic), then explain the prepared
			// statement's generic plan.
			sd, err := conn.Conn().Prepare(ctx, "qc_"+name, q)
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, q)
			}
			_ = sd
			params := make([]string, len(args))
			for i, a := range args {
				params[i] = pgLiteral(a)
			}
			rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) EXECUTE qc_"+name+"("+strings.Join(params, ", ")+")", pgx.QueryExecModeSimpleProtocol)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			rows.Close()
			_, _ = conn.Exec(ctx, "DEALLOCATE qc_"+name)
			t.Logf("%s:\n%s\n%s", name, q, strings.Join(plan, "\n"))
		}
		resolve := func(f storage.Filter, opts ...storage.Option) (driver.CallOptions, queryPrep) {
			o, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor|driver.KindFilter, opts)
			if err != nil {
				t.Fatal(err)
			}
			p, err := prepareQuery(f, o)
			if err != nil {
				t.Fatal(err)
			}
			return o, p
		}
		o, p := resolve(eqFilter(nv/2), in)
		q, args, _, err := s.buildQuery(t.Context(), &p, o, nsi, s.now())
		if err != nil {
			t.Fatal(err)
		}
		show("eq", q, args)
		eqQ, eqArgs = q, args
		o, p = resolve(rangeFilter(nv/2), topOpts...)
		q, args, _, err = s.buildQuery(t.Context(), &p, o, nsi, s.now())
		if err != nil {
			t.Fatal(err)
		}
		show("top", q, args)
		topQ, topArgs = q, args
		guard = " AND " + strconv.FormatInt(nsi.fields["n"], 10) + " = (SELECT field_id FROM index_fields WHERE namespace_id = " +
			strconv.FormatInt(nsi.id, 10) + " AND field = 'n') AND " + strconv.FormatInt(nsi.id, 10) +
			" = (SELECT id FROM namespaces WHERE name = '" + ns + "')"
		o, _ = resolve(storage.All(), in, storage.Where(rangeFilter(nv/2)))
		q, args, err = s.countStatement(o, nsi, s.now())
		if err != nil {
			t.Fatal(err)
		}
		show("count", q, args)
	}

	count := func(n int64, err error) error {
		if err == nil && n != 1000 {
			err = fmt.Errorf("count %d", n)
		}
		return err
	}
	entries := func(want int) func(storage.QueryResult, error) error {
		return func(r storage.QueryResult, err error) error {
			if err == nil && len(r.Entries) != want {
				err = fmt.Errorf("%d entries, want %d", len(r.Entries), want)
			}
			return err
		}
	}
	// The engine's eq and top statements alone (fixed arguments; top reads
	// its limit plus one row, to know whether a page follows), as built
	// and with the checks of the cached ids against the names that they
	// held until migration 00028 (two InitPlans), for an A/B of that part;
	// and eq/stmt, the eq statement alone as the engine's Query runs it (a
	// random value each call, as eq/engine and eq/raw), which splits the
	// engine's gap into the statement's and the engine's client work.
	drain := func(want int) func(pgx.Rows, error) error {
		return func(rows pgx.Rows, err error) error {
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if err = rows.Err(); err == nil && n != want {
				err = fmt.Errorf("%d rows, want %d", n, want)
			}
			return err
		}
	}
	withGuard := func(q string) string {
		where, order, ok := strings.Cut(q, " ORDER BY ")
		if !ok {
			t.Fatalf("no ORDER BY: %s", q)
		}
		return where + guard + " ORDER BY " + order
	}
	variants := []costOp{
		{"eqstmt/built", func() error { return drain(10)(pool.Query(ctx, eqQ, eqArgs...)) }},
		{"eqstmt/checked", func() error { return drain(10)(pool.Query(ctx, withGuard(eqQ), eqArgs...)) }},
		{"topstmt/built", func() error { return drain(21)(pool.Query(ctx, topQ, topArgs...)) }},
		{"topstmt/checked", func() error { return drain(21)(pool.Query(ctx, withGuard(topQ), topArgs...)) }},
		{"eq/engine", func() error { return entries(10)(s.Query(ctx, eqFilter(rand.IntN(nv)), in)) }},
		{"eq/stmt", func() error {
			args := slices.Clone(eqArgs)
			args[0] = float64(rand.IntN(nv))
			return drain(10)(pool.Query(ctx, eqQ, args...))
		}},
		{"eq/raw", func() error { return rawRows(10)(pool.Query(ctx, pgEq, ns, float64(rand.IntN(nv)))) }},
		{"top/engine", func() error {
			return entries(20)(s.Query(ctx, rangeFilter(rand.IntN(nv-100)), topOpts...))
		}},
		{"top/raw", func() error {
			lo := rand.IntN(nv - 100)
			return rawRows(20)(pool.Query(ctx, pgTop, ns, float64(lo), float64(lo+100), 20))
		}},
		{"count/engine", func() error {
			return count(s.Count(ctx, in, storage.Where(rangeFilter(rand.IntN(nv-100)))))
		}},
		{"count/raw", func() error {
			lo := rand.IntN(nv - 100)
			var n int64
			err := pool.QueryRow(ctx, pgCount, ns, float64(lo), float64(lo+100)).Scan(&n)
			return count(n, err)
		}},
	}
	if only := os.Getenv("STORAGE_PGQUERYCOST_ONLY"); only != "" {
		re := regexp.MustCompile(only)
		variants = slices.DeleteFunc(variants, func(v costOp) bool { return !re.MatchString(v.name) })
	}
	costRounds(t, admin, rounds, 300, variants, [2]string{"/engine", "/raw"}, [2]string{"/checked", "/built"}, [2]string{"/engine", "/stmt"}, [2]string{"/stmt", "/raw"})
}

// costOp is one measured operation of a cost measurement (costRounds).
type costOp struct {
	name string
	op   func() error
}

// costRounds runs each variant per times in each of rounds interleaved
// rounds (the order rotated each round, after a warm-up of 10 calls each)
// and logs per operation the server CPU (every client backend of the
// server admin reaches, /proc/<pid>/schedstat), this process's CPU
// (getrusage) and the wall time, medians over the rounds; then, for every
// pair {a, b} and variant named <base>+a that has a variant <base>+b, the
// medians of the per-round ratios b/a (above 1: a is cheaper), with their
// quartiles in brackets.
func costRounds(t *testing.T, admin *sql.DB, rounds, per int, variants []costOp, pairs ...[2]string) {
	t.Helper()
	type sample struct{ server, client, wall, allocs float64 } // µs and allocations per op
	n := float64(per)
	var ms runtime.MemStats
	got := make([][]sample, len(variants))
	for _, v := range variants { // warm: pgx's statement caches, generic plans
		for range 10 {
			if err := v.op(); err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
		}
	}
	for r := range rounds {
		for k := range variants {
			j := (k + r) % len(variants)
			v := variants[j]
			runtime.ReadMemStats(&ms)
			m0 := ms.Mallocs
			s0, c0, w0 := pgClientCPU(t, admin), cpuTime(), time.Now()
			for range per {
				if err := v.op(); err != nil {
					t.Fatalf("%s: %v", v.name, err)
				}
			}
			w, c, sv := time.Since(w0), cpuTime()-c0, pgClientCPU(t, admin)-s0
			runtime.ReadMemStats(&ms)
			got[j] = append(got[j], sample{server: float64(sv) / 1e3 / n, client: float64(c.Nanoseconds()) / 1e3 / n,
				wall: float64(w.Nanoseconds()) / 1e3 / n, allocs: float64(ms.Mallocs-m0) / n})
		}
	}
	med := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	var out strings.Builder
	fmt.Fprintf(&out, "\n%-16s %10s %10s %10s %10s   (µs, allocations per op, medians of %d rounds of %d)", "variant", "server", "client", "wall", "allocs", rounds, per)
	for j, v := range variants {
		var sv, c, w, a []float64
		for _, x := range got[j] {
			sv, c, w, a = append(sv, x.server), append(c, x.client), append(w, x.wall), append(a, x.allocs)
		}
		fmt.Fprintf(&out, "\n%-16s %10.1f %10.1f %10.1f %10.1f", v.name, med(sv), med(c), med(w), med(a))
	}
	// Pairs: the second's time / the first's, per round (above 1: the
	// first is cheaper).
	for _, pair := range pairs {
		for j, v := range variants {
			base, ok := strings.CutSuffix(v.name, pair[0])
			if !ok {
				continue
			}
			k := slices.IndexFunc(variants, func(v costOp) bool { return v.name == base+pair[1] })
			if k < 0 {
				continue
			}
			var sv, c, w []float64
			for i := range got[j] {
				e, x := got[j][i], got[k][i]
				sv, c, w = append(sv, x.server/e.server), append(c, x.client/e.client), append(w, x.wall/e.wall)
			}
			fmt.Fprintf(&out, "\n%-24s %s/%s server %s client %s wall %s", v.name, pair[1][1:], pair[0][1:], quartiles(sv), quartiles(c), quartiles(w))
		}
	}
	t.Log(out.String())
}

// quartiles formats the median of xs and, in brackets, its lower and upper
// quartiles (xs sorted in place).
func quartiles(xs []float64) string {
	slices.Sort(xs)
	return fmt.Sprintf("%.2f (%.2f-%.2f)", xs[len(xs)/2], xs[len(xs)/4], xs[3*len(xs)/4])
}

// rawRows checks the raw statements' rows (key, value, version): want of
// them.
func rawRows(want int) func(pgx.Rows, error) error {
	return func(rows pgx.Rows, err error) error {
		if err != nil {
			return err
		}
		var k string
		var v []byte
		var ver int64
		n := 0
		_, err = pgx.ForEachRow(rows, []any{&k, &v, &ver}, func() error { n++; return nil })
		if err == nil && n != want {
			err = fmt.Errorf("%d rows, want %d", n, want)
		}
		return err
	}
}

// peersNS is the namespace of loadPeersPG's dataset.
const peersNS = "peers"

// loadPeersPG opens a store on a fresh PostgreSQL schema and loads the
// dataset of bench/peers twice: keys entries (k0000000…, ~256-byte values
// {"n": i/10, …}) into namespace peersNS (field n declared), and the same
// rows into bench/peers' raw table kv (rawpg.go) of the schema. It returns
// the store, an administrator's connection, a pool on the schema for the
// raw statements (all closed at the test's end) and the schema's DSN.
func loadPeersPG(t *testing.T, keys int) (*Store, *sql.DB, *pgxpool.Pool, string) {
	t.Helper()
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	admin, _ := pgMigrator(t, dsn)
	const ns = peersNS
	must(t, s.CreateNamespace(ctx, ns, storage.WithIndexes("n")))
	pad := strings.Repeat("x", 216)
	val := func(i int) []byte { return fmt.Appendf(nil, `{"n":%d,"c":0,"s":"%s"}`, i/10, pad) }
	for b := 0; b < keys; b += 1000 {
		items := make([]storage.Item, 1000)
		for i := range items {
			items[i] = storage.Item{Key: peersKey(b + i), Value: json.RawMessage(val(b + i))}
		}
		must(t, firstErr(s.SetMany(ctx, items, storage.InNamespace(ns))))
	}
	// raw: bench/peers' table, index and statements (rawpg.go).
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE kv (ns text NOT NULL, key text NOT NULL, value jsonb NOT NULL, version bigint NOT NULL,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (ns, key));
CREATE INDEX kv_n ON kv (ns, ((value ->> 'n')::float8), key)`); err != nil {
		t.Fatal(err)
	}
	for b := 0; b < keys; b += 1000 {
		ks, vs := make([]string, 1000), make([]string, 1000)
		for i := range ks {
			ks[i], vs[i] = peersKey(b+i), string(val(b+i))
		}
		if _, err := pool.Exec(ctx, `INSERT INTO kv SELECT $1, k, v, 1, now(), now() FROM unnest($2::text[], $3::jsonb[]) AS t(k, v)`, ns, ks, vs); err != nil {
			t.Fatal(err)
		}
	}
	return s, admin, pool, dsn
}

// peersKey is the key of entry i of loadPeersPG's dataset.
func peersKey(i int) string { return fmt.Sprintf("k%07d", i) }

// pgLiteral writes a statement argument as a PostgreSQL literal (for
// EXECUTE in TestPGQueryCost).
func pgLiteral(a any) string {
	switch v := a.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case time.Time:
		return "'" + v.UTC().Format(time.RFC3339Nano) + "'"
	case nil:
		return "NULL"
	case fmt.Stringer:
		return "'" + strings.ReplaceAll(v.String(), "'", "''") + "'"
	}
	return fmt.Sprint(a)
}

// envInt is the positive integer in environment variable name, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// firstErr is the error of a call's two results.
func firstErr[T any](_ T, err error) error { return err }
