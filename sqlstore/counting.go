package sqlstore

import (
	"context"
	"database/sql"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage/internal/sqlitedb"
)

// backgroundKey marks a context as the store's own background work.
type backgroundKey struct{}

// background marks ctx as the store's own background work (the purger,
// the sweeper, the feed's scanner): the round-trip counter (tests) leaves
// its statements out, since they run at times of their own and would be
// counted against whatever call the test measures.
func background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// countOne adds a statement run with ctx to n, unless n is nil or ctx is
// background work.
func countOne(ctx context.Context, n *atomic.Int64) {
	if n != nil && ctx.Value(backgroundKey{}) == nil {
		n.Add(1)
	}
}

// countingDB counts the statements sent through a database/sql handle.
type countingDB struct {
	db sqlitedb.DBTX
	n  *atomic.Int64
}

func (c countingDB) ExecContext(ctx context.Context, q string, args ...interface{}) (sql.Result, error) {
	countOne(ctx, c.n)
	return c.db.ExecContext(ctx, q, args...)
}

func (c countingDB) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	countOne(ctx, c.n)
	return c.db.PrepareContext(ctx, q)
}

func (c countingDB) QueryContext(ctx context.Context, q string, args ...interface{}) (*sql.Rows, error) {
	countOne(ctx, c.n)
	return c.db.QueryContext(ctx, q, args...)
}

func (c countingDB) QueryRowContext(ctx context.Context, q string, args ...interface{}) *sql.Row {
	countOne(ctx, c.n)
	return c.db.QueryRowContext(ctx, q, args...)
}

// countingTracer counts the statements pgx sends (BEGIN and COMMIT included).
type countingTracer struct{ n *atomic.Int64 }

func (t countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	countOne(ctx, t.n)
	return ctx
}

func (countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a batch (a write after the revision lock,
// revlock.go) as one round trip.
func (t countingTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	countOne(ctx, t.n)
	return ctx
}

func (countingTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (countingTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
