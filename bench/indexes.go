package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// The declared-index comparison (issue 13, storebench -indexes): the
// filter-and-sort shapes users run on declared fields, the engine against
// hand-written SQL on a table of its own with one index per field.
//
// Dataset: Size entries in namespace IndexNamespace, each
// {"g": i mod Size/10, "t": "t" + g as 7 digits, "pad": ~200 B}: g and t
// have groups of 10 equal values, and the keys (ixKey) are not in g's order.
// The engine declares g and t (storage.WithIndexes). The baseline's table
// raw_entries has the engine's columns and primary key (raw_sqlite.go,
// raw_pg.go), a copy of the namespace's rows, no trigger, and one index per field on (namespace_id, the field as
// one writes it by hand, key): SQLite value ->> '$.g', PostgreSQL
// ((value ->> 'g')::float8) and ((value ->> 't') COLLATE "C"). Its
// statements know the namespace id, are prepared once and kept (SQLite
// *sql.Stmt on the reader pool; pgx's statement cache), read the same
// columns and apply the same limit (one row more than the page, as the
// engine does). Ties of a sort are broken by ascending key on both sides,
// as the contract says. Before measuring, each workload's engine and raw
// answers are compared (the same keys in the same order). The write
// workloads (ixWrites) run last.

// IndexNamespace is the namespace of the declared-index comparison.
const IndexNamespace = "ix"

// IndexWorkloads are the names of the comparison's workloads.
var IndexWorkloads = []string{
	"ix/eq-number", "ix/eq-string", "ix/range-sort-asc-20", "ix/range-sort-desc-20",
	"ix/eq-sort-key-20", "ix/sort-desc-20", "ix/startsWith-sort-20",
	"ix/set-overwrite", "ix/setMany-1000-overwrite", "ix/setMany-1000-new",
}

func ixKey(i int) string { return fmt.Sprintf("k%08d", (i*7919)%100_000_000) }

func ixValue(i, groups int) map[string]any {
	g := i % groups
	return map[string]any{"g": g, "t": fmt.Sprintf("t%07d", g), "pad": strings.Repeat("x", 200)}
}

// ixShape is one workload: the engine's filter and options, and the
// baseline's statement arguments.
type ixShape struct {
	name  string
	f     storage.Filter
	opts  []storage.Option
	query string // the key of the baseline statement
	args  []any
}

// ixShapes draws the shapes of one operation, for groups distinct values.
func ixShapes(groups int) []func() ixShape {
	g := func() int { return rand.IntN(groups) }
	return []func() ixShape{
		func() ixShape {
			v := g()
			return ixShape{"ix/eq-number", storage.Eq("g", v), nil, "eqNum", []any{float64(v)}}
		},
		func() ixShape {
			v := fmt.Sprintf("t%07d", g())
			return ixShape{"ix/eq-string", storage.Eq("t", v), nil, "eqStr", []any{v}}
		},
		func() ixShape {
			v := rand.IntN(max(1, groups-100))
			return ixShape{"ix/range-sort-asc-20", storage.And(storage.Gte("g", v), storage.Lt("g", v+100)),
				[]storage.Option{storage.SortBy(storage.Asc("g")), storage.Limit(20)}, "rangeAsc", []any{float64(v), float64(v + 100)}}
		},
		func() ixShape {
			v := rand.IntN(max(1, groups-100))
			return ixShape{"ix/range-sort-desc-20", storage.And(storage.Gte("g", v), storage.Lt("g", v+100)),
				[]storage.Option{storage.SortBy(storage.Desc("g")), storage.Limit(20)}, "rangeDesc", []any{float64(v), float64(v + 100)}}
		},
		func() ixShape {
			v := g()
			return ixShape{"ix/eq-sort-key-20", storage.Eq("g", v),
				[]storage.Option{storage.SortBy(storage.Asc("$key")), storage.Limit(20)}, "eqKey", []any{float64(v)}}
		},
		func() ixShape {
			return ixShape{"ix/sort-desc-20", storage.All(),
				[]storage.Option{storage.SortBy(storage.Desc("g")), storage.Limit(20)}, "sortDesc", nil}
		},
		func() ixShape {
			v := fmt.Sprintf("t%05d", rand.IntN(max(1, groups/100)))
			lo, hi := dialect.KeyRange(v)
			return ixShape{"ix/startsWith-sort-20", storage.StartsWith("t", v),
				[]storage.Option{storage.SortBy(storage.Asc("t")), storage.Limit(20)}, "prefixSort", []any{lo, hi}}
		},
	}
}

