package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

func jitter(d time.Duration) time.Duration { return rand.N(d + 1) }

// SQLite expressions, spelled as the engine spells them where an index
// must match (the declared index on n), and as one would write them by hand
// elsewhere.
const (
	sqliteCols = `key, CAST(json(value) AS TEXT), CAST(json(metadata) AS TEXT), version, created_at, updated_at`
	sqliteNS   = `namespace_id = (SELECT id FROM namespaces WHERE name = ?)`
	sqliteNumN = `(CASE WHEN json_type(value, '$."n"') IN ('integer', 'real') THEN CAST(json_extract(value, '$."n"') AS REAL) END)`
	sqliteNumU = `(CASE WHEN json_type(value, '$."u"') IN ('integer', 'real') THEN CAST(json_extract(value, '$."u"') AS REAL) END)`
	sqliteStrS = `(CASE WHEN json_type(value, '$."s"') = 'text' THEN json_extract(value, '$."s"') END)`
)

var sqliteQueries = map[string]string{
	queryIndexedEq:   `SELECT ` + sqliteCols + ` FROM raw_entries WHERE ` + sqliteNS + ` AND ` + sqliteNumN + ` = ? ORDER BY key`,
	queryUnindexedEq: `SELECT ` + sqliteCols + ` FROM raw_entries WHERE ` + sqliteNS + ` AND ` + sqliteNumU + ` = ? ORDER BY key`,
	queryRange:       `SELECT ` + sqliteCols + ` FROM raw_entries WHERE ` + sqliteNS + ` AND ` + sqliteNumN + ` >= ? AND ` + sqliteNumN + ` < ? ORDER BY key`,
	queryContains:    `SELECT ` + sqliteCols + ` FROM raw_entries WHERE ` + sqliteNS + ` AND instr(` + sqliteStrS + `, ?) > 0 ORDER BY key`,
	queryStartsWith:  `SELECT ` + sqliteCols + ` FROM raw_entries WHERE ` + sqliteNS + ` AND substr(` + sqliteStrS + `, 1, length(?1)) = ?1 ORDER BY key`,
	querySort:        `SELECT ` + sqliteCols + ` FROM raw_entries WHERE ` + sqliteNS + ` ORDER BY ` + sqliteNumN + ` DESC, key LIMIT 20`,
}

// The raw side reads and writes a table of its own, raw_entries: a copy,
// made when it first opens, of the entries the engine loaded, with the same
// primary key and no trigger, and later the raw side's own index on n
// (bench.go). Neither side pays for the other's triggers (the engine's
// entry counts, change log and index_entries) or indexes.
const (
	sqliteRawTable = `CREATE TABLE IF NOT EXISTS raw_entries (
    namespace_id INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, metadata BLOB NOT NULL,
    version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    created_by TEXT, updated_by TEXT, expires_at INTEGER, PRIMARY KEY (namespace_id, key))`
	sqliteRawCopy = `INSERT INTO raw_entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at FROM entries
WHERE NOT EXISTS (SELECT 1 FROM raw_entries)`
)

const (
	sqliteGet = `SELECT e.key, CAST(json(e.value) AS TEXT), CAST(json(e.metadata) AS TEXT), e.version, e.created_at, e.updated_at
FROM raw_entries e JOIN namespaces n ON n.id = e.namespace_id WHERE n.name = ? AND e.key = ?`
	sqliteHas = `SELECT EXISTS (SELECT 1 FROM raw_entries e JOIN namespaces n ON n.id = e.namespace_id WHERE n.name = ? AND e.key = ?)`
	// sqliteUpsert keeps the stored metadata on conflict (no metadata given).
	sqliteUpsert = `INSERT INTO raw_entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, ?1, jsonb(?2), jsonb('{}'), 1, ?3, ?3, NULL, NULL FROM namespaces n WHERE n.name = ?4
ON CONFLICT (namespace_id, key) DO UPDATE SET value = excluded.value, version = raw_entries.version + 1,
    updated_at = excluded.updated_at, updated_by = excluded.updated_by
RETURNING version`
	sqliteUpsertJSON = `INSERT INTO raw_entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, i.value ->> '$[0]', jsonb(i.value -> '$[1]'), jsonb('{}'), 1, ?1, ?1, NULL, NULL
FROM namespaces n, json_each(?2) AS i WHERE n.name = ?3
ON CONFLICT (namespace_id, key) DO UPDATE SET value = excluded.value, version = raw_entries.version + 1,
    updated_at = excluded.updated_at, updated_by = excluded.updated_by
RETURNING key, version`
	sqliteDelete     = `DELETE FROM raw_entries WHERE ` + sqliteNS + ` AND key = ?`
	sqliteGetMany    = `SELECT ` + sqliteCols + ` FROM raw_entries WHERE ` + sqliteNS + ` AND key IN (SELECT value FROM json_each(?))`
	sqliteDeleteMany = `DELETE FROM raw_entries WHERE ` + sqliteNS + ` AND key IN (SELECT value FROM json_each(?)) RETURNING key`
	sqliteCount      = `SELECT count(*) FROM raw_entries WHERE ` + sqliteNS
)

