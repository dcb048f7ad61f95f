package sqlstore

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestStmtCachesFollowUse: SQLite's statement caches (the store's,
// stmtCache, and each reader connection's, readConn.dyn) keep the
// statements in use, not the first ones ever run. Query and Count name the
// namespace's id in their SQL and ids are never reused, so a store whose
// namespaces come and go (a namespace per session, created, queried and
// deleted) meets new texts for as long as it runs. Before, both caches
// kept their first maxCachedStmts and maxConnStmts texts for the store's
// life: once that many namespaces had been queried and deleted, the
// statements of the namespace in use ran unprepared at every call. The
// bounds are lowered here; at the defaults (256 and 128) the same happened
// after 256 such namespaces.
func TestStmtCachesFollowUse(t *testing.T) {
	defer func(w, r int) { maxCachedStmts, maxConnStmts = w, r }(maxCachedStmts, maxConnStmts)
	maxCachedStmts, maxConnStmts = 16, 8
	ctx := t.Context()
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "d.db")+"?readers=1", WithSweepInterval(-1))
	defer s.Close()
	e := s.eng.(*sqliteEngine)
	use := func(ns string, i int) {
		t.Helper()
		in := storage.InNamespace(ns)
		must(t, s.Set(ctx, "k"+strconv.Itoa(i), map[string]any{"a": i, "b": 1}, in))
		if r, err := s.Query(ctx, storage.Eq("b", 1), in); err != nil || len(r.Entries) == 0 {
			t.Fatalf("Query %s: %v, %v", ns, r.Entries, err)
		}
		if n, err := s.Count(ctx, in, storage.Where(storage.Eq("a", i))); err != nil || n != 1 {
			t.Fatalf("Count %s: %d, %v", ns, n, err)
		}
		tx, err := s.Begin(ctx, storage.TxOptions{})
		must(t, err)
		if r, err := tx.Query(ctx, storage.Eq("a", i), in); err != nil || len(r.Entries) != 1 {
			t.Fatalf("Query %s in a transaction: %v, %v", ns, r.Entries, err)
		}
		must(t, tx.Commit(ctx))
	}
	for i := range 3 * maxCachedStmts {
		ns := fmt.Sprintf("session-%03d", i)
		must(t, s.CreateNamespace(ctx, ns, storage.WithIndexes("a")))
		use(ns, i)
		must(t, s.DeleteNamespace(ctx, ns, storage.Recursive()))
	}
	must(t, s.CreateNamespace(ctx, "hot", storage.WithIndexes("a")))
	for i := range 3 {
		use("hot", i)
	}
	hot, ok := s.nsIDs.get("hot")
	if !ok {
		t.Fatal("the namespace queried is not cached")
	}
	cond := "namespace_id = " + strconv.FormatInt(hot.id, 10)
	var dyn []string
	conn, err := e.r.Conn(ctx)
	must(t, err)
	must(t, conn.Raw(func(dc any) error {
		for q := range dc.(*readConn).dyn {
			dyn = append(dyn, q)
		}
		return nil
	}))
	must(t, conn.Close())
	kept := func(qs []string) (n int) {
		for _, q := range qs {
			if strings.Contains(q, cond) {
				n++
			}
		}
		return n
	}
	if len(dyn) > maxConnStmts {
		t.Errorf("the reader keeps %d dynamic statements, bound %d", len(dyn), maxConnStmts)
	}
	if n := kept(dyn); n == 0 {
		t.Errorf("the reader keeps none of the statements of the namespace in use (%d kept, all of namespaces deleted since)", len(dyn))
	}
	e.wc.mu.RLock()
	var w []string
	for q := range e.wc.m {
		w = append(w, q)
	}
	e.wc.mu.RUnlock()
	if len(w) > maxCachedStmts {
		t.Errorf("the writer's cache keeps %d statements, bound %d", len(w), maxCachedStmts)
	}
	if n := kept(w); n == 0 {
		t.Errorf("the writer's cache keeps none of the statements of the namespace in use (%d kept)", len(w))
	}
	// The statements kept are reused: another round prepares none.
	p, wp := e.reads.stats.stmtsPrepared.Load(), e.wc.prepares.Load()
	use("hot", 3)
	if dp, dwp := e.reads.stats.stmtsPrepared.Load()-p, e.wc.prepares.Load()-wp; dp != 0 || dwp != 0 {
		t.Errorf("the same statements again prepared %d on the reader, %d on the writer; want 0", dp, dwp)
	}
	must(t, s.Close())
	checkReadsReleased(t, e)
}

