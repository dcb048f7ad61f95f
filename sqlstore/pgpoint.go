package sqlstore

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mycelia-kernel/storage/driver"
)

// pgPoints is PostgreSQL's lane of the point reads (Get, Has, GetMany and
// GetMetadata outside transactions) and of the engine's own short reads
// (engine.quickReader, ping, schemaVersion): a pool of its own beside the
// store's, pgPointConns of them, which the reads that last never take.
// Those share the store's pool: read-only transactions (up to three
// quarters of it, txCapacity), watch reads (watchReadPlaces) and scans
// outside transactions (no cap in the engine; httpapi's
// MaxScansInStore), and together they held every connection of it, so
// that a get of one entry, Status (storeserver's /readyz) and a write's
// compaction assist waited for one of them to end, up to their callers'
// timeouts (TestPostgresQuickBesideLongReads). The writes outside
// transactions (writer, inTx: a Set, a SetMany, a Clear, the sweeper's
// batches) have a lane of their own too, the same type, for the same
// reason (a Set waited 3 s to 5 s there): not the point reads', where a
// write waiting for the revision lock behind a transaction would keep the
// gets waiting. As SQLite's point readers, a lane is not a cap: with every
// connection of it in use, a read or write runs on the store's pool if
// that has one free.
type pgPoints struct {
	pool *pgxpool.Pool
	q    pgQ           // bound to pool
	main *pgxpool.Pool // the store's
	mq   pgQ           // bound to main
	max  int32         // pool's size
	busy atomic.Int32  // the point reads running on pool
}

// pgPointConns is how many connections each lane (the point reads', the
// writes') has beside a pool of n: half of what transactions leave of it
// (spareConns), at least two.
func pgPointConns(n int) int { return max(2, spareConns(n)/2) }

// openPgPoints opens the lane beside main, with main's settings but its
// size.
func openPgPoints(pc *pgxpool.Config, main *pgxpool.Pool, key int64) (*pgPoints, error) {
	c := pc.Copy()
	c.MaxConns = int32(pgPointConns(int(pc.MaxConns)))
	c.MinConns = 0
	pool, err := pgxpool.NewWithConfig(context.Background(), c)
	if err != nil {
		return nil, err
	}
	return &pgPoints{pool: pool, q: newPgQ(pool, 0, nil, key), main: main, mq: newPgQ(main, 0, nil, key), max: c.MaxConns}, nil
}

// pick is where a write outside transactions runs (pgEngine.writer,
// inTx): the lane when it has a connection free, else the store's pool
// when it has one, else the lane.
func (l *pgPoints) pick() (*pgxpool.Pool, pgQ) {
	if s := l.pool.Stat(); s.AcquiredConns() < s.MaxConns() {
		return l.pool, l.q
	}
	if s := l.main.Stat(); s.AcquiredConns() < s.MaxConns() {
		return l.main, l.mq
	}
	return l.pool, l.q
}

// take chooses where a point read runs: the lane when it has a connection
// free, else the store's pool when it has one, else the lane (whose reads
// are short). onLane goes to give.
func (l *pgPoints) take() (q pgQ, onLane bool) {
	if l.busy.Add(1) <= l.max {
		return l.q, true
	}
	if s := l.main.Stat(); s.AcquiredConns() < s.MaxConns() {
		l.busy.Add(-1)
		return l.mq, false
	}
	return l.q, true
}

func (l *pgPoints) give(onLane bool) {
	if onLane {
		l.busy.Add(-1)
	}
}

// pgPointQ is the querier of the store's pool outside transactions, whose
// point reads run on the lane (pgPoints).
type pgPointQ struct {
	pgQ
	l *pgPoints
}

// onLane runs a point read where take chooses.
func onLane[T any](l *pgPoints, read func(q pgQ) (T, error)) (T, error) {
	q, on := l.take()
	defer l.give(on)
	return read(q)
}

func (p pgPointQ) getEntry(ctx context.Context, ns, key string, now time.Time) (row, error) {
	return onLane(p.l, func(q pgQ) (row, error) { return q.getEntry(ctx, ns, key, now) })
}

func (p pgPointQ) hasEntry(ctx context.Context, ns, key string, now time.Time) (bool, error) {
	return onLane(p.l, func(q pgQ) (bool, error) { return q.hasEntry(ctx, ns, key, now) })
}

func (p pgPointQ) getEntries(ctx context.Context, ns string, keys []string, now time.Time, b *driver.ReadBudget) ([]row, bool, error) {
	var cut bool
	rows, err := onLane(p.l, func(q pgQ) ([]row, error) {
		rows, c, err := q.getEntries(ctx, ns, keys, now, b)
		cut = c
		return rows, err
	})
	return rows, cut, err
}

func (p pgPointQ) getMetadata(ctx context.Context, ns, key string, now time.Time) (metaRow, error) {
	return onLane(p.l, func(q pgQ) (metaRow, error) { return q.getMetadata(ctx, ns, key, now) })
}
