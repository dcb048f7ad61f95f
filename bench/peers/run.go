package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage/dialect"
)

// Durability groups: reads, writes durable at checkpoints, writes durable
// at every commit.
const (
	GroupRead   = "read"
	GroupNormal = "NORMAL"
	GroupFull   = "FULL"
)

// Workload is one operation, run by every system of its group.
type Workload struct {
	Name  string
	Group string
	// Op runs one operation; Concurrent workloads run Mixed instead.
	Op         func(ctx context.Context, s System, i int) error
	Concurrent bool
	// Needs, when set, says which systems of the group can run it.
	Needs func(System) bool
}

// Result is one system's measure of one workload.
type Result struct {
	System      string
	OpsPerSec   float64 // median over rounds
	AllocsPerOp float64 // median over rounds
}

// Row is one workload's results and ratios.
type Row struct {
	Workload, Group string
	Results         []Result
	// Ratios are the medians of per-round engine/baseline throughput
	// ratios, by baseline pair ("engine/modernc", "engine-pg/pgx").
	Ratios map[string]float64
}

// Report is one dataset size.
type Report struct {
	Size       int
	Rows       []Row
	Disk       map[string]int64
	Durability map[string]string
	Load       map[string]time.Duration
	Systems    []string
}

// systems of one dataset size, by name.
type systems struct {
	by    map[string]System
	order []string
	close []func()
}

func (ss *systems) add(s System) {
	ss.by[s.Name()] = s
	ss.order = append(ss.order, s.Name())
}

// Names of the systems.
const (
	sEngine      = "engine"
	sEngineFull  = "engine FULL"
	sModernc     = "modernc"
	sModerncFull = "modernc FULL"
	sMattn       = "mattn"
	sMattnFull   = "mattn FULL"
	sBolt        = "bbolt"
	sBoltNoSync  = "bbolt NoSync"
	sEnginePG    = "engine-pg"
	sPGX         = "pgx"
)

var groups = map[string][]string{
	GroupRead:   {sEngine, sModernc, sMattn, sBolt, sEnginePG, sPGX},
	GroupNormal: {sEngine, sModernc, sMattn, sBoltNoSync},
	GroupFull:   {sEngineFull, sModerncFull, sMattnFull, sBolt, sEnginePG, sPGX},
}

// ratioPairs are the engine/baseline pairs of each group.
var ratioPairs = map[string][][2]string{
	GroupRead:   {{sEngine, sModernc}, {sEnginePG, sPGX}},
	GroupNormal: {{sEngine, sModernc}},
	GroupFull:   {{sEngineFull, sModerncFull}, {sEnginePG, sPGX}},
}

func sqliteDSN(path string, full bool) string {
	o := dialect.DefaultSQLiteOptions
	o.SynchronousFull = full
	return dialect.SQLiteDriverDSN(path, o, true)
}

func sqliteReaderDSN(path string) string {
	return dialect.SQLiteDriverDSN(path, dialect.DefaultSQLiteOptions, false)
}

