package main

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// rawSQLite is hand-written SQL on a table of the engine's layout (kv:
// namespace id, key, JSONB value, metadata, version, times; primary key
// (namespace_id, key)) in a database file of its own, with the engine's
// pragmas: one writer connection (BEGIN IMMEDIATE), a pool of 4 query-only
// readers, every statement prepared once and kept, the namespace's id known,
// and one expression index on n ending in the key. It runs on the modernc
// driver (as the engine does) or on mattn/go-sqlite3 (cgo), to show what
// the driver costs.
type rawSQLite struct {
	name, durability string
	w, r             *sql.DB
	ns               int64
	st               map[string]*sql.Stmt
	path             string
}

// rawSQLiteTable is the table kv; the second dataset's (twoFields) is the
// same table named kv2.
const rawSQLiteTable = `
CREATE TABLE IF NOT EXISTS kv (
    namespace_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    metadata BLOB NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, key)
);`

// rawSQLiteSchema creates the table and its index, and the second
// dataset's table with its two; the namespace id is 1.
var rawSQLiteSchema = rawSQLiteTable + `
CREATE INDEX IF NOT EXISTS kv_n ON kv (namespace_id, value ->> '$.n', key);
` + asKV2(rawSQLiteTable) + `
CREATE INDEX IF NOT EXISTS kv2_n ON kv2 (namespace_id, value ->> '$.n', key);
CREATE INDEX IF NOT EXISTS kv2_t ON kv2 (namespace_id, value ->> '$.t', key);
`

// asKV2 is a statement on kv written for kv2.
func asKV2(q string) string { return strings.ReplaceAll(q, " kv", " kv2") }

const rawNS = 1

var rawSQLiteStmts = map[string]string{
	"get": `SELECT CAST(json(value) AS TEXT), version FROM kv WHERE namespace_id = ?1 AND key = ?2`,
	"has": `SELECT EXISTS (SELECT 1 FROM kv WHERE namespace_id = ?1 AND key = ?2)`,
	"getMany": `SELECT key, CAST(json(value) AS TEXT), version FROM kv
WHERE namespace_id = ?1 AND key IN (SELECT value FROM json_each(?2))`,
	"eq": `SELECT key, CAST(json(value) AS TEXT), version FROM kv
WHERE namespace_id = ?1 AND value ->> '$.n' = ?2 ORDER BY key`,
	"top": `SELECT key, CAST(json(value) AS TEXT), version FROM kv
WHERE namespace_id = ?1 AND value ->> '$.n' >= ?2 AND value ->> '$.n' < ?3
ORDER BY value ->> '$.n' DESC, key LIMIT ?4`,
	"count": `SELECT count(*) FROM kv WHERE namespace_id = ?1 AND value ->> '$.n' >= ?2 AND value ->> '$.n' < ?3`,
	"list":  `SELECT key FROM kv WHERE namespace_id = ?1 AND key >= ?2 AND key < ?3 ORDER BY key LIMIT ?4`,
}

// rawSQLiteUpsertMany writes a batch of [key, value] pairs.
const rawSQLiteUpsertMany = `INSERT INTO kv (namespace_id, key, value, metadata, version, created_at, updated_at)
SELECT ?1, i.value ->> '$[0]', jsonb(i.value -> '$[1]'), jsonb('{}'), 1, ?2, ?2 FROM json_each(?3) AS i WHERE true
ON CONFLICT (namespace_id, key) DO UPDATE SET value = excluded.value, version = kv.version + 1, updated_at = excluded.updated_at
RETURNING key, version`

var rawSQLiteWriterStmts = map[string]string{
	"getW": `SELECT CAST(json(value) AS TEXT), version FROM kv WHERE namespace_id = ?1 AND key = ?2`,
	"upsert": `INSERT INTO kv (namespace_id, key, value, metadata, version, created_at, updated_at)
VALUES (?1, ?2, jsonb(?3), jsonb('{}'), 1, ?4, ?4)
ON CONFLICT (namespace_id, key) DO UPDATE SET value = excluded.value, version = kv.version + 1, updated_at = excluded.updated_at
RETURNING version`,
	"upsertMany":  rawSQLiteUpsertMany,
	"upsertMany2": asKV2(rawSQLiteUpsertMany),
}