// TestStmtCachesEvictInUse: statements evicted while other goroutines run
// them (tiny bounds, more texts than fit: writes, queries, transactions) are
// closed by their last user, never under one: every call answers, and
// every statement is finalized at Close.
func TestStmtCachesEvictInUse(t *testing.T) {
	defer func(w, r int) { maxCachedStmts, maxConnStmts = w, r }(maxCachedStmts, maxConnStmts)
	maxCachedStmts, maxConnStmts = 3, 2
	ctx := t.Context()
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "d.db")+"?readers=2", WithSweepInterval(-1))
	defer s.Close()
	e := s.eng.(*sqliteEngine)
	const nss = 6
	for i := range nss {
		must(t, s.Set(ctx, "k", map[string]any{"a": i}, storage.InNamespace(fmt.Sprintf("n%d", i))))
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			defer func() { errs <- err }()
			for j := range 40 {
				i := (g + j) % nss
				in := storage.InNamespace(fmt.Sprintf("n%d", i))
				switch {
				case g%4 == 1:
					if err = s.Set(ctx, "w"+strconv.Itoa(g), map[string]any{"a": -1}, in); err == nil {
						err = s.Delete(ctx, "w"+strconv.Itoa(g), in)
					}
				case g%2 == 0:
					var r storage.QueryResult
					if r, err = s.Query(ctx, storage.Eq("a", i), in); err == nil && len(r.Entries) != 1 {
						err = fmt.Errorf("Query n%d: %d entries", i, len(r.Entries))
					}
				default:
					var tx storage.Tx
					if tx, err = s.Begin(ctx, storage.TxOptions{ReadOnly: j%2 == 0}); err != nil {
						return
					}
					var n int64
					if n, err = tx.Count(ctx, in, storage.Where(storage.Eq("a", i))); err == nil && n != 1 {
						err = fmt.Errorf("Count n%d in a transaction: %d", i, n)
					}
					_ = tx.Rollback(ctx)
				}
				if err != nil {
					return
				}
			}
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, c := range []*stmtCache{e.wc, e.rc} {
		c.mu.RLock()
		if len(c.m) > maxCachedStmts {
			t.Errorf("a cache keeps %d statements, bound %d", len(c.m), maxCachedStmts)
		}
		c.mu.RUnlock()
	}
	must(t, s.Close())
	checkReadsReleased(t, e)
}

// TestStmtCacheEvictHeld: a statement evicted while a caller holds it (between
// its lookup and its run) stays open for that caller, and is closed when
// the caller releases it; one evicted while nobody holds it is closed at
// once.
func TestStmtCacheEvictHeld(t *testing.T) {
	defer func(w int) { maxCachedStmts = w }(maxCachedStmts)
	maxCachedStmts = 2
	ctx := t.Context()
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "d.db"), WithSweepInterval(-1))
	defer s.Close()
	c := newStmtCache(s.eng.(*sqliteEngine).r)
	held := c.stmt(ctx, "SELECT 1 + ?")
	idle := c.stmt(ctx, "SELECT 2 + ?")
	idle.release()
	for i := range 3 { // evicts both
		c.stmt(ctx, fmt.Sprintf("SELECT %d + ?", 10+i)).release()
	}
	if !idle.closed.Load() {
		t.Error("an evicted statement nobody held is still open")
	}
	if held.closed.Load() {
		t.Fatal("an evicted statement was closed under the caller holding it")
	}
	var n int64
	if err := held.s.QueryRowContext(ctx, int64(1)).Scan(&n); err != nil || n != 2 {
		t.Fatalf("the held statement after its eviction: %d, %v", n, err)
	}
	held.release()
	if !held.closed.Load() {
		t.Error("an evicted statement is still open after its last caller released it")
	}
}