func mattnDSN(path string, full, writer bool) string {
	sync := "NORMAL"
	if full {
		sync = "FULL"
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", sync)
	q.Set("_busy_timeout", "5000")
	q.Set("_foreign_keys", "1")
	// The page cache of dialect.DefaultSQLiteOptions (KiB), as the engine
	// and modernc have.
	q.Set("_cache_size", strconv.Itoa(-dialect.DefaultSQLiteOptions.CacheKiB))
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	return "file:" + path + "?" + q.Encode()
}

// open opens and loads every system for n entries.
func open(ctx context.Context, cfg Config, dir string, n int) (_ *systems, load map[string]time.Duration, err error) {
	ss := &systems{by: map[string]System{}}
	load = map[string]time.Duration{}
	defer func() {
		if err != nil {
			ss.Close()
		}
	}()
	keep := func(s System, err error) error {
		if err != nil {
			return err
		}
		ss.add(s)
		return nil
	}
	timed := func(name string, s System) error {
		start := time.Now()
		err := loadData(ctx, s, n, cfg.ValueSize)
		load[name] = time.Since(start)
		return err
	}

	enginePath := filepath.Join(dir, "engine.db")
	e, err := openEngine(ctx, sEngine, "synchronous=NORMAL (WAL: durable at checkpoints)", "sqlite:"+enginePath, enginePath, "")
	if err = keep(e, err); err != nil {
		return nil, nil, err
	}
	if err := timed(sEngine, e); err != nil {
		return nil, nil, err
	}
	ef, err := openEngine(ctx, sEngineFull, "synchronous=FULL (durable at every commit)", "sqlite:"+enginePath+"?synchronous=full", enginePath, "")
	if err = keep(ef, err); err != nil {
		return nil, nil, err
	}

	rawPath := filepath.Join(dir, "raw.db")
	m, err := openRawSQLite(ctx, sModernc, "synchronous=NORMAL", "sqlite", sqliteDSN(rawPath, false), sqliteReaderDSN(rawPath), rawPath)
	if err = keep(m, err); err != nil {
		return nil, nil, err
	}
	if err := timed(sModernc, m); err != nil {
		return nil, nil, err
	}
	for _, s := range []struct {
		name, dur, driver, w, r string
	}{
		{sModerncFull, "synchronous=FULL", "sqlite", sqliteDSN(rawPath, true), sqliteReaderDSN(rawPath)},
		{sMattn, "synchronous=NORMAL", "sqlite3", mattnDSN(rawPath, false, true), mattnDSN(rawPath, false, false)},
		{sMattnFull, "synchronous=FULL", "sqlite3", mattnDSN(rawPath, true, true), mattnDSN(rawPath, false, false)},
	} {
		x, err := openRawSQLite(ctx, s.name, s.dur, s.driver, s.w, s.r, rawPath)
		if err = keep(x, err); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}

	db, err := openBolt(filepath.Join(dir, "bolt.db"))
	if err != nil {
		return nil, nil, err
	}
	ss.add(&boltSys{db: db})
	nosync := &boltSys{db: db, noSync: true}
	ss.add(nosync)
	if err := timed(sBoltNoSync, nosync); err != nil {
		return nil, nil, err
	}

	if cfg.PG != "" {
		for _, name := range []string{sEnginePG, sPGX} {
			dsn, schema, drop, err := newPGSchema(ctx, cfg.PG)
			if err != nil {
				return nil, nil, err
			}
			ss.close = append(ss.close, drop)
			var s System
			if name == sEnginePG {
				s, err = openEngine(ctx, sEnginePG, "PostgreSQL defaults (durable at every commit)", dsn, "", schema)
			} else {
				s, err = openRawPG(ctx, dsn, schema)
			}
			if err = keep(s, err); err != nil {
				return nil, nil, err
			}
			if err := timed(name, s); err != nil {
				return nil, nil, err
			}
			if err := analyzePG(ctx, dsn); err != nil {
				return nil, nil, err
			}
		}
	}
	return ss, load, nil
}

func (ss *systems) Close() {
	for _, s := range ss.by {
		_ = s.Close()
	}
	for _, f := range ss.close {
		f()
	}
}

// loadData writes entries [0, n) in batches of 1000.
func loadData(ctx context.Context, s System, n, valueSize int) error {
	const batch = 1000
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		keys := make([]string, 0, hi-lo)
		vals := make([][]byte, 0, hi-lo)
		for i := lo; i < hi; i++ {
			keys = append(keys, Key(i))
			vals = append(vals, value(i, valueSize))
		}
		if err := s.SetMany(ctx, keys, vals); err != nil {
			return fmt.Errorf("load %s: %w", s.Name(), err)
		}
	}
	return nil
}

