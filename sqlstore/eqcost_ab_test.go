package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// TestReadCostVsRaw measures, in one process in alternating rounds, the
// CPU time per operation (user and system, the whole process, GC
// included) of the engine's read calls on a SQLite file against the
// statements of bench/peers' raw modernc program on a file of its own
// (the same DSNs, one expression index on n ending in the key, statements
// prepared once on the reader pool). Both hold the peers' data set:
// STORAGE_READCOST_N entries (default 100000) of ~256 bytes with n = i/10,
// n declared on the engine's namespace. The operations: Query(Eq(n)) (10
// rows), Query(n in [lo, lo+100)) sorted by n descending limit 20,
// Count of that range, Get of a present key and of a missing one,
// GetMany of 100 present keys and Has of a present key. It reports raw/engine
// CPU per op (above 1: the engine uses less), the median of the per-round
// ratios, and the read system calls per op of each (/proc/self/io: one
// per SQLite page-cache miss), and asserts nothing.
//
// Two modernc databases in one process can evict one another's page cache
// (bench/results/2026-12-02-sqleq.md: the engine read 6-50 pages per call
// here where it reads 1.6-2.4 in a process of its own): when the reads per
// op differ from a run of each side alone, the ratios measure that, not
// the code. Run it with STORAGE_READCOST=1 (STORAGE_READCOST_ROUNDS
// rounds, default 9; STORAGE_READCOST_ONLY substrings of the names of
// the operations to run, separated by |; STORAGE_READCOST_CPUPROFILE a
// file for a CPU profile of the measured rounds; STORAGE_READCOST_CACHE a
// page cache size in KiB for every reader connection of both sides;
// STORAGE_READCOST_BGCTX=1 calls both with context.Background(), as
// bench/peers does, instead of the test's context (one that can end, which
// database/sql and the driver each watch with a goroutine per statement);
// STORAGE_READCOST_DIR a directory, empty, that
// keeps the two files; STORAGE_READCOST_REOPEN=1 reopens the engine after
// loading it):
//
//	STORAGE_READCOST=1 go test -run TestReadCostVsRaw -v ./sqlstore
func TestReadCostVsRaw(t *testing.T) {
	n, rounds := measureParams(t, "STORAGE_READCOST", 100000, 9)
	only := os.Getenv("STORAGE_READCOST_ONLY")
	ctx := t.Context()
	if os.Getenv("STORAGE_READCOST_BGCTX") != "" {
		ctx = context.Background() // as bench/peers calls
	}
	dir := t.TempDir()
	if d := os.Getenv("STORAGE_READCOST_DIR"); d != "" {
		dir = d // the files stay, to be inspected
	}
	in := storage.InNamespace("bench")
	pad := strings.Repeat("x", 216)
	value := func(i int) string { return fmt.Sprintf(`{"n":%d,"c":0,"s":"%s"}`, i/10, pad) }
	key := func(i int) string { return fmt.Sprintf("key%09d", i) }

	s := loadReadCostEngine(t, filepath.Join(dir, "engine.db"), n)
	if os.Getenv("STORAGE_READCOST_REOPEN") != "" {
		must(t, s.Close())
		s = openTest(t, "sqlite:"+filepath.Join(dir, "engine.db"), WithSweepInterval(-1))
	}
	rawPath := filepath.Join(dir, "raw.db")
	w, err := sql.Open("sqlite", dialect.SQLiteDriverDSN(rawPath, dialect.DefaultSQLiteOptions, true))
	must(t, err)
	t.Cleanup(func() { _ = w.Close() })
	w.SetMaxOpenConns(1)
	_, err = w.ExecContext(ctx, rawKVTable+rawKVIndex)
	must(t, err)
	tx, err := w.BeginTx(ctx, nil)
	must(t, err)
	for i := range n {
		if _, err := tx.ExecContext(ctx, `INSERT INTO kv VALUES (1, ?, jsonb(?), jsonb('{}'), 1, 0, 0)`, key(i), value(i)); err != nil {
			t.Fatal(err)
		}
	}
	must(t, tx.Commit())
	r, err := sql.Open("sqlite", dialect.SQLiteDriverDSN(rawPath, dialect.DefaultSQLiteOptions, false))
	must(t, err)
	t.Cleanup(func() { _ = r.Close() })
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	if kib := os.Getenv("STORAGE_READCOST_CACHE"); kib != "" {
		// Every reader connection of both sides gets a page cache of this
		// many KiB: large enough for the files, neither side evicts the
		// other's pages (see above) and the ratios compare CPU on cached
		// pages.
		for _, db := range []*sql.DB{s.eng.(*sqliteEngine).r, r} {
			var conns []*sql.Conn
			for range 4 {
				c, err := db.Conn(ctx)
				must(t, err)
				_, err = c.ExecContext(ctx, "PRAGMA cache_size = -"+kib)
				must(t, err)
				conns = append(conns, c)
			}
			for _, c := range conns {
				must(t, c.Close())
			}
		}
	}
	prep := func(q string) *sql.Stmt {
		st, err := r.PrepareContext(ctx, q)
		must(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	rawGet := prep(`SELECT CAST(json(value) AS TEXT), version FROM kv WHERE namespace_id = ?1 AND key = ?2`)
	rawHas := prep(`SELECT EXISTS (SELECT 1 FROM kv WHERE namespace_id = ?1 AND key = ?2)`)
	rawEq := prep(`SELECT key, CAST(json(value) AS TEXT), version FROM kv WHERE namespace_id = ?1 AND value ->> '$.n' = ?2 ORDER BY key`)
	rawTop := prep(`SELECT key, CAST(json(value) AS TEXT), version FROM kv
WHERE namespace_id = ?1 AND value ->> '$.n' >= ?2 AND value ->> '$.n' < ?3
ORDER BY value ->> '$.n' DESC, key DESC LIMIT ?4`)
	rawCount := prep(`SELECT count(*) FROM kv WHERE namespace_id = ?1 AND value ->> '$.n' >= ?2 AND value ->> '$.n' < ?3`)
	rawGetMany := prep(`SELECT key, CAST(json(value) AS TEXT), version FROM kv
WHERE namespace_id = ?1 AND key IN (SELECT value FROM json_each(?2))`)
	// manyKeys are 100 distinct keys spread over the store (rng is
	// declared below).
	var rng *rand.Rand
	manyKeys := func() []string {
		ks := make([]string, 100)
		base := rng.IntN(n)
		for i := range ks {
			ks[i] = key((base + i*(n/100)) % n)
		}
		return ks
	}
	jsonKeys := func(ks []string) string {
		b, _ := json.Marshal(ks)
		return string(b)
	}
	type rec struct {
		key, value string
		version    int64
	}
	rawRecs := func(rows *sql.Rows, err error, want int) error {
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		var out []rec
		for rows.Next() {
			var x rec
			if err := rows.Scan(&x.key, &x.value, &x.version); err != nil {
				return err
			}
			out = append(out, x)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) != want {
			return fmt.Errorf("raw: %d rows, want %d", len(out), want)
		}
		return nil
	}

	nv := n / 10
	rng = rand.New(rand.NewPCG(1, 2))
	checkLen := func(got, want int) error {
		if got != want {
			return fmt.Errorf("%d rows, want %d", got, want)
		}
		return nil
	}
	type pair struct {
		name          string
		engine, raw   func() error
		ops           int
		engCPU, rawCP []float64
		engRd, rawRd  []float64
	}
	pairs := []*pair{
		{name: "query/eq", ops: 1000,
			engine: func() error {
				res, err := s.Query(ctx, storage.Eq("n", rng.IntN(nv)), in)
				if err != nil {
					return err
				}
				return checkLen(len(res.Entries), 10)
			},
			raw: func() error {
				rows, err := rawEq.QueryContext(ctx, 1, rng.IntN(nv))
				return rawRecs(rows, err, 10)
			}},
		{name: "query/top20", ops: 500,
			engine: func() error {
				lo := rng.IntN(nv - 100)
				res, err := s.Query(ctx, storage.And(storage.Gte("n", lo), storage.Lt("n", lo+100)), in,
					storage.SortBy(storage.Desc("n")), storage.Limit(20))
				if err != nil {
					return err
				}
				return checkLen(len(res.Entries), 20)
			},
			raw: func() error {
				lo := rng.IntN(nv - 100)
				rows, err := rawTop.QueryContext(ctx, 1, lo, lo+100, 20)
				return rawRecs(rows, err, 20)
			}},
		{name: "count", ops: 500,
			engine: func() error {
				lo := rng.IntN(nv - 100)
				c, err := s.Count(ctx, in, storage.Where(storage.And(storage.Gte("n", lo), storage.Lt("n", lo+100))))
				if err == nil && c != 1000 {
					err = fmt.Errorf("count %d", c)
				}
				return err
			},
			raw: func() error {
				lo := rng.IntN(nv - 100)
				var c int64
				err := rawCount.QueryRowContext(ctx, 1, lo, lo+100).Scan(&c)
				if err == nil && c != 1000 {
					err = fmt.Errorf("count %d", c)
				}
				return err
			}},
		{name: "get", ops: 3000,
			engine: func() error {
				_, err := s.Get(ctx, key(rng.IntN(n)), in)
				return err
			},
			raw: func() error {
				var v string
				var ver int64
				return rawGet.QueryRowContext(ctx, 1, key(rng.IntN(n))).Scan(&v, &ver)
			}},
		{name: "get/miss", ops: 3000,
			engine: func() error {
				_, err := s.Get(ctx, "nokey"+key(rng.IntN(n)), in)
				if errors.Is(err, storage.ErrNotFound) {
					return nil
				}
				return fmt.Errorf("get miss: %w", err)
			},
			raw: func() error {
				var v string
				var ver int64
				err := rawGet.QueryRowContext(ctx, 1, "nokey"+key(rng.IntN(n))).Scan(&v, &ver)
				if errors.Is(err, sql.ErrNoRows) {
					return nil
				}
				return fmt.Errorf("raw get miss: %w", err)
			}},
		{name: "getMany/100", ops: 100,
			engine: func() error {
				res, err := s.GetMany(ctx, manyKeys(), in)
				if err != nil {
					return err
				}
				return checkLen(len(res.Entries), 100)
			},
			raw: func() error {
				rows, err := rawGetMany.QueryContext(ctx, 1, jsonKeys(manyKeys()))
				return rawRecs(rows, err, 100)
			}},
		{name: "has", ops: 3000,
			engine: func() error {
				ok, err := s.Has(ctx, key(rng.IntN(n)), in)
				if err == nil && !ok {
					err = fmt.Errorf("missing")
				}
				return err
			},
			raw: func() error {
				var ok bool
				err := rawHas.QueryRowContext(ctx, 1, key(rng.IntN(n))).Scan(&ok)
				if err == nil && !ok {
					err = fmt.Errorf("missing")
				}
				return err
			}},
	}
	var out strings.Builder
	for _, f := range []string{"engine.db-wal", "raw.db-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			fmt.Fprintf(&out, "\n%s: %d bytes", f, fi.Size())
		}
	}
	if f := os.Getenv("STORAGE_READCOST_CPUPROFILE"); f != "" {
		// The measured rounds only, both sides (the engine's share is
		// what runs under sqlstore.(*ops)).
		pf, err := os.Create(f)
		must(t, err)
		must(t, pprof.StartCPUProfile(pf))
		defer func() { pprof.StopCPUProfile(); _ = pf.Close() }()
	}
	for _, p := range pairs {
		if only != "" && !slices.ContainsFunc(strings.Split(only, "|"), func(o string) bool { return strings.Contains(p.name, o) }) {
			continue
		}
		for range 50 { // warm both
			must(t, p.engine())
			must(t, p.raw())
		}
		var ratios []float64
		for rd := range rounds {
			var cpu, reads [2]float64
			for k := range 2 {
				j := (k + rd) % 2 // alternate who goes first
				f := p.engine
				if j == 1 {
					f = p.raw
				}
				r0, c0 := readSyscalls(), cpuTime()
				for range p.ops {
					if err := f(); err != nil {
						t.Fatalf("%s (%d): %v", p.name, j, err)
					}
				}
				cpu[j] = float64(cpuTime()-c0) / float64(p.ops) / 1e3
				reads[j] = float64(readSyscalls()-r0) / float64(p.ops)
			}
			p.engCPU, p.rawCP = append(p.engCPU, cpu[0]), append(p.rawCP, cpu[1])
			p.engRd, p.rawRd = append(p.engRd, reads[0]), append(p.rawRd, reads[1])
			ratios = append(ratios, cpu[1]/cpu[0])
		}
		slices.Sort(ratios)
		med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
		fmt.Fprintf(&out, "\n%-12s CPU/op engine %7.1f µs, raw %7.1f µs, raw/engine %.2f (rounds %.2f-%.2f); read syscalls/op engine %.1f, raw %.1f",
			p.name, med(p.engCPU), med(p.rawCP), ratios[rounds/2], ratios[0], ratios[rounds-1], med(p.engRd), med(p.rawRd))
	}
	t.Log(out.String())
}

// readSyscalls is the number of read system calls (read, pread) this
// process has made (Linux: /proc/self/io), 0 where unknown.
func readSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscr: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// measureParams skips t unless the environment variable env is set, and
// returns the entries (env_N, at least 2000: the range queries read 100 of
// the n/10 values) and rounds (env_ROUNDS) the measurement asks for, else
// n and rounds.
func measureParams(t *testing.T, env string, n, rounds int) (int, int) {
	t.Helper()
	if os.Getenv(env) == "" {
		t.Skipf("a measurement: set %s=1 to run it", env)
	}
	if v, err := strconv.Atoi(os.Getenv(env + "_N")); err == nil && v >= 2000 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv(env + "_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	return n, rounds
}

// rawKVTable and rawKVIndex are the table of bench/peers' raw modernc
// program and its one expression index on n ending in the key.
const (
	rawKVTable = `CREATE TABLE kv (
    namespace_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    metadata BLOB NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, key)
);
`
	rawKVIndex = "CREATE INDEX kv_n ON kv (namespace_id, value ->> '$.n', key);"
)

// loadReadCostEngine opens an engine store on the SQLite file at path
// holding namespace "bench" (n declared) with n entries of bench/peers'
// shape: key%09d, {"n": i/10, "c": 0, "s": 216 bytes}.
func loadReadCostEngine(t *testing.T, path string, n int) *Store {
	ctx := t.Context()
	in := storage.InNamespace("bench")
	pad := strings.Repeat("x", 216)
	value := func(i int) string { return fmt.Sprintf(`{"n":%d,"c":0,"s":"%s"}`, i/10, pad) }
	key := func(i int) string { return fmt.Sprintf("key%09d", i) }
	s := openTest(t, "sqlite:"+path, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	must(t, s.CreateNamespace(ctx, "bench", storage.WithIndexes("n")))
	items := make([]storage.Item, 0, 5000)
	for i := range n {
		items = append(items, storage.Item{Key: key(i), Value: json.RawMessage(value(i))})
		if len(items) == cap(items) || i == n-1 {
			if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			items = items[:0]
		}
	}
	return s
}

// TestEqStatementParts measures what each part of Query(Eq(n, v))'s
// SQLite statement costs: the statement buildQuery writes, run as it is
// and with parts removed by hand (the expiry test, the packed column
// replaced by the value and version alone, as raw SQL reads them) or
// added (the checks of the cached ids that migration 00028 made
// needless), each prepared once on one reader connection of the store's
// file and run in alternating rounds in one process (one
// connection: SQLite's page cache is the same for all). It reports the
// CPU per statement (reading its 10 rows with database/sql) and the ratio
// to the engine's statement, median of per-round ratios, and asserts
// nothing. Run it with STORAGE_READCOST=1 (STORAGE_READCOST_N,
// STORAGE_READCOST_ROUNDS as TestReadCostVsRaw):
//
//	STORAGE_READCOST=1 go test -run TestEqStatementParts -v ./sqlstore
func TestEqStatementParts(t *testing.T) {
	n, rounds := measureParams(t, "STORAGE_READCOST", 100000, 9)
	ctx := t.Context()
	dir := t.TempDir()
	s := loadReadCostEngine(t, filepath.Join(dir, "engine.db"), n)
	o, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor, []storage.Option{storage.InNamespace("bench")})
	must(t, err)
	nsi, err := s.readNamespace(ctx, "bench")
	must(t, err)
	p, err := prepareQuery(storage.Eq("n", 1), o)
	must(t, err)
	q, args, _, err := s.buildQuery(ctx, &p, o, nsi, s.now())
	must(t, err)
	t.Logf("engine statement: %s %v", q, args)
	// The parts, as buildQuery writes them today; a part it no longer
	// writes fails the test, so that the figures always name real SQL.
	live := "(expires_at IS NULL OR expires_at > ?)"
	sel, _, ok := strings.Cut(q, " FROM ")
	if !ok || !strings.Contains(q, live) || len(args) != 3 {
		t.Fatalf("the statement's parts moved: %s %v", q, args)
	}
	// args: value, the field's name (indexDrive.fieldLive), now.
	type variant struct {
		name string
		q    string
		args func(v any) []any
		cols int
	}
	all := func(v any) []any { return append([]any{v}, args[1:]...) }
	where, order, ok := strings.Cut(q, " ORDER BY ")
	if !ok {
		t.Fatalf("no ORDER BY: %s", q)
	}
	ns, fid := strconv.FormatInt(nsi.id, 10), strconv.FormatInt(nsi.fields["n"], 10)
	variants := []variant{
		{"engine", q, all, 2},
		// The checks of the cached ids against the names that the
		// statement held until migration 00028.
		{"+idchecks", where + " AND " + fid + " = (SELECT field_id FROM index_fields WHERE namespace_id = " + ns +
			" AND field = 'n') AND namespace_id = (SELECT id FROM namespaces WHERE name = 'bench') ORDER BY " + order, all, 2},
		{"-expiry", strings.Replace(q, live, "? IS NOT NULL", 1), all, 2},
		{"valuecols", "SELECT key, CAST(json(value) AS TEXT), version" + strings.TrimPrefix(q, sel), all, 3},
		// Without the probe of the field's declaration (fieldLive, which
		// stands for namespaceLive: indexDrive.liveConds) that the unlink
		// of Clear and DeleteNamespace and the chunked DropIndex added.
		{"-liveguard", withoutLiveGuard(t, q), all, 2},
	}
	db := s.eng.(*sqliteEngine).r
	conn, err := db.Conn(ctx) // one connection: one page cache
	must(t, err)
	defer func() { _ = conn.Close() }()
	sts := make([]*sql.Stmt, len(variants))
	for i, v := range variants {
		if sts[i], err = conn.PrepareContext(ctx, v.q); err != nil {
			t.Fatalf("%s: %v\n%s", v.name, err, v.q)
		}
		defer func() { _ = sts[i].Close() }()
	}
	nv := n / 10
	rng := rand.New(rand.NewPCG(5, 6))
	run := func(i int) {
		rows, err := sts[i].QueryContext(ctx, variants[i].args(float64(rng.IntN(nv)))...)
		must(t, err)
		var k, v string
		var ver int64
		got := 0
		for rows.Next() {
			if variants[i].cols == 3 {
				err = rows.Scan(&k, &v, &ver)
			} else {
				err = rows.Scan(&k, &v)
			}
			must(t, err)
			got++
		}
		must(t, rows.Err())
		must(t, rows.Close())
		if got != 10 {
			t.Fatalf("%s: %d rows, want 10", variants[i].name, got)
		}
	}
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.name
	}
	t.Log(partsRounds(names, rounds, 1000, run))
}

// partsRounds runs each of the statements named by names ops times a
// round (run(i) runs the i-th), in rotating order, for rounds rounds, and
// reports each one's median CPU per statement and the median of its
// per-round ratios to the first.
func partsRounds(names []string, rounds, ops int, run func(i int)) string {
	cpu := make([][]float64, len(names))
	for r := range rounds {
		for j := range names {
			i := (j + r) % len(names)
			c0 := cpuTime()
			for range ops {
				run(i)
			}
			cpu[i] = append(cpu[i], float64(cpuTime()-c0)/float64(ops)/1e3)
		}
	}
	var out strings.Builder
	for i, name := range names {
		var ratios []float64
		for r := range rounds {
			ratios = append(ratios, cpu[i][r]/cpu[0][r])
		}
		x := slices.Clone(cpu[i])
		slices.Sort(x)
		slices.Sort(ratios)
		fmt.Fprintf(&out, "\n%-12s CPU/statement %6.1f µs, /engine %.2f (rounds %.2f-%.2f)", name, x[rounds/2], ratios[rounds/2], ratios[0], ratios[rounds-1])
	}
	return out.String()
}

// withoutLiveGuard returns q, an SQLite statement of Query driven by a
// declared index, with its probe of the field's declaration
// (indexDrive.fieldLive) replaced by a condition always true that binds
// the same argument; it fails t if q has no probe, or one of the
// namespace's row too (liveConds writes one or the other).
func withoutLiveGuard(t *testing.T, q string) string {
	t.Helper()
	guard := regexp.MustCompile(`EXISTS \(SELECT 1 FROM index_fields WHERE [^)]*\?\)`)
	out := guard.ReplaceAllString(q, "? IS NOT NULL")
	if out == q || strings.Contains(out, "EXISTS (SELECT 1 FROM namespaces") {
		t.Fatalf("not one probe of the field's declaration in %s", q)
	}
	return out
}
