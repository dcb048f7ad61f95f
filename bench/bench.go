package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Namespace is the namespace every workload runs in.
const Namespace = "bench"

// Config is one cell of the matrix: a database, a dataset and how long to
// measure.
type Config struct {
	// Dialect is "sqlite" or "postgres".
	Dialect string
	// Dir holds the SQLite database file (a new file per dataset).
	Dir string
	// PostgresDSN is the server; each dataset gets its own schema, dropped
	// at the end.
	PostgresDSN string
	// Size is the number of entries loaded; ValueSize the approximate JSON
	// size of each value in bytes.
	Size, ValueSize int
	// Rounds is the number of interleaved engine/raw rounds per workload;
	// RoundTime the target duration of one side's round.
	Rounds    int
	RoundTime time.Duration
	// MixedTime is each mixed run's duration per side and goroutine count;
	// MixedGoroutines the counts.
	MixedTime       time.Duration
	MixedGoroutines []int
	// TxTime is each contention run's duration per side and level.
	TxTime time.Duration
	// Only, when set, selects workloads by name.
	Only *regexp.Regexp
	// Log receives progress lines.
	Log io.Writer
}

// Result is one workload's medians.
type Result struct {
	Dialect   string
	Size      int
	ValueSize int
	Workload  string
	// N is the number of operations per round.
	N int
	// Engine and Raw are the medians over rounds of the time per
	// operation.
	Engine, Raw time.Duration
	// EngineAllocs and RawAllocs are allocations per operation (point
	// operations only; -1 otherwise).
	EngineAllocs, RawAllocs float64
	// Raw names the baseline's method where there are several.
	Method string
	// PairRatio is the median of the rounds' engine/raw ratios.
	PairRatio float64
}

// Ratio is the median over rounds of engine time / raw time, each round's
// engine side against the raw side run next to it (a burst of load from
// elsewhere hits a pair, not the whole median).
func (r Result) Ratio() float64 {
	if r.PairRatio > 0 {
		return r.PairRatio
	}
	return float64(r.Engine) / float64(r.Raw)
}

// Report is everything one cell measured.
type Report struct {
	Config  Config
	Results []Result
	Mixed   []MixedResult
	Tx      []TxResult
	// Version is the database version.
	Version string
}

// env is a loaded dataset with the engine and the baseline open on it.
type env struct {
	cfg    Config
	store  *sqlstore.Store
	raw    Raw
	in     storage.Option
	values []map[string]any // a pool of values of the configured size
	seq    int              // for unique keys
	clean  func()
}

// Key is the key of dataset entry i.
func Key(i int) string { return fmt.Sprintf("key:%07d", i) }

// Value is the value of dataset entry i, about size bytes of JSON: n (the
// indexed field), u (the same number, not indexed), s (a string) and pad.
func Value(i, size int) map[string]any {
	v := map[string]any{"n": i, "u": i, "s": fmt.Sprintf("name %07d", i), "tags": []string{"a", "b"}}
	b, _ := json.Marshal(v)
	if pad := size - len(b) - len(`,"pad":""`); pad > 0 {
		v["pad"] = strings.Repeat("x", pad)
	}
	return v
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		_, _ = fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// newPGSchema creates a schema for one dataset and returns a DSN that
// selects it and a function that drops it.
func newPGSchema(ctx context.Context, admin string) (string, func(), error) {
	name := fmt.Sprintf("storebench_%d_%d", os.Getpid(), rand.Uint32())
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", nil, err
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+name+" CASCADE")
			_ = c.Close(ctx)
		}
	}
	u, err := url.Parse(admin)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// setup creates the database, loads the dataset through the engine, runs