// newPGSchema creates a schema and returns a DSN whose search_path selects
// it, and a function that drops it.
func newPGSchema(ctx context.Context, admin string) (dsn, schema string, drop func(), err error) {
	schema = fmt.Sprintf("peers_%d_%d", os.Getpid(), rand.Uint32())
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", "", nil, err
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", "", nil, err
	}
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(ctx)
		}
	}
	u, err := url.Parse(admin)
	if err != nil {
		drop()
		return "", "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema, drop, nil
}

// analyzePG vacuums and analyzes the tables of the DSN's schema once its
// system is loaded, as a careful operator does after a bulk load: the
// planner gets statistics and index-only scans get a visibility map. Both
// PostgreSQL systems get it, so both are measured in the same state;
// without the VACUUM a run of the query workloads alone measured freshly
// loaded tables (bitmap heap scans, heap fetches for every index row),
// while a full run measured them after autovacuum had caught up during the
// write workloads (bench/results/2026-12-02-qpath2.md).
func analyzePG(ctx context.Context, dsn string) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(ctx) }()
	rows, err := c.Query(ctx, "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = current_schema()")
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := c.Exec(ctx, "VACUUM (ANALYZE) "+t); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	return nil
}

// workloads of a dataset of n entries.
func workloads(n, valueSize int) []Workload {
	var seq atomic.Int64
	// Inserted entries get n values above the dataset's, out of every
	// query's range.
	fresh := func() (string, []byte) {
		i := int(seq.Add(1))
		return fmt.Sprintf("new%09d", i), value(n*Groups+i, valueSize)
	}
	nv := n / Groups // values of n in the dataset
	found := func(ok bool, err error) error {
		if err == nil && !ok {
			err = fmt.Errorf("not found")
		}
		return err
	}
	rows := func(want int) func([]Rec, error) error {
		return func(r []Rec, err error) error {
			if err == nil && len(r) != want {
				err = fmt.Errorf("%d rows, want %d", len(r), want)
			}
			return err
		}
	}
	getHit := func(ctx context.Context, s System, _ int) error {
		_, ok, err := s.Get(ctx, randKey(n))
		return found(ok, err)
	}
	overwrite := func(ctx context.Context, s System, _ int) error {
		j := rand.IntN(n)
		return s.Set(ctx, Key(j), value(j, valueSize))
	}
	insert := func(ctx context.Context, s System, _ int) error {
		k, v := fresh()
		return s.Set(ctx, k, v)
	}
	setMany := func(ctx context.Context, s System, _ int) error {
		keys, vals := make([]string, 1000), make([][]byte, 1000)
		for i := range keys {
			keys[i], vals[i] = fresh()
		}
		return s.SetMany(ctx, keys, vals)
	}
	rmw := func(ctx context.Context, s System, _ int) error { return s.RMW(ctx, randKey(n)) }
	// The second dataset (twoFields): batches of 1000 new keys, and
	// batches rewriting the same 1000 keys with both indexed fields moved.
	var seq2, batch2 atomic.Int64
	setMany2 := func(ctx context.Context, s System, _ int) error {
		keys, vals := make([]string, 1000), make([][]byte, 1000)
		for j := range keys {
			i := int(seq2.Add(1))
			keys[j], vals[j] = fmt.Sprintf("two%09d", i), value2(i/Groups, i%1000, valueSize)
		}
		return s.(twoFields).SetMany2(ctx, keys, vals)
	}
	moveMany2 := func(ctx context.Context, s System, _ int) error {
		b := int(batch2.Add(1))
		keys, vals := make([]string, 1000), make([][]byte, 1000)
		for j := range keys {
			keys[j], vals[j] = fmt.Sprintf("moved%04d", j), value2(j+b, (j+b)%1000, valueSize)
		}
		return s.(twoFields).SetMany2(ctx, keys, vals)
	}
	hasTwo := func(s System) bool { _, ok := s.(twoFields); return ok }
	var ws []Workload
	for _, g := range []string{GroupNormal, GroupFull} {
		ws = append(ws,
			Workload{Name: "set/insert", Group: g, Op: insert},
			Workload{Name: "set/overwrite", Group: g, Op: overwrite},
			Workload{Name: "setMany/1000 new", Group: g, Op: setMany},
			Workload{Name: "tx/read-modify-write", Group: g, Op: rmw},
			Workload{Name: "setMany/1000 new, 2 fields", Group: g, Op: setMany2, Needs: hasTwo},
			Workload{Name: "setMany/1000 both fields moved", Group: g, Op: moveMany2, Needs: hasTwo},
			// Five callers overwriting at once: what a server's
			// concurrent requests do (a durable system that commits
			// them one flush each runs at its single writer's rate).
			Workload{Name: "set/overwrite, 5 writers", Group: g, Op: overwrite, Concurrent: true},
		)
	}
	ws = append(ws,
		Workload{Name: "get/hit", Group: GroupRead, Op: getHit},
		Workload{Name: "get/miss", Group: GroupRead, Op: func(ctx context.Context, s System, i int) error {
			_, ok, err := s.Get(ctx, fmt.Sprintf("miss%07d", i))
			if ok {
				err = fmt.Errorf("found")
			}
			return err
		}},
		Workload{Name: "has", Group: GroupRead, Op: func(ctx context.Context, s System, _ int) error {
			return found(s.Has(ctx, randKey(n)))
		}},
		Workload{Name: "getMany/100", Group: GroupRead, Op: func(ctx context.Context, s System, _ int) error {
			lo := rand.IntN(n - 1000)
			keys := make([]string, 100)
			for i := range keys {
				keys[i] = Key(lo + i*10)
			}
			return rows(100)(s.GetMany(ctx, keys))
		}},
		Workload{Name: "query/indexed-eq", Group: GroupRead, Op: func(ctx context.Context, s System, _ int) error {
			return rows(Groups)(s.QueryEq(ctx, rand.IntN(nv)))
		}},
		Workload{Name: "query/range-sort-limit-20", Group: GroupRead, Op: func(ctx context.Context, s System, _ int) error {
			lo := rand.IntN(nv - 100)
			return rows(20)(s.QueryTop(ctx, lo, lo+100, 20))
		}},
		Workload{Name: "count/filter", Group: GroupRead, Op: func(ctx context.Context, s System, _ int) error {
			lo := rand.IntN(nv - 100)
			c, err := s.Count(ctx, lo, lo+100)
			if err == nil && c != 100*Groups {
				err = fmt.Errorf("count %d, want %d", c, 100*Groups)
			}
			return err
		}},
		Workload{Name: "list/prefix-100", Group: GroupRead, Op: func(ctx context.Context, s System, _ int) error {
			return rows(100)(s.ListPrefix(ctx, Key(rand.IntN(n/1000) * 1000)[:5], 100))
		}},
		Workload{Name: "mixed/4-readers-1-writer", Group: GroupNormal, Concurrent: true,
			Op: func(ctx context.Context, s System, i int) error {
				if i%5 == 4 {
					return overwrite(ctx, s, i)
				}
				return getHit(ctx, s, i)
			}},
	)
	return ws
}

