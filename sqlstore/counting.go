package sqlstore

import (
	"context"
	"database/sql"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage/internal/sqlitedb"
)

// countingDB counts the statements sent through a database/sql handle.
type countingDB struct {
	db sqlitedb.DBTX
	n  *atomic.Int64
}

func (c countingDB) ExecContext(ctx context.Context, q string, args ...interface{}) (sql.Result, error) {
	c.n.Add(1)
	return c.db.ExecContext(ctx, q, args...)
}

func (c countingDB) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	c.n.Add(1)
	return c.db.PrepareContext(ctx, q)
}

func (c countingDB) QueryContext(ctx context.Context, q string, args ...interface{}) (*sql.Rows, error) {
	c.n.Add(1)
	return c.db.QueryContext(ctx, q, args...)
}

func (c countingDB) QueryRowContext(ctx context.Context, q string, args ...interface{}) *sql.Row {
	c.n.Add(1)
	return c.db.QueryRowContext(ctx, q, args...)
}

// countingTracer counts the statements pgx sends (BEGIN and COMMIT included).
type countingTracer struct{ n *atomic.Int64 }

func (t countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.n.Add(1)
	return ctx
}

func (countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a batch (a write after the revision lock,
// revlock.go) as one round trip.
func (t countingTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.n.Add(1)
	return ctx
}

func (countingTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (countingTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