// rawSQLite is the database/sql baseline: its own writer connection
// (BEGIN IMMEDIATE) and reader pool on the engine's file, with the engine's
// pragmas, and prepared statements.
type rawSQLite struct {
	ns    string
	w, r  *sql.DB
	stmts map[string]*sql.Stmt
}

// Bulk methods of the SQLite baseline.
const (
	bulkJSONEach   = "json_each"
	bulkTxPrepared = "tx+prepared"
)

// OpenRawSQLite opens the baseline on the database file path, whose schema
// the engine has migrated, for namespace ns.
func OpenRawSQLite(ctx context.Context, path, ns string) (Raw, error) {
	o := dialect.DefaultSQLiteOptions
	w, err := sql.Open("sqlite", dialect.SQLiteDriverDSN(path, o, true))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	r, err := sql.Open("sqlite", dialect.SQLiteDriverDSN(path, o, false))
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	for _, q := range []string{sqliteRawTable, sqliteRawCopy} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			_, _ = w.Close(), r.Close()
			return nil, err
		}
	}
	x := &rawSQLite{ns: ns, w: w, r: r, stmts: map[string]*sql.Stmt{}}
	prep := func(db *sql.DB, name, q string) {
		if err != nil {
			return
		}
		x.stmts[name], err = db.PrepareContext(ctx, q)
	}
	prep(r, "get", sqliteGet)
	prep(r, "has", sqliteHas)
	prep(r, "getMany", sqliteGetMany)
	prep(r, "count", sqliteCount)
	for name, q := range sqliteQueries {
		prep(r, name, q)
	}
	prep(w, "getW", sqliteGet) // reads inside write transactions
	prep(w, "upsert", sqliteUpsert)
	prep(w, "upsertJSON", sqliteUpsertJSON)
	prep(w, "delete", sqliteDelete)
	prep(w, "deleteMany", sqliteDeleteMany)
	if err != nil {
		x.Close()
		return nil, err
	}
	return x, nil
}

func (x *rawSQLite) Close() {
	for _, s := range x.stmts {
		_ = s.Close()
	}
	_ = x.r.Close()
	_ = x.w.Close()
}

type sqliteRow struct {
	key, value, md    string
	version, cAt, uAt int64
	created, updated  time.Time
	valueRaw, metaRaw json.RawMessage
}

func scanSQLite(sc interface{ Scan(...any) error }) (sqliteRow, error) {
	var r sqliteRow
	err := sc.Scan(&r.key, &r.value, &r.md, &r.version, &r.cAt, &r.uAt)
	r.created, r.updated = time.UnixMicro(r.cAt).UTC(), time.UnixMicro(r.uAt).UTC()
	r.valueRaw, r.metaRaw = json.RawMessage(r.value), json.RawMessage(r.md)
	return r, err
}