// turn runs w on s for d and returns its operations per second and
// allocations per operation.
func turn(ctx context.Context, w Workload, s System, d time.Duration, base int) (float64, float64, error) {
	// Samples of a -cpuprofile carry the system and the workload:
	// pprof -tagfocus='system=^engine$' -tagfocus='workload=^has$'.
	outer := ctx
	ctx = pprof.WithLabels(ctx, pprof.Labels("system", s.Name(), "workload", w.Name))
	pprof.SetGoroutineLabels(ctx)
	defer pprof.SetGoroutineLabels(outer)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	deadline := start.Add(d)
	var ops atomic.Int64
	var firstErr error
	if w.Concurrent {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for g := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; time.Now().Before(deadline); i++ {
					if err := w.Op(ctx, s, g+5*(base+i)); err != nil {
						mu.Lock()
						firstErr = cmpErr(firstErr, err)
						mu.Unlock()
						return
					}
					ops.Add(1)
				}
			}()
		}
		wg.Wait()
	} else {
		for i := 0; i == 0 || time.Now().Before(deadline); i++ {
			if err := w.Op(ctx, s, base+i); err != nil {
				return 0, 0, err
			}
			ops.Add(1)
		}
	}
	el := time.Since(start)
	runtime.ReadMemStats(&ms1)
	n := float64(ops.Load())
	if firstErr != nil {
		return 0, 0, firstErr
	}
	return n / el.Seconds(), float64(ms1.Mallocs-ms0.Mallocs) / max(n, 1), nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Run measures every workload at n entries.