// ixRaw is the comparison's baseline.
type ixRaw interface {
	query(ctx context.Context, name string, args []any) ([]string, error)
	exec(ctx context.Context, stmt string) error
	version(ctx context.Context) (string, error)
	close()
}

const ixSQLiteCols = `key, CAST(json(value) AS TEXT), CAST(json(metadata) AS TEXT), version, created_at, updated_at`

var ixSQLiteQueries = map[string]string{
	"eqNum":      `WHERE namespace_id = ?1 AND value ->> '$.g' = ?2 ORDER BY key`,
	"eqStr":      `WHERE namespace_id = ?1 AND value ->> '$.t' = ?2 ORDER BY key`,
	"rangeAsc":   `WHERE namespace_id = ?1 AND value ->> '$.g' >= ?2 AND value ->> '$.g' < ?3 ORDER BY value ->> '$.g', key LIMIT 21`,
	"rangeDesc":  `WHERE namespace_id = ?1 AND value ->> '$.g' >= ?2 AND value ->> '$.g' < ?3 ORDER BY value ->> '$.g' DESC, key LIMIT 21`,
	"eqKey":      `WHERE namespace_id = ?1 AND value ->> '$.g' = ?2 ORDER BY key LIMIT 21`,
	"sortDesc":   `WHERE namespace_id = ?1 ORDER BY value ->> '$.g' DESC, key LIMIT 21`,
	"prefixSort": `WHERE namespace_id = ?1 AND value ->> '$.t' >= ?2 AND value ->> '$.t' < ?3 ORDER BY value ->> '$.t', key LIMIT 21`,
}

const ixPGCols = `key, value, metadata, version, created_at, updated_at`

var ixPGQueries = map[string]string{
	"eqNum":      `WHERE namespace_id = $1 AND (value ->> 'g')::float8 = $2 ORDER BY key`,
	"eqStr":      `WHERE namespace_id = $1 AND (value ->> 't') COLLATE "C" = $2 ORDER BY key`,
	"rangeAsc":   `WHERE namespace_id = $1 AND (value ->> 'g')::float8 >= $2 AND (value ->> 'g')::float8 < $3 ORDER BY (value ->> 'g')::float8, key LIMIT 21`,
	"rangeDesc":  `WHERE namespace_id = $1 AND (value ->> 'g')::float8 >= $2 AND (value ->> 'g')::float8 < $3 ORDER BY (value ->> 'g')::float8 DESC, key LIMIT 21`,
	"eqKey":      `WHERE namespace_id = $1 AND (value ->> 'g')::float8 = $2 ORDER BY key LIMIT 21`,
	"sortDesc":   `WHERE namespace_id = $1 ORDER BY (value ->> 'g')::float8 DESC, key LIMIT 21`,
	"prefixSort": `WHERE namespace_id = $1 AND (value ->> 't') COLLATE "C" >= $2 AND (value ->> 't') COLLATE "C" < $3 ORDER BY (value ->> 't') COLLATE "C", key LIMIT 21`,
}

type ixRawSQLite struct {
	db    *sql.DB
	nsID  int64
	stmts map[string]*sql.Stmt
}

func openIxRawSQLite(ctx context.Context, path string, nsID int64) (*ixRawSQLite, error) {
	db, err := sql.Open("sqlite", dialect.SQLiteDriverDSN(path, dialect.DefaultSQLiteOptions, false))
	if err != nil {
		return nil, err
	}
	x := &ixRawSQLite{db: db, nsID: nsID, stmts: map[string]*sql.Stmt{}}
	for name, q := range ixSQLiteQueries {
		st, err := db.PrepareContext(ctx, `SELECT `+ixSQLiteCols+` FROM raw_entries `+q)
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("prepare %s: %w", name, err)
		}
		x.stmts[name] = st
	}
	return x, nil
}