// ANALYZE and opens the baseline.
func setup(ctx context.Context, cfg Config) (_ *env, err error) {
	e := &env{cfg: cfg, in: storage.InNamespace(Namespace), clean: func() {}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	var dsn, path string
	switch cfg.Dialect {
	case "sqlite":
		dir, err := os.MkdirTemp(cfg.Dir, "storebench-")
		if err != nil {
			return nil, err
		}
		e.clean = func() { _ = os.RemoveAll(dir) }
		path = filepath.Join(dir, "bench.db")
		dsn = "sqlite:" + path
	case "postgres":
		var drop func()
		dsn, drop, err = newPGSchema(ctx, cfg.PostgresDSN)
		if err != nil {
			return nil, err
		}
		e.clean = drop
	default:
		return nil, fmt.Errorf("unknown dialect %q", cfg.Dialect)
	}
	if e.store, err = sqlstore.Open(ctx, dsn); err != nil {
		return nil, err
	}
	if err := e.store.CreateNamespace(ctx, Namespace, storage.WithIndexes("n")); err != nil {
		return nil, err
	}
	start := time.Now()
	const batch = 1000
	items := make([]storage.Item, 0, batch)
	for i := range cfg.Size {
		items = append(items, storage.Item{Key: Key(i), Value: Value(i, cfg.ValueSize)})
		if len(items) == batch || i == cfg.Size-1 {
			res, err := e.store.SetMany(ctx, items, e.in)
			if err == nil {
				err = res.Err()
			}
			if err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
			items = items[:0]
		}
	}
	// Hot keys for the contention workload.
	for i := range hotKeys {
		if err := e.store.Set(ctx, hotKey(i), map[string]any{"c": 0}, e.in); err != nil {
			return nil, err
		}
	}
	cfg.logf("  loaded %d entries of ~%d B in %s", cfg.Size, cfg.ValueSize, time.Since(start).Round(time.Millisecond))
	if cfg.Dialect == "sqlite" {
		e.raw, err = OpenRawSQLite(ctx, path, Namespace)
	} else {
		e.raw, err = OpenRawPG(ctx, dsn, Namespace)
	}
	if err != nil {
		return nil, err
	}
	// The raw side's own index on n, on its own table (raw_entries, a copy
	// of the loaded entries): the engine's declared index is rows of
	// index_entries, kept by the engine's triggers on entries.
	rawIndex, analyze := `CREATE INDEX IF NOT EXISTS bench_raw_n ON raw_entries (namespace_id, `+sqliteNumN+`, key)`, "ANALYZE"
	if cfg.Dialect == "postgres" {
		rawIndex, analyze = `CREATE INDEX IF NOT EXISTS bench_raw_n ON raw_entries (namespace_id, (`+pgNumN+`), key)`, "VACUUM ANALYZE entries, index_entries, raw_entries"
	}
	if err := e.raw.Exec(ctx, rawIndex); err != nil {
		return nil, err
	}
	if err := e.raw.Exec(ctx, analyze); err != nil {
		return nil, err
	}
	// SQLite connections read statistics when they open: reopen both.
	_ = e.store.Close()
	e.raw.Close()
	if e.store, err = sqlstore.Open(ctx, dsn); err != nil {
		return nil, err
	}
	if cfg.Dialect == "sqlite" {
		e.raw, err = OpenRawSQLite(ctx, path, Namespace)
	} else {
		e.raw, err = OpenRawPG(ctx, dsn, Namespace)
	}
	if err != nil {
		return nil, err
	}
	// The pooled values are those of keys [0, 1000): writes keep the
	// dataset's contents.
	for i := range min(1000, max(cfg.Size, 1)) {
		e.values = append(e.values, Value(i, cfg.ValueSize))
	}
	return e, nil
}

func (e *env) close() {
	if e.raw != nil {
		e.raw.Close()
	}
	if e.store != nil {
		_ = e.store.Close()
	}
	e.clean()
}

const hotKeys = 10

func hotKey(i int) string { return fmt.Sprintf("hot:%02d", i) }

// side is one half of a workload: the engine's or the baseline's.
type side struct {
	// prep runs untimed before a round of n operations.
	prep func(ctx context.Context, n int) error
	op   func(ctx context.Context, i int) error
}

// workload is one row of the table.
type workload struct {
	name        string
	point       bool // report allocations
	method      string
	engine, raw side
	after       func(ctx context.Context) error
	maxN        int
}

// measure runs n operations of s and returns the time and allocations per
// operation.
func measure(ctx context.Context, s side, n int, allocs bool) (time.Duration, float64, error) {
	if s.prep != nil {
		if err := s.prep(ctx, n); err != nil {
			return 0, 0, fmt.Errorf("prep: %w", err)
		}
	}
	var m0, m1 runtime.MemStats
	if allocs {
		runtime.ReadMemStats(&m0)
	}
	start := time.Now()
	for i := range n {
		if err := s.op(ctx, i); err != nil {
			return 0, 0, err
		}
	}
	d := time.Since(start)
	a := -1.0
	if allocs {
		runtime.ReadMemStats(&m1)
		a = float64(m1.Mallocs-m0.Mallocs) / float64(n)
	}
	return d / time.Duration(n), a, nil
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// run measures one workload: a calibration, then Rounds rounds of each
// side, alternating which side goes first.
func (e *env) run(ctx context.Context, w workload) (Result, error) {
	r := Result{Dialect: e.cfg.Dialect, Size: e.cfg.Size, ValueSize: e.cfg.ValueSize, Workload: w.name, Method: w.method,
		EngineAllocs: -1, RawAllocs: -1}
	// Warm up and calibrate: one operation of each side (a first call
	// may prepare statements or read cold pages), then five more unless
	// one already takes a round.
	var te, tr time.Duration
	for _, k := range []int{1, 5} {
		var err error
		if te, _, err = measure(ctx, w.engine, k, false); err != nil {
			return r, fmt.Errorf("%s: engine: %w", w.name, err)
		}
		if tr, _, err = measure(ctx, w.raw, k, false); err != nil {
			return r, fmt.Errorf("%s: raw: %w", w.name, err)
		}
		if max(te, tr) > e.cfg.RoundTime {
			break
		}
	}
	n := int(e.cfg.RoundTime / max(te, tr, time.Microsecond))
	n = max(1, min(n, 5000))
	if w.maxN > 0 {
		n = min(n, w.maxN)
	}
	r.N = n
	var es, rs []time.Duration
	var ea, ra []float64
	for round := range e.cfg.Rounds {
		sides := []struct {
			s      side
			d      *[]time.Duration
			a      *[]float64
			engine bool
		}{{w.engine, &es, &ea, true}, {w.raw, &rs, &ra, false}}
		if round%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, s := range sides {
			d, a, err := measure(ctx, s.s, n, w.point)
			if err != nil {
				who := "raw"
				if s.engine {
					who = "engine"
				}
				return r, fmt.Errorf("%s: %s: %w", w.name, who, err)
			}
			*s.d = append(*s.d, d)
			*s.a = append(*s.a, a)
		}
	}
	r.Engine, r.Raw = median(es), median(rs)
	ratios := make([]float64, len(es))
	for i := range es {
		ratios[i] = float64(es[i]) / float64(rs[i])
	}
	r.PairRatio = median(ratios)
	if w.point {
		r.EngineAllocs, r.RawAllocs = median(ea), median(ra)
	}
	if w.after != nil {
		if err := w.after(ctx); err != nil {
			return r, fmt.Errorf("%s: cleanup: %w", w.name, err)
		}
	}
	return r, nil
}

// Run loads one dataset and measures every workload, the mixed runs and
// the contention runs on it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = 5
	}
	if cfg.RoundTime <= 0 {
		cfg.RoundTime = 50 * time.Millisecond
	}
	cfg.logf("%s: %d entries, ~%d B values", cfg.Dialect, cfg.Size, cfg.ValueSize)
	e, err := setup(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep := &Report{Config: cfg}
	if rep.Version, err = e.raw.Version(ctx); err != nil {
		return nil, err
	}
	for _, w := range e.workloads(ctx) {
		if cfg.Only != nil && !cfg.Only.MatchString(w.name) {
			continue
		}
		res, err := e.run(ctx, w)
		if err != nil {
			return rep, err
		}
		cfg.logf("  %-28s engine %10s  raw %10s  x%.2f  (n=%d)", res.Workload+methodSuffix(res.Method),
			res.Engine, res.Raw, res.Ratio(), res.N)
		rep.Results = append(rep.Results, res)
	}
	if cfg.Only == nil || cfg.Only.MatchString("mixed") {
		for _, g := range cfg.MixedGoroutines {
			m, err := e.mixed(ctx, g)
			if err != nil {
				return rep, err
			}
			for _, x := range m {
				cfg.logf("  mixed-%02d %-6s %9.0f ops/s p50 %s p99 %s errors %v", g, x.Side, x.Throughput, x.P50, x.P99, x.Errors)
			}
			rep.Mixed = append(rep.Mixed, m...)
		}
	}
	if cfg.TxTime > 0 && (cfg.Only == nil || cfg.Only.MatchString("rmw")) {
		for _, lvl := range []storage.IsolationLevel{storage.LevelReadCommitted, storage.LevelRepeatableRead, storage.LevelSerializable} {
			t, err := e.contention(ctx, lvl)
			if err != nil {
				return rep, err
			}
			for _, x := range t {
				cfg.logf("  rmw %-16s %-6s %7.1f commits/s retries %d failures %v", x.Level, x.Side, x.CommitsPerSec, x.Retries, x.Failures)
			}
			rep.Tx = append(rep.Tx, t...)
		}
	}
	return rep, nil
}

func methodSuffix(m string) string {
	if m == "" {
		return ""
	}
	return " (raw: " + m + ")"
}

// errClass names an error for the error counts.
func errClass(err error) string {
	switch {
	case isBusy(err):
		return "busy"
	case errors.Is(err, storage.ErrTxConflict), isPGConflict(err):
		return "conflict"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "context"
	}
	return "other: " + err.Error()
}

func isPGConflict(err error) bool {
	d, _ := dialect.ForName(dialect.Postgres)
	return d.Classify(err).Retryable()
}