func Run(ctx context.Context, cfg Config, n int) (*Report, error) {
	dir, err := os.MkdirTemp(cfg.Dir, "peers-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cfg.Log("%d entries: loading", n)
	ss, load, err := open(ctx, cfg, dir, n)
	if err != nil {
		return nil, err
	}
	defer ss.Close()
	rep := &Report{Size: n, Disk: map[string]int64{}, Durability: map[string]string{}, Load: load, Systems: ss.order}
	for _, name := range ss.order {
		s := ss.by[name]
		rep.Durability[name] = s.Durability()
		if b, err := s.DiskBytes(ctx); err == nil {
			rep.Disk[name] = b
		}
	}
	base := 0
	for _, w := range workloads(n, cfg.ValueSize) {
		if cfg.Only != nil && !cfg.Only.MatchString(w.Name) {
			continue
		}
		var present []System
		for _, name := range groups[w.Group] {
			if s, ok := ss.by[name]; ok && (w.Needs == nil || w.Needs(s)) {
				present = append(present, s)
			}
		}
		cfg.Log("%d entries: %s (%s)", n, w.Name, w.Group)
		ops := map[string][]float64{}
		allocs := map[string][]float64{}
		for _, s := range present { // warm-up
			if _, _, err := turn(ctx, w, s, cfg.RoundTime/4, base); err != nil {
				return nil, fmt.Errorf("%s on %s: %w", w.Name, s.Name(), err)
			}
			base += 1 << 20
		}
		ratios := map[string][]float64{}
		for r := 0; r < cfg.Rounds; r++ {
			got := map[string]float64{}
			for k := range present {
				s := present[(k+r)%len(present)]
				o, a, err := turn(ctx, w, s, cfg.RoundTime, base)
				base += 1 << 20
				if err != nil {
					return nil, fmt.Errorf("%s on %s: %w", w.Name, s.Name(), err)
				}
				got[s.Name()] = o
				ops[s.Name()] = append(ops[s.Name()], o)
				allocs[s.Name()] = append(allocs[s.Name()], a)
			}
			for _, p := range ratioPairs[w.Group] {
				if e, ok := got[p[0]]; ok {
					if b, ok := got[p[1]]; ok && b > 0 {
						key := p[0] + "/" + p[1]
						ratios[key] = append(ratios[key], e/b)
					}
				}
			}
		}
		row := Row{Workload: w.Name, Group: w.Group, Ratios: map[string]float64{}}
		for _, s := range present {
			row.Results = append(row.Results, Result{System: s.Name(), OpsPerSec: median(ops[s.Name()]), AllocsPerOp: median(allocs[s.Name()])})
		}
		for k, v := range ratios {
			row.Ratios[k] = median(v)
		}
		rep.Rows = append(rep.Rows, row)
	}
	for _, name := range ss.order {
		if b, err := ss.by[name].DiskBytes(ctx); err == nil && rep.Disk[name] == 0 {
			rep.Disk[name] = b
		}
	}
	return rep, nil
}
