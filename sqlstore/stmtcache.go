package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache runs the statements of a SQLite connection pool through
// prepared statements kept by SQL text, so that SQLite parses and plans a
// statement once per connection instead of at every call (the modernc
// driver keeps no statement cache; preparing was half the time of a Set
// and nine tenths of an indexed Query). Fixed-shape statements and the
// dynamic ones of List, Query and Count (whose values are bound parameters)
// repeat their text; at most maxCachedStmts texts are kept, and others run
// unprepared. A transaction holds a connection of its own and keeps a
// cache of its own on it, for its lifetime (a read-modify-write transaction
// runs the same statements several times); close releases it.
type stmtCache struct {
	db preparer
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// preparer is a *sql.DB (a pool) or a *sql.Conn (a transaction's
// connection).
type preparer interface {
	PrepareContext(ctx context.Context, q string) (*sql.Stmt, error)
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

const maxCachedStmts = 256

func newStmtCache(db preparer) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// close closes the cached statements; the cache stays usable (it prepares
// again). A transaction calls it before giving its connection back.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.m {
		_ = s.Close()
		delete(c.m, q)
	}
}

// stmt returns the prepared statement of q, or nil to run q unprepared
// (cache full, or the prepare failed: running q reports the same error).
func (c *stmtCache) stmt(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	s, full := c.m[q], len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if s != nil || full {
		return s
	}
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
