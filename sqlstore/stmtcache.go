package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
)

// stmtCache runs the statements of a SQLite connection pool through
// prepared statements kept by SQL text, so that SQLite parses and plans a
// statement once per connection instead of at every call (the modernc
// driver keeps no statement cache; preparing was half the time of a Set
// and nine tenths of an indexed Query). Fixed-shape statements and the
// dynamic ones of List, Query and Count (whose values are bound parameters)
// repeat their text; at most maxCachedStmts texts are kept, the least
// recently used closed to make room for another. Query and Count name a
// namespace's id in their text and ids are never reused (nsid.go), so a
// store whose namespaces come and go meets new texts for as long as it
// runs: before, the first maxCachedStmts texts stayed for the store's life
// (most of them of namespaces long deleted) and every later text ran
// unprepared (TestStmtCachesFollowUse).
//
// The cache lives as long as the store. Transactions share it (txStmts):
// a transaction runs a cached statement through sql.Tx.StmtContext, which
// reuses the statement already prepared on the transaction's connection (or
// prepares it there once, for every later use). A statement a transaction
// meets first is not cached at once, since preparing it on the pool would
// wait for the connection the transaction holds: it runs unprepared, is
// remembered, and warm prepares it before the next transaction takes a
// connection.
//
// A statement evicted while callers run it is closed by the last of them
// (cachedStmt.refs): database/sql refuses a closed statement, but closes
// one whose rows, or a transaction's statement made from it, are still
// open only once they are closed.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex // readers of m take it shared: every statement looks up its text
	m  map[string]*cachedStmt
	// missed holds the texts transactions ran unprepared, for warm.
	missed map[string]struct{}
	// clock counts the statements looked up, cachedStmt.used's clock.
	clock atomic.Uint64
	// prepares counts the statements prepared on the pool, misses the
	// statements transactions ran unprepared (for tests).
	prepares, misses atomic.Int64
}

// cachedStmt is a statement of the cache.
type cachedStmt struct {
	s    *sql.Stmt
	used atomic.Uint64 // stmtCache.clock at its last lookup
	// refs counts the callers running s; taken under the cache's lock
	// (shared), so none is taken once evict, under the exclusive lock, has
	// removed it.
	refs   atomic.Int32
	gone   atomic.Bool // evicted: the last caller closes s
	closed atomic.Bool
}

// release ends a caller's use of e.
func (e *cachedStmt) release() {
	if e.refs.Add(-1) == 0 && e.gone.Load() {
		e.close()
	}
}

func (e *cachedStmt) close() {
	if e.closed.CompareAndSwap(false, true) {
		_ = e.s.Close()
	}
}

// maxCachedStmts is how many statements a stmtCache keeps. A variable for
// the tests.
var maxCachedStmts = 256

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*cachedStmt{}, missed: map[string]struct{}{}}
}

// lookup returns the cached statement of q, taken (release it), or nil.
func (c *stmtCache) lookup(q string) *cachedStmt {
	c.mu.RLock()
	e := c.m[q]
	if e != nil {
		e.refs.Add(1)
		e.used.Store(c.clock.Add(1))
	}
	c.mu.RUnlock()
	return e
}

// uncached reports whether q runs unprepared, never through the cache: a
// PRAGMA, since SQLite applies a flag pragma (defer_foreign_keys, which
// unlinkSQLite sets in a Clear's transaction) when it prepares it, not when
// it runs it: a cached one, prepared by warm on another connection, or by
// an earlier transaction, set nothing in the transaction that ran it, whose
// Clear of a namespace with an index then failed on its immediate foreign
// key check, ErrTxConflict (TestTxClearAfterRolledBackClear).
func uncached(q string) bool {
	return len(q) >= 6 && strings.EqualFold(q[:6], "PRAGMA")
}

// stmt returns the prepared statement of q, taken (release it), or nil to
// run q unprepared (the prepare failed: running q reports the same error;
// or q is uncached).
func (c *stmtCache) stmt(ctx context.Context, q string) *cachedStmt {
	if uncached(q) {
		return nil
	}
	if e := c.lookup(q); e != nil {
		return e
	}
	c.prepares.Add(1)
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[q]
	if e != nil {
		_ = s.Close()
	} else {
		if len(c.m) >= maxCachedStmts {
			c.evict()
		}
		e = &cachedStmt{s: s}
		c.m[q] = e
	}
	e.refs.Add(1)
	e.used.Store(c.clock.Add(1))
	return e
}

// evict removes the statement looked up least recently, and closes it
// unless callers run it (the last closes it). Called with c.mu held: a
// scan of at most maxCachedStmts, only before a statement is added, after
// a prepare, which costs more.
func (c *stmtCache) evict() {
	var oldest string
	var victim *cachedStmt
	for q, e := range c.m {
		if victim == nil || e.used.Load() < victim.used.Load() {
			oldest, victim = q, e
		}
	}
	if victim == nil {
		return
	}
	delete(c.m, oldest)
	victim.gone.Store(true)
	if victim.refs.Load() == 0 {
		victim.close()
	}
}

// forTx returns the cached statement of q, taken (release it), without
// preparing it; on a miss it remembers q for warm and returns nil.
func (c *stmtCache) forTx(q string) *cachedStmt {
	if uncached(q) {
		return nil
	}
	e := c.lookup(q)
	if e == nil {
		c.misses.Add(1)
		c.mu.Lock()
		if len(c.missed) < maxCachedStmts {
			c.missed[q] = struct{}{}
		}
		c.mu.Unlock()
	}
	return e
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
		if e := c.stmt(ctx, q); e != nil {
			e.release()
		}
	}
}

func (c *stmtCache) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if e := c.stmt(ctx, q); e != nil {
		defer e.release()
		return e.s.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, q, args...)
}

func (c *stmtCache) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return c.db.PrepareContext(ctx, q)
}

func (c *stmtCache) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if e := c.stmt(ctx, q); e != nil {
		defer e.release() // the rows keep the statement open (see stmtCache)
		return e.s.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, q, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if e := c.stmt(ctx, q); e != nil {
		defer e.release()
		return e.s.QueryRowContext(ctx, args...)
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
	if e := t.c.forTx(q); e != nil {
		defer e.release()
		return t.tx.StmtContext(ctx, e.s).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t txStmts) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, q)
}

func (t txStmts) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if e := t.c.forTx(q); e != nil {
		defer e.release()
		return t.tx.StmtContext(ctx, e.s).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t txStmts) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if e := t.c.forTx(q); e != nil {
		defer e.release()
		return t.tx.StmtContext(ctx, e.s).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}
