package main

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rawPG is hand-written SQL through a pgx pool (statements cached by pgx):
// a table keyed (ns, key), one expression index on n ending in the key,
// unnest upserts for batches; the second dataset (twoFields) in a table of
// its own with an index on n and one on t.
type rawPG struct {
	pool   *pgxpool.Pool
	schema string
}

// rawPGTable is the table kv; the second dataset's (twoFields) is the same
// table named kv2.
const rawPGTable = `
CREATE TABLE IF NOT EXISTS kv (
    ns text NOT NULL,
    key text NOT NULL,
    value jsonb NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (ns, key)
);`

var rawPGSchema = rawPGTable + `
CREATE INDEX IF NOT EXISTS kv_n ON kv (ns, ((value ->> 'n')::float8), key);
` + asKV2(rawPGTable) + `
CREATE INDEX IF NOT EXISTS kv2_n ON kv2 (ns, ((value ->> 'n')::float8), key);
CREATE INDEX IF NOT EXISTS kv2_t ON kv2 (ns, (value ->> 't'), key);
`

var pgUpsertMany2 = asKV2(pgUpsertMany)

const (
	pgGet     = `SELECT value, version FROM kv WHERE ns = $1 AND key = $2`
	pgHas     = `SELECT EXISTS (SELECT 1 FROM kv WHERE ns = $1 AND key = $2)`
	pgGetMany = `SELECT key, value, version FROM kv WHERE ns = $1 AND key = ANY($2)`
	pgUpsert  = `INSERT INTO kv (ns, key, value, version, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4)
ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, version = kv.version + 1, updated_at = excluded.updated_at
RETURNING version`
	pgUpsertMany = `INSERT INTO kv (ns, key, value, version, created_at, updated_at)
SELECT $1, k, v, 1, $4, $4 FROM unnest($2::text[], $3::jsonb[]) AS t(k, v)
ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, version = kv.version + 1, updated_at = excluded.updated_at
RETURNING key, version`
	pgEq    = `SELECT key, value, version FROM kv WHERE ns = $1 AND (value ->> 'n')::float8 = $2 ORDER BY key`
	pgTop   = `SELECT key, value, version FROM kv WHERE ns = $1 AND (value ->> 'n')::float8 >= $2 AND (value ->> 'n')::float8 < $3 ORDER BY (value ->> 'n')::float8 DESC, key LIMIT $4`
	pgCount = `SELECT count(*) FROM kv WHERE ns = $1 AND (value ->> 'n')::float8 >= $2 AND (value ->> 'n')::float8 < $3`
	pgList  = `SELECT key FROM kv WHERE ns = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT $4`
)

func openRawPG(ctx context.Context, dsn, schema string) (*rawPG, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, rawPGSchema); err != nil {
		pool.Close()
		return nil, err
	}
	return &rawPG{pool: pool, schema: schema}, nil
}

func (x *rawPG) Name() string       { return "pgx" }
func (x *rawPG) Durability() string { return "PostgreSQL defaults (fsync at commit)" }

func (x *rawPG) Get(ctx context.Context, key string) (Rec, bool, error) {
	r := Rec{Key: key}
	err := x.pool.QueryRow(ctx, pgGet, Namespace, key).Scan(&r.Value, &r.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return Rec{}, false, nil
	}
	return r, err == nil, err
}

func (x *rawPG) Has(ctx context.Context, key string) (ok bool, err error) {
	err = x.pool.QueryRow(ctx, pgHas, Namespace, key).Scan(&ok)
	return ok, err
}

func (x *rawPG) Set(ctx context.Context, key string, v []byte) error {
	var ver int64
	return x.pool.QueryRow(ctx, pgUpsert, Namespace, key, string(v), time.Now()).Scan(&ver)
}

func pgRecs(rows pgx.Rows, err error) ([]Rec, error) {
	if err != nil {
		return nil, err
	}
	var out []Rec
	var r Rec
	_, err = pgx.ForEachRow(rows, []any{&r.Key, &r.Value, &r.Version}, func() error {
		out = append(out, r)
		r.Value = nil
		return nil
	})
	return out, err
}

func (x *rawPG) GetMany(ctx context.Context, keys []string) ([]Rec, error) {
	return pgRecs(x.pool.Query(ctx, pgGetMany, Namespace, keys))
}

func (x *rawPG) SetMany(ctx context.Context, keys []string, values [][]byte) error {
	return x.setMany(ctx, pgUpsertMany, keys, values)
}

func (x *rawPG) SetMany2(ctx context.Context, keys []string, values [][]byte) error {
	return x.setMany(ctx, pgUpsertMany2, keys, values)
}

func (x *rawPG) setMany(ctx context.Context, stmt string, keys []string, values [][]byte) error {
	vs := make([]string, len(values))
	for i, v := range values {
		vs[i] = string(v)
	}
	rows, err := x.pool.Query(ctx, stmt, Namespace, keys, vs, time.Now())
	if err != nil {
		return err
	}
	var k string
	var ver int64
	_, err = pgx.ForEachRow(rows, []any{&k, &ver}, func() error { return nil })
	return err
}

func (x *rawPG) QueryEq(ctx context.Context, v int) ([]Rec, error) {
	return pgRecs(x.pool.Query(ctx, pgEq, Namespace, float64(v)))
}

func (x *rawPG) QueryTop(ctx context.Context, lo, hi, limit int) ([]Rec, error) {
	return pgRecs(x.pool.Query(ctx, pgTop, Namespace, float64(lo), float64(hi), limit))
}

func (x *rawPG) Count(ctx context.Context, lo, hi int) (n int64, err error) {
	err = x.pool.QueryRow(ctx, pgCount, Namespace, float64(lo), float64(hi)).Scan(&n)
	return n, err
}

func (x *rawPG) ListPrefix(ctx context.Context, prefix string, limit int) ([]Rec, error) {
	rows, err := x.pool.Query(ctx, pgList, Namespace, prefix, prefixEnd(prefix), limit)
	if err != nil {
		return nil, err
	}
	var out []Rec
	var k string
	_, err = pgx.ForEachRow(rows, []any{&k}, func() error {
		out = append(out, Rec{Key: k})
		return nil
	})
	return out, err
}

func (x *rawPG) RMW(ctx context.Context, key string) error {
	tx, err := x.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var v []byte
	var ver int64
	if err := tx.QueryRow(ctx, pgGet, Namespace, key).Scan(&v, &ver); err != nil {
		return err
	}
	b, err := bump(v)
	if err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, pgUpsert, Namespace, key, string(b), time.Now()).Scan(&ver); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (x *rawPG) DiskBytes(ctx context.Context) (int64, error) {
	return pgSchemaBytes(ctx, x.pool, x.schema)
}

func (x *rawPG) Close() error { x.pool.Close(); return nil }

// pgSchemaBytes is the size of every table of a schema, indexes and TOAST
// included.
func pgSchemaBytes(ctx context.Context, pool *pgxpool.Pool, schema string) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind = 'r'`, schema).Scan(&n)
	return n, err
}