func (x *rawSQLite) Get(ctx context.Context, key string) (bool, error) {
	_, err := scanSQLite(x.stmts["get"].QueryRowContext(ctx, x.ns, key))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (x *rawSQLite) Has(ctx context.Context, key string) (bool, error) {
	var found bool
	err := x.stmts["has"].QueryRowContext(ctx, x.ns, key).Scan(&found)
	return found, err
}

func (x *rawSQLite) Set(ctx context.Context, key string, value []byte, now time.Time) error {
	var v int64
	return x.stmts["upsert"].QueryRowContext(ctx, key, string(value), now.UnixMicro(), x.ns).Scan(&v)
}

func (x *rawSQLite) Delete(ctx context.Context, key string) (bool, error) {
	res, err := x.stmts["delete"].ExecContext(ctx, x.ns, key)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func jsonKeys(keys []string) string {
	b, _ := json.Marshal(keys)
	return string(b)
}

func (x *rawSQLite) GetMany(ctx context.Context, keys []string) (int, error) {
	rows, err := x.stmts["getMany"].QueryContext(ctx, x.ns, jsonKeys(keys))
	if err != nil {
		return 0, err
	}
	return countRows(rows)
}

func countRows(rows *sql.Rows) (int, error) {
	defer func() { _ = rows.Close() }()
	n := 0
	for rows.Next() {
		if _, err := scanSQLite(rows); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func (x *rawSQLite) BulkMethods() []string { return []string{bulkJSONEach, bulkTxPrepared} }

func (x *rawSQLite) SetMany(ctx context.Context, method string, keys []string, values [][]byte, now time.Time) error {
	switch method {
	case bulkJSONEach:
		var b strings.Builder
		b.WriteByte('[')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.WriteByte('[')
			b.Write(kb)
			b.WriteByte(',')
			b.Write(values[i])
			b.WriteByte(']')
		}
		b.WriteByte(']')
		rows, err := x.stmts["upsertJSON"].QueryContext(ctx, now.UnixMicro(), b.String(), x.ns)
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
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
	case bulkTxPrepared:
		tx, err := x.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		st := tx.StmtContext(ctx, x.stmts["upsert"])
		for i, k := range keys {
			var v int64
			if err := st.QueryRowContext(ctx, k, string(values[i]), now.UnixMicro(), x.ns).Scan(&v); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	return fmt.Errorf("unknown bulk method %q", method)
}

func (x *rawSQLite) DeleteMany(ctx context.Context, keys []string) (int, error) {
	rows, err := x.stmts["deleteMany"].QueryContext(ctx, x.ns, jsonKeys(keys))
	if err != nil {
		return 0, err
	}
	defer func() { _ = rows.Close() }()
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

func (x *rawSQLite) DeleteRange(ctx context.Context, lo, hi string) error {
	_, err := x.w.ExecContext(ctx, `DELETE FROM raw_entries WHERE `+sqliteNS+` AND key >= ? AND key < ?`, x.ns, lo, hi)
	return err
}

func (x *rawSQLite) List(ctx context.Context, lo, hi, after string, limit, offset int) ([]string, error) {
	q := `SELECT key FROM raw_entries WHERE ` + sqliteNS + ` AND key >= ? AND key < ?`
	args := []any{x.ns, lo, hi}
	if after != "" {
		q += ` AND key > ?`
		args = append(args, after)
	}
	q += ` ORDER BY key LIMIT ? OFFSET ?`
	args = append(args, limit, offset)
	rows, err := x.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
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

func (x *rawSQLite) Query(ctx context.Context, name string, args ...any) (int, error) {
	st, ok := x.stmts[name]
	if !ok {
		return 0, fmt.Errorf("unknown query %q", name)
	}
	rows, err := st.QueryContext(ctx, append([]any{x.ns}, args...)...)
	if err != nil {
		return 0, err
	}
	return countRows(rows)
}

func (x *rawSQLite) Count(ctx context.Context) (int64, error) {
	var n int64
	err := x.stmts["count"].QueryRowContext(ctx, x.ns).Scan(&n)
	return n, err
}

func (x *rawSQLite) RMW(ctx context.Context, _ storage.IsolationLevel, keys []string, now func() time.Time) (int, error) {
	d, _ := dialect.ForName(dialect.SQLite)
	for attempt := 1; ; attempt++ {
		err := x.rmwOnce(ctx, keys, now)
		if err == nil || !d.Classify(err).Retryable() || attempt == maxAttempts {
			return attempt - 1, err
		}
		if err := backoff(ctx, attempt); err != nil {
			return attempt - 1, err
		}
	}
}

func (x *rawSQLite) rmwOnce(ctx context.Context, keys []string, now func() time.Time) error {
	tx, err := x.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	get, set := tx.StmtContext(ctx, x.stmts["getW"]), tx.StmtContext(ctx, x.stmts["upsert"])
	for _, k := range keys {
		r, err := scanSQLite(get.QueryRowContext(ctx, x.ns, k))
		if err != nil {
			return err
		}
		b, err := bumpCounter(r.valueRaw)
		if err != nil {
			return err
		}
		var v int64
		if err := set.QueryRowContext(ctx, k, string(b), now().UnixMicro(), x.ns).Scan(&v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (x *rawSQLite) Exec(ctx context.Context, stmt string) error {
	_, err := x.w.ExecContext(ctx, stmt)
	return err
}

func (x *rawSQLite) Version(ctx context.Context) (string, error) {
	var v string
	err := x.r.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v)
	return v, err
}
