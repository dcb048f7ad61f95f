package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// PostgreSQL expressions: the engine's spelling of the number projection of
// n (its declared index is on that expression), hand-written elsewhere.
const (
	pgCols = `key, value, metadata, version, created_at, updated_at`
	pgNS   = `namespace_id = (SELECT id FROM namespaces WHERE name = $1)`
	pgNumN = `(CASE WHEN jsonb_typeof((value -> 'n')) = 'number' THEN CASE WHEN abs((value -> 'n')::numeric) >= 1.797693134862315807937289714053e308 THEN sign((value -> 'n')::numeric)::float8 * 'Infinity'::float8 WHEN abs((value -> 'n')::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8 ELSE (value -> 'n')::numeric::float8 END END)`
	pgNumU = `(CASE WHEN jsonb_typeof(value -> 'u') = 'number' THEN (value -> 'u')::numeric::float8 END)`
	pgStrS = `(CASE WHEN jsonb_typeof(value -> 's') = 'string' THEN value ->> 's' END COLLATE "C")`
)

var pgQueries = map[string]string{
	queryIndexedEq:   `SELECT ` + pgCols + ` FROM raw_entries WHERE ` + pgNS + ` AND ` + pgNumN + ` = $2 ORDER BY key`,
	queryUnindexedEq: `SELECT ` + pgCols + ` FROM raw_entries WHERE ` + pgNS + ` AND ` + pgNumU + ` = $2 ORDER BY key`,
	queryRange:       `SELECT ` + pgCols + ` FROM raw_entries WHERE ` + pgNS + ` AND ` + pgNumN + ` >= $2 AND ` + pgNumN + ` < $3 ORDER BY key`,
	queryContains:    `SELECT ` + pgCols + ` FROM raw_entries WHERE ` + pgNS + ` AND position($2::text in ` + pgStrS + `) > 0 ORDER BY key`,
	queryStartsWith:  `SELECT ` + pgCols + ` FROM raw_entries WHERE ` + pgNS + ` AND starts_with(` + pgStrS + `, $2::text) ORDER BY key`,
	querySort:        `SELECT ` + pgCols + ` FROM raw_entries WHERE ` + pgNS + ` ORDER BY ` + pgNumN + ` DESC, key LIMIT 20`,
}

// The raw side's table of its own, as on SQLite (raw_sqlite.go).
const (
	pgRawTable = `CREATE TABLE IF NOT EXISTS raw_entries (
    namespace_id bigint NOT NULL, key text COLLATE "C" NOT NULL, value jsonb NOT NULL, metadata jsonb NOT NULL,
    version bigint NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    created_by text, updated_by text, expires_at timestamptz, PRIMARY KEY (namespace_id, key))`
	pgRawCopy = `INSERT INTO raw_entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at FROM entries
WHERE NOT EXISTS (SELECT 1 FROM raw_entries)`
)

const (
	pgGet = `SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at
FROM raw_entries e JOIN namespaces n ON n.id = e.namespace_id WHERE n.name = $1 AND e.key = $2`
	pgHas = `SELECT EXISTS (SELECT 1 FROM raw_entries e JOIN namespaces n ON n.id = e.namespace_id WHERE n.name = $1 AND e.key = $2)`
	// pgUpsert keeps the stored metadata on conflict (no metadata given).
	pgUpsert = `INSERT INTO raw_entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, $2, $3, '{}'::jsonb, 1, $4, $4, NULL, NULL FROM namespaces n WHERE n.name = $1
ON CONFLICT (namespace_id, key) DO UPDATE SET value = EXCLUDED.value, version = raw_entries.version + 1,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
RETURNING version`
	pgUpsertUnnest = `INSERT INTO raw_entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, i.key, i.value, '{}'::jsonb, 1, $4, $4, NULL, NULL
FROM namespaces n, ROWS FROM (unnest($2::text[]), unnest($3::jsonb[])) AS i (key, value) WHERE n.name = $1
ON CONFLICT (namespace_id, key) DO UPDATE SET value = EXCLUDED.value, version = raw_entries.version + 1,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
RETURNING key, version`
	pgUpsertStage = `INSERT INTO raw_entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, s.key, s.value, '{}'::jsonb, 1, $2, $2, NULL, NULL
FROM namespaces n, bench_stage s WHERE n.name = $1
ON CONFLICT (namespace_id, key) DO UPDATE SET value = EXCLUDED.value, version = raw_entries.version + 1,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`
	pgDelete     = `DELETE FROM raw_entries e USING namespaces n WHERE n.id = e.namespace_id AND n.name = $1 AND e.key = $2`
	pgGetMany    = `SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at FROM raw_entries e JOIN namespaces n ON n.id = e.namespace_id WHERE n.name = $1 AND e.key = ANY($2::text[])`
	pgDeleteMany = `DELETE FROM raw_entries e USING namespaces n WHERE n.id = e.namespace_id AND n.name = $1 AND e.key = ANY($2::text[]) RETURNING e.key`
	pgCount      = `SELECT count(*) FROM raw_entries WHERE ` + pgNS
)