// openRawSQLite opens driver on the file with writer and reader DSNs.
func openRawSQLite(ctx context.Context, name, durability, driver, wdsn, rdsn, path string) (_ *rawSQLite, err error) {
	x := &rawSQLite{name: name, durability: durability, ns: rawNS, st: map[string]*sql.Stmt{}, path: path}
	defer func() {
		if err != nil {
			_ = x.Close()
		}
	}()
	if x.w, err = sql.Open(driver, wdsn); err != nil {
		return nil, err
	}
	x.w.SetMaxOpenConns(1)
	x.w.SetMaxIdleConns(1)
	if _, err = x.w.ExecContext(ctx, rawSQLiteSchema); err != nil {
		return nil, err
	}
	if x.r, err = sql.Open(driver, rdsn); err != nil {
		return nil, err
	}
	x.r.SetMaxOpenConns(4)
	x.r.SetMaxIdleConns(4)
	for k, q := range rawSQLiteStmts {
		if x.st[k], err = x.r.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
	}
	for k, q := range rawSQLiteWriterStmts {
		if x.st[k], err = x.w.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (x *rawSQLite) Name() string       { return x.name }
func (x *rawSQLite) Durability() string { return x.durability }

func (x *rawSQLite) Get(ctx context.Context, key string) (Rec, bool, error) {
	r := Rec{Key: key}
	var v string
	err := x.st["get"].QueryRowContext(ctx, x.ns, key).Scan(&v, &r.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return Rec{}, false, nil
	}
	r.Value = []byte(v)
	return r, err == nil, err
}

func (x *rawSQLite) Has(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := x.st["has"].QueryRowContext(ctx, x.ns, key).Scan(&ok)
	return ok, err
}

// Set reads the upsert's row and steps the statement on to SQLITE_DONE, as
// the engine's single writes do (sqlstore/walhook.go): SQLite runs its WAL
// hook, and so its automatic checkpoint, only at that step. Read through
// QueryRow, the statement is reset after its row and commits there without
// the hook: the baseline then never checkpointed, its WAL grew by every
// page it wrote (67 MB after 5000 inserts) and it never paid the
// checkpoints the engine pays.
func (x *rawSQLite) Set(ctx context.Context, key string, v []byte) error {
	var ver int64
	rows, err := x.st["upsert"].QueryContext(ctx, x.ns, key, string(v), time.Now().UnixMicro())
	return eachRow(rows, err, func(rows *sql.Rows) error { return rows.Scan(&ver) })
}

// eachRow calls scan for each row, then closes rows.
func eachRow(rows *sql.Rows, err error, scan func(*sql.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanRecs(rows *sql.Rows, err error) (out []Rec, _ error) {
	return out, eachRow(rows, err, func(rows *sql.Rows) error {
		var r Rec
		var v string
		err := rows.Scan(&r.Key, &v, &r.Version)
		r.Value = []byte(v)
		out = append(out, r)
		return err
	})
}

// jsonArray encodes keys (plain ASCII here) as a JSON array.
func jsonArray(keys []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(k)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

func (x *rawSQLite) GetMany(ctx context.Context, keys []string) ([]Rec, error) {
	return scanRecs(x.st["getMany"].QueryContext(ctx, x.ns, jsonArray(keys)))
}

func (x *rawSQLite) SetMany(ctx context.Context, keys []string, values [][]byte) error {
	return x.setMany(ctx, "upsertMany", keys, values)
}

func (x *rawSQLite) SetMany2(ctx context.Context, keys []string, values [][]byte) error {
	return x.setMany(ctx, "upsertMany2", keys, values)
}

func (x *rawSQLite) setMany(ctx context.Context, stmt string, keys []string, values [][]byte) error {
	var b strings.Builder
	b.WriteByte('[')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`["`)
		b.WriteString(k)
		b.WriteString(`",`)
		b.Write(values[i])
		b.WriteByte(']')
	}
	b.WriteByte(']')
	rows, err := x.st[stmt].QueryContext(ctx, x.ns, time.Now().UnixMicro(), b.String())
	var k string
	var ver int64
	return eachRow(rows, err, func(rows *sql.Rows) error { return rows.Scan(&k, &ver) })
}

func (x *rawSQLite) QueryEq(ctx context.Context, v int) ([]Rec, error) {
	return scanRecs(x.st["eq"].QueryContext(ctx, x.ns, v))
}

func (x *rawSQLite) QueryTop(ctx context.Context, lo, hi, limit int) ([]Rec, error) {
	return scanRecs(x.st["top"].QueryContext(ctx, x.ns, lo, hi, limit))
}

func (x *rawSQLite) Count(ctx context.Context, lo, hi int) (int64, error) {
	var n int64
	err := x.st["count"].QueryRowContext(ctx, x.ns, lo, hi).Scan(&n)
	return n, err
}

// prefixEnd is the first string after every string starting with p (p is
// ASCII and does not end in 0x7f here).
func prefixEnd(p string) string { return p[:len(p)-1] + string(p[len(p)-1]+1) }

func (x *rawSQLite) ListPrefix(ctx context.Context, prefix string, limit int) ([]Rec, error) {
	rows, err := x.st["list"].QueryContext(ctx, x.ns, prefix, prefixEnd(prefix), limit)
	var out []Rec
	return out, eachRow(rows, err, func(rows *sql.Rows) error {
		var r Rec
		err := rows.Scan(&r.Key)
		out = append(out, r)
		return err
	})
}

func (x *rawSQLite) RMW(ctx context.Context, key string) error {
	tx, err := x.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var v string
	var ver int64
	if err := tx.StmtContext(ctx, x.st["getW"]).QueryRowContext(ctx, x.ns, key).Scan(&v, &ver); err != nil {
		return err
	}
	b, err := bump([]byte(v))
	if err != nil {
		return err
	}
	if err := tx.StmtContext(ctx, x.st["upsert"]).QueryRowContext(ctx, x.ns, key, string(b), time.Now().UnixMicro()).Scan(&ver); err != nil {
		return err
	}
	return tx.Commit()
}

// DiskBytes is the size of the database file and its WAL.
func (x *rawSQLite) DiskBytes(context.Context) (int64, error) {
	return fileBytes(x.path, x.path+"-wal")
}

func (x *rawSQLite) Close() error {
	for _, s := range x.st {
		_ = s.Close()
	}
	var errs []error
	if x.r != nil {
		errs = append(errs, x.r.Close())
	}
	if x.w != nil {
		errs = append(errs, x.w.Close())
	}
	return errors.Join(errs...)
}
