package sqlstore

import (
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestNamespaceIDsBounded: the namespace ids Query and Count cache (nsIDs)
// stay within nsIDsMax names when another store on the same database
// creates and deletes the namespaces this one queries (two storeservers on
// one PostgreSQL, processes sharing a SQLite file, a namespace per session
// with a random name): this store never learns of the deletes, and before
// it kept one entry per namespace it ever queried, for as long as it ran.
// Queries after the cache was dropped still answer.
func TestNamespaceIDsBounded(t *testing.T) {
	defer func(old int64) { nsIDsMax = old }(nsIDsMax)
	nsIDsMax = 8
	for _, c := range configs[1:] { // two stores on one database: not sqlite::memory:
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := c.dsn(t)
			a := openTest(t, dsn, WithSweepInterval(-1))
			defer a.Close()
			b := openTest(t, dsn, WithSweepInterval(-1))
			defer b.Close()
			kept := func() int {
				n := 0
				a.nsIDs.m.Range(func(any, any) bool { n++; return true })
				return n
			}
			must(t, a.Set(ctx, "k", map[string]any{"n": 1}, storage.InNamespace("stays")))
			for i := range 40 {
				ns := fmt.Sprintf("session-%02d", i)
				in := storage.InNamespace(ns)
				must(t, b.Set(ctx, "k", map[string]any{"n": i}, in))
				if n, err := a.Count(ctx, in); err != nil || n != 1 {
					t.Fatalf("Count %s = %d, %v; want 1", ns, n, err)
				}
				if r, err := a.Query(ctx, storage.Eq("n", 1), storage.InNamespace("stays")); err != nil || len(r.Entries) != 1 {
					t.Fatalf("Query stays = %v, %v; want k", r.Entries, err)
				}
				must(t, b.DeleteNamespace(ctx, ns, storage.Recursive()))
				if n := kept(); n > int(nsIDsMax) {
					t.Fatalf("after %d namespaces queried and deleted elsewhere, %d cached (bound %d)", i+1, n, nsIDsMax)
				}
			}
		})
	}
}