func (x *ixRawSQLite) query(ctx context.Context, name string, args []any) ([]string, error) {
	rows, err := x.stmts[name].QueryContext(ctx, append([]any{x.nsID}, args...)...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var keys []string
	for rows.Next() {
		var k, v, m string
		var ver, c, u int64
		if err := rows.Scan(&k, &v, &m, &ver, &c, &u); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

func (x *ixRawSQLite) exec(ctx context.Context, stmt string) error {
	_, err := x.db.ExecContext(ctx, stmt)
	return err
}

func (x *ixRawSQLite) version(ctx context.Context) (string, error) {
	var v string
	err := x.db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v)
	return v, err
}

func (x *ixRawSQLite) close() { _ = x.db.Close() }

type ixRawPG struct {
	pool *pgxpool.Pool
	nsID int64
}

func (x *ixRawPG) query(ctx context.Context, name string, args []any) ([]string, error) {
	rows, err := x.pool.Query(ctx, `SELECT `+ixPGCols+` FROM raw_entries `+ixPGQueries[name], append([]any{x.nsID}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		var v, m []byte
		var ver int64
		var c, u time.Time
		if err := rows.Scan(&k, &v, &m, &ver, &c, &u); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

func (x *ixRawPG) exec(ctx context.Context, stmt string) error {
	_, err := x.pool.Exec(ctx, stmt)
	return err
}

func (x *ixRawPG) version(ctx context.Context) (string, error) {
	var v string
	err := x.pool.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return v, err
}

func (x *ixRawPG) close() { x.pool.Close() }

// RunIndexes loads the declared-index dataset (cfg.Size entries) and
// measures IndexWorkloads on it, engine and baseline in interleaved rounds.
func RunIndexes(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = 9
	}
	if cfg.RoundTime <= 0 {
		cfg.RoundTime = 30 * time.Millisecond
	}
	cfg.ValueSize = 256
	var dsn, path string
	clean := func() {}
	defer func() { clean() }()
	switch cfg.Dialect {
	case "sqlite":
		dir, err := os.MkdirTemp(cfg.Dir, "storebench-ix-")
		if err != nil {
			return nil, err
		}
		clean = func() { _ = os.RemoveAll(dir) }
		path = filepath.Join(dir, "ix.db")
		dsn = "sqlite:" + path
	case "postgres":
		var err error
		if dsn, clean, err = newPGSchema(ctx, cfg.PostgresDSN); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown dialect %q", cfg.Dialect)
	}
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.Close() }()
	in := storage.InNamespace(IndexNamespace)
	if err := st.CreateNamespace(ctx, IndexNamespace, storage.WithIndexes("g", "t")); err != nil {
		return nil, err
	}
	groups := max(1, cfg.Size/10)
	start := time.Now()
	items := make([]storage.Item, 0, 1000)
	for i := range cfg.Size {
		items = append(items, storage.Item{Key: ixKey(i), Value: ixValue(i, groups)})
		if len(items) == cap(items) || i == cfg.Size-1 {
			res, err := st.SetMany(ctx, items, in)
			if err == nil {
				err = res.Err()
			}
			if err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
			items = items[:0]
		}
	}
	cfg.logf("  loaded %d entries in %s", cfg.Size, time.Since(start).Round(time.Millisecond))
	var nsID int64
	var raw ixRaw
	var rawW Raw // the writes of the baseline (raw_sqlite.go, raw_pg.go)
	ddl := []string{}
	if cfg.Dialect == "sqlite" {
		ddl = append(ddl, sqliteRawTable, sqliteRawCopy,
			`CREATE INDEX raw_g ON raw_entries (namespace_id, value ->> '$.g', key)`,
			`CREATE INDEX raw_t ON raw_entries (namespace_id, value ->> '$.t', key)`,
			`ANALYZE`)
	} else {
		ddl = append(ddl, pgRawTable, pgRawCopy,
			`CREATE INDEX raw_g ON raw_entries (namespace_id, ((value ->> 'g')::float8), key)`,
			`CREATE INDEX raw_t ON raw_entries (namespace_id, ((value ->> 't') COLLATE "C"), key)`,
			`VACUUM ANALYZE raw_entries`, `VACUUM ANALYZE entries, index_entries`)
	}
	if cfg.Dialect == "sqlite" {
		db, err := sql.Open("sqlite", dialect.SQLiteDriverDSN(path, dialect.DefaultSQLiteOptions, true))
		if err != nil {
			return nil, err
		}
		for _, q := range ddl {
			if _, err := db.ExecContext(ctx, q); err != nil {
				_ = db.Close()
				return nil, fmt.Errorf("%s: %w", q, err)
			}
		}
		if err := db.QueryRowContext(ctx, `SELECT id FROM namespaces WHERE name = ?`, IndexNamespace).Scan(&nsID); err != nil {
			_ = db.Close()
			return nil, err
		}
		_ = db.Close()
		// SQLite connections read the statistics when they open.
		_ = st.Close()
		if st, err = sqlstore.Open(ctx, dsn); err != nil {
			return nil, err
		}
		if raw, err = openIxRawSQLite(ctx, path, nsID); err != nil {
			return nil, err
		}
		if rawW, err = OpenRawSQLite(ctx, path, IndexNamespace); err != nil {
			raw.close()
			return nil, err
		}
	} else {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return nil, err
		}
		for _, q := range ddl {
			if _, err := pool.Exec(ctx, q); err != nil {
				pool.Close()
				return nil, fmt.Errorf("%s: %w", q, err)
			}
		}
		if err := pool.QueryRow(ctx, `SELECT id FROM namespaces WHERE name = $1`, IndexNamespace).Scan(&nsID); err != nil {
			pool.Close()
			return nil, err
		}
		raw = &ixRawPG{pool: pool, nsID: nsID}
		if rawW, err = OpenRawPG(ctx, dsn, IndexNamespace); err != nil {
			raw.close()
			return nil, err
		}
	}
	defer raw.close()
	defer rawW.Close()
	rep := &Report{Config: cfg}
	if rep.Version, err = raw.version(ctx); err != nil {
		return nil, err
	}
	e := &env{cfg: cfg}
	for _, draw := range ixShapes(groups) {
		name := draw().name
		if cfg.Only != nil && !cfg.Only.MatchString(name) {
			continue
		}
		// The same answers first, on a few draws.
		for range 5 {
			sh := draw()
			res, err := st.Query(ctx, sh.f, append(sh.opts, in)...)
			if err != nil {
				return nil, fmt.Errorf("%s: engine: %w", name, err)
			}
			keys, err := raw.query(ctx, sh.query, sh.args)
			if err != nil {
				return nil, fmt.Errorf("%s: raw: %w", name, err)
			}
			got := make([]string, len(res.Entries))
			for i, en := range res.Entries {
				got[i] = en.Key
			}
			if len(keys) > len(got) && len(got) == 20 {
				keys = keys[:20]
			}
			if !slices.Equal(got, keys) || len(got) == 0 {
				return nil, fmt.Errorf("%s: the engine returned %v, the baseline %v", name, got, keys)
			}
		}
		w := workload{name: name,
			engine: side{op: func(ctx context.Context, _ int) error {
				sh := draw()
				_, err := st.Query(ctx, sh.f, append(sh.opts, in)...)
				return err
			}},
			raw: side{op: func(ctx context.Context, _ int) error {
				sh := draw()
				_, err := raw.query(ctx, sh.query, sh.args)
				return err
			}}}
		r, err := e.run(ctx, w)
		if err != nil {
			return rep, err
		}
		cfg.logf("  %s: engine %s, raw %s, engine/raw %.2f", name, dur(r.Engine), dur(r.Raw), r.Ratio())
		rep.Results = append(rep.Results, r)
	}
	// The writes, after the reads (they change the values): each side
	// writes its own table, the same keys and values.
	for _, w := range ixWrites(st, rawW, cfg.Size, groups) {
		if cfg.Only != nil && !cfg.Only.MatchString(w.name) {
			continue
		}
		r, err := e.run(ctx, w)
		if err != nil {
			return rep, err
		}
		cfg.logf("  %s: engine %s, raw %s, engine/raw %.2f", w.name, dur(r.Engine), dur(r.Raw), r.Ratio())
		rep.Results = append(rep.Results, r)
	}
	return rep, nil
}

// ixWrites are the write workloads of the comparison: Set of an existing
// key and SetMany of 1000 existing or new keys, each value with other
// values of both declared fields (g and t), against the baseline's upsert
// (its first bulk method for SetMany: json_each on SQLite, unnest on
// PostgreSQL) on raw_entries and its two indexes.
func ixWrites(st *sqlstore.Store, raw Raw, size, groups int) []workload {
	in := storage.InNamespace(IndexNamespace)
	method := raw.BulkMethods()[0]
	now := func() time.Time { return time.Now().UTC() }
	shift := func() int { return 1 + rand.IntN(groups) }
	fresh := map[bool]int{} // the next new key of each side
	batch := func(isNew, engine bool) ([]string, []map[string]any) {
		keys, vals := make([]string, 0, 1000), make([]map[string]any, 0, 1000)
		if isNew {
			n := fresh[engine]
			fresh[engine] += 1000
			for i := n; i < n+1000; i++ {
				keys = append(keys, fmt.Sprintf("new%09d", i))
				vals = append(vals, ixValue(i, groups))
			}
			return keys, vals
		}
		off, d := rand.IntN(max(1, size-1000)), shift()
		for i := off; i < min(size, off+1000); i++ {
			keys = append(keys, ixKey(i))
			vals = append(vals, ixValue(i+d, groups))
		}
		return keys, vals
	}
	setMany := func(name string, isNew bool) workload {
		return workload{name: name, method: method,
			engine: side{op: func(ctx context.Context, _ int) error {
				keys, vals := batch(isNew, true)
				items := make([]storage.Item, len(keys))
				for i, k := range keys {
					items[i] = storage.Item{Key: k, Value: vals[i]}
				}
				res, err := st.SetMany(ctx, items, in)
				if err == nil {
					err = res.Err()
				}
				return err
			}},
			raw: side{op: func(ctx context.Context, _ int) error {
				keys, vals := batch(isNew, false)
				bs := make([][]byte, len(vals))
				for i, v := range vals {
					b, err := json.Marshal(v)
					if err != nil {
						return err
					}
					bs[i] = b
				}
				return raw.SetMany(ctx, method, keys, bs, now())
			}}}
	}
	return []workload{
		{name: "ix/set-overwrite", point: true,
			engine: side{op: func(ctx context.Context, _ int) error {
				i := rand.IntN(size)
				return st.Set(ctx, ixKey(i), ixValue(i+shift(), groups), in)
			}},
			raw: side{op: func(ctx context.Context, _ int) error {
				i := rand.IntN(size)
				b, err := json.Marshal(ixValue(i+shift(), groups))
				if err != nil {
					return err
				}
				return raw.Set(ctx, ixKey(i), b, now())
			}}},
		setMany("ix/setMany-1000-overwrite", false),
		setMany("ix/setMany-1000-new", true),
	}
}

// WriteIndexMarkdown writes the declared-index comparison as Markdown:
// load is the machine's load (uptime) before and after.
func WriteIndexMarkdown(w io.Writer, title, command, load string, m Machine, reps []*Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# %s\n\n", title)
	fmt.Fprintf(b, "Command: `%s`\n\n", command)
	fmt.Fprintf(b, "Machine: %s, %d cores, %.1f GiB, %s, %s; SQLite %s; PostgreSQL %s.\n\n",
		m.CPU, m.Cores, m.MemoryGiB, m.Go, m.OS, orNone(m.SQLite), orNone(m.Postgres))
	fmt.Fprintf(b, "Load (`uptime`):\n\n```\n%s```\n\n", load)
	b.WriteString("The engine with `storage.WithIndexes(\"g\", \"t\")` against hand-written SQL on a copy of the rows in " +
		"a table with one index per field (see `go doc ./bench RunIndexes`); g and t have groups of 10 equal values. " +
		"Times are medians of per-round time per operation; engine and raw rounds alternate, and engine/raw is the " +
		"median of the per-round ratios. Ties are broken by ascending key on both sides. The machine is shared: " +
		"absolute times are noisy, ratios less so.\n\n")
	b.WriteString("| dialect | entries | workload | ops/round | engine | raw | engine/raw |\n|---|---|---|---|---|---|---|\n")
	for _, rep := range reps {
		for _, r := range rep.Results {
			fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s | %.2f |\n", r.Dialect, human(r.Size), r.Workload, r.N, dur(r.Engine), dur(r.Raw), r.Ratio())
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