// Bulk methods of the PostgreSQL baseline.
const (
	bulkUnnest    = "unnest"
	bulkSendBatch = "sendbatch"
	bulkCopy      = "copy"
)

// rawPG is the pgx baseline: its own pool on the engine's schema; pgx
// caches prepared statements per connection.
type rawPG struct {
	ns   string
	pool *pgxpool.Pool
}

// OpenRawPG opens the baseline on dsn (the engine's database and
// search_path) for namespace ns.
func OpenRawPG(ctx context.Context, dsn, ns string) (Raw, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := pool.Exec(ctx, pgRawTable); err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := pool.Exec(ctx, pgRawCopy); err != nil {
		pool.Close()
		return nil, err
	}
	return &rawPG{ns: ns, pool: pool}, nil
}

func (x *rawPG) Close() { x.pool.Close() }

type pgRow struct {
	key              string
	value, md        []byte
	version          int64
	created, updated time.Time
}

func scanPG(sc interface{ Scan(...any) error }) (pgRow, error) {
	var r pgRow
	err := sc.Scan(&r.key, &r.value, &r.md, &r.version, &r.created, &r.updated)
	r.created, r.updated = r.created.UTC(), r.updated.UTC()
	return r, err
}

func (x *rawPG) Get(ctx context.Context, key string) (bool, error) {
	_, err := scanPG(x.pool.QueryRow(ctx, pgGet, x.ns, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (x *rawPG) Has(ctx context.Context, key string) (bool, error) {
	var found bool
	err := x.pool.QueryRow(ctx, pgHas, x.ns, key).Scan(&found)
	return found, err
}

func (x *rawPG) Set(ctx context.Context, key string, value []byte, now time.Time) error {
	var v int64
	return x.pool.QueryRow(ctx, pgUpsert, x.ns, key, value, now).Scan(&v)
}

func (x *rawPG) Delete(ctx context.Context, key string) (bool, error) {
	tag, err := x.pool.Exec(ctx, pgDelete, x.ns, key)
	return tag.RowsAffected() == 1, err
}

func (x *rawPG) GetMany(ctx context.Context, keys []string) (int, error) {
	rows, err := x.pool.Query(ctx, pgGetMany, x.ns, keys)
	if err != nil {
		return 0, err
	}
	return countPGRows(rows)
}

func countPGRows(rows pgx.Rows) (int, error) {
	defer rows.Close()
	n := 0
	for rows.Next() {
		if _, err := scanPG(rows); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func (x *rawPG) BulkMethods() []string { return []string{bulkUnnest, bulkSendBatch, bulkCopy} }

func (x *rawPG) SetMany(ctx context.Context, method string, keys []string, values [][]byte, now time.Time) error {
	switch method {
	case bulkUnnest:
		rows, err := x.pool.Query(ctx, pgUpsertUnnest, x.ns, keys, values, now)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var k string
			var v int64
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != len(keys) {
			return fmt.Errorf("upserted %d of %d", n, len(keys))
		}
		return nil
	case bulkSendBatch:
		// One implicit transaction for the whole batch, like the others.
		b := &pgx.Batch{}
		for i, k := range keys {
			b.Queue(pgUpsert, x.ns, k, values[i], now)
		}
		tx, err := x.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		br := tx.SendBatch(ctx, b)
		for range keys {
			var v int64
			if err := br.QueryRow().Scan(&v); err != nil {
				_ = br.Close()
				return err
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		return tx.Commit(ctx)
	case bulkCopy:
		// COPY into a temporary staging table, then one upsert from it.
		tx, err := x.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS bench_stage (key text COLLATE "C", value jsonb) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		src := pgx.CopyFromSlice(len(keys), func(i int) ([]any, error) { return []any{keys[i], values[i]}, nil })
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_stage"}, []string{"key", "value"}, src); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, pgUpsertStage, x.ns, now)
		if err != nil {
			return err
		}
		if int(tag.RowsAffected()) != len(keys) {
			return fmt.Errorf("upserted %d of %d", tag.RowsAffected(), len(keys))
		}
		return tx.Commit(ctx)
	}
	return fmt.Errorf("unknown bulk method %q", method)
}

func (x *rawPG) DeleteMany(ctx context.Context, keys []string) (int, error) {
	rows, err := x.pool.Query(ctx, pgDeleteMany, x.ns, keys)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func (x *rawPG) DeleteRange(ctx context.Context, lo, hi string) error {
	_, err := x.pool.Exec(ctx, `DELETE FROM raw_entries WHERE `+pgNS+` AND key >= $2 AND key < $3`, x.ns, lo, hi)
	return err
}

func (x *rawPG) List(ctx context.Context, lo, hi, after string, limit, offset int) ([]string, error) {
	q := `SELECT key FROM raw_entries WHERE ` + pgNS + ` AND key >= $2 AND key < $3`
	args := []any{x.ns, lo, hi}
	if after != "" {
		q += ` AND key > $4`
		args = append(args, after)
	}
	q += fmt.Sprintf(` ORDER BY key LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2)
	args = append(args, limit, offset)
	rows, err := x.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := make([]string, 0, limit)
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

func (x *rawPG) Query(ctx context.Context, name string, args ...any) (int, error) {
	q, ok := pgQueries[name]
	if !ok {
		return 0, fmt.Errorf("unknown query %q", name)
	}
	rows, err := x.pool.Query(ctx, q, append([]any{x.ns}, args...)...)
	if err != nil {
		return 0, err
	}
	return countPGRows(rows)
}

func (x *rawPG) Count(ctx context.Context) (int64, error) {
	var n int64
	err := x.pool.QueryRow(ctx, pgCount, x.ns).Scan(&n)
	return n, err
}

func pgIso(l storage.IsolationLevel) pgx.TxIsoLevel {
	switch l {
	case storage.LevelReadUncommitted:
		return pgx.ReadUncommitted
	case storage.LevelRepeatableRead:
		return pgx.RepeatableRead
	case storage.LevelSerializable:
		return pgx.Serializable
	}
	return pgx.ReadCommitted
}

func (x *rawPG) RMW(ctx context.Context, level storage.IsolationLevel, keys []string, now func() time.Time) (int, error) {
	d, _ := dialect.ForName(dialect.Postgres)
	for attempt := 1; ; attempt++ {
		err := x.rmwOnce(ctx, level, keys, now)
		if err == nil || !d.Classify(err).Retryable() || attempt == maxAttempts {
			return attempt - 1, err
		}
		if err := backoff(ctx, attempt); err != nil {
			return attempt - 1, err
		}
	}
}

func (x *rawPG) rmwOnce(ctx context.Context, level storage.IsolationLevel, keys []string, now func() time.Time) error {
	tx, err := x.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgIso(level)})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, k := range keys {
		r, err := scanPG(tx.QueryRow(ctx, pgGet, x.ns, k))
		if err != nil {
			return err
		}
		b, err := bumpCounter(r.value)
		if err != nil {
			return err
		}
		var v int64
		if err := tx.QueryRow(ctx, pgUpsert, x.ns, k, b, now()).Scan(&v); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func (x *rawPG) Exec(ctx context.Context, stmt string) error {
	_, err := x.pool.Exec(ctx, stmt)
	return err
}

func (x *rawPG) Version(ctx context.Context) (string, error) {
	var v string
	err := x.pool.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return v, err
}

// bumpCounter returns the hot entry's value with its counter c plus one.
func bumpCounter(value []byte) ([]byte, error) {
	var v struct {
		C int64 `json:"c"`
	}
	if err := json.Unmarshal(value, &v); err != nil {
		return nil, err
	}
	v.C++
	return json.Marshal(v)
}
