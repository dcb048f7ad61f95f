package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// stmtCache runs the statements of a SQLite connection pool through
// prepared statements kept by SQL text, so that SQLite parses and plans a
// statement once per connection instead of at every call (the modernc
// driver keeps no statement cache; preparing was half the time of a Set
// and nine tenths of an indexed Query). Fixed-shape statements and the
// dynamic ones of List, Query and Count (whose values are bound parameters)
// repeat their text; at most maxCachedStmts texts are kept, and others run
// unprepared.
//
// The cache lives as long as the store. Transactions share it (txStmts):
// a transaction runs a cached statement through sql.Tx.StmtContext, which
// reuses the statement already prepared on the transaction's connection (or
// prepares it there once, for every later use). A statement a transaction
// meets first is not cached at once, since preparing it on the pool would
// wait for the connection the transaction holds: it runs unprepared, is
// remembered, and warm prepares it before the next transaction takes a
// connection.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex // readers of m take it shared: every statement looks up its text
	m  map[string]*sql.Stmt
	// missed holds the texts transactions ran unprepared, for warm.
	missed map[string]struct{}
	// prepares counts the statements prepared on the pool, misses the
	// statements transactions ran unprepared (for tests).
	prepares, misses atomic.Int64
}

const maxCachedStmts = 256

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, missed: map[string]struct{}{}}
}

// stmt returns the prepared statement of q, or nil to run q unprepared
// (cache full, or the prepare failed: running q reports the same error).
func (c *stmtCache) stmt(ctx context.Context, q string) *sql.Stmt {
	c.mu.RLock()
	s, full := c.m[q], len(c.m) >= maxCachedStmts
	c.mu.RUnlock()
	if s != nil || full {
		return s
	}
	c.prepares.Add(1)
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[q]; old != nil || len(c.m) >= maxCachedStmts {
		_ = s.Close()
		return old
	}
	c.m[q] = s
	return s
}

// forTx returns the cached statement of q without preparing it; on a miss
// it remembers q for warm and returns nil.
func (c *stmtCache) forTx(q string) *sql.Stmt {
	c.mu.RLock()
	s := c.m[q]
	c.mu.RUnlock()
	if s == nil {
		c.misses.Add(1)
		c.mu.Lock()
		if len(c.m)+len(c.missed) < maxCachedStmts {
			c.missed[q] = struct{}{}
		}
		c.mu.Unlock()
	}
	return s
}

// warm prepares the statements transactions missed. It runs before a
// transaction takes its connection, so its wait for the connection is one
// the transaction would have had.
func (c *stmtCache) warm(ctx context.Context) {
	c.mu.Lock()
	if len(c.missed) == 0 {
		c.mu.Unlock()
		return
	}
	qs := make([]string, 0, len(c.missed))
	for q := range c.missed {
		qs = append(qs, q)
	}
	clear(c.missed)
	c.mu.Unlock()
	for _, q := range qs {
		c.stmt(ctx, q)
	}
}

func (c *stmtCache) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := c.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, q, args...)
}

func (c *stmtCache) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return c.db.PrepareContext(ctx, q)
}

func (c *stmtCache) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := c.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, q, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if s := c.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, q, args...)
}

// txStmts runs a transaction's statements through the store's cache (see
// stmtCache).
type txStmts struct {
	c  *stmtCache
	tx *sql.Tx
}

func (t txStmts) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := t.c.forTx(q); s != nil {
		return t.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t txStmts) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, q)
}

func (t txStmts) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := t.c.forTx(q); s != nil {
		return t.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t txStmts) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if s := t.c.forTx(q); s != nil {
		return t.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}
