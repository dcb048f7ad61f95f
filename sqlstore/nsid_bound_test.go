package sqlstore

import (
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestNamespaceIDsBounded: the namespace ids Query and Count cache (nsIDs)
// stay within two generations of nsIDsMax names when another store on the same database
// creates and deletes the namespaces this one queries (two storeservers on
// one PostgreSQL, processes sharing a SQLite file, a namespace per session
// with a random name): this store never learns of the deletes, and before
// it kept one entry per namespace it ever queried, for as long as it ran.
// Queries after the cache was dropped still answer. The namespace queried
// every time stays cached (genMap): before, every name was dropped at the
// bound, and each was read again (a statement each).
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
			kept := a.nsIDs.m.len
			must(t, a.Set(ctx, "k", map[string]any{"n": 1}, storage.InNamespace("stays")))
			for i := range 40 {
				ns := fmt.Sprintf("session-%02d", i)
				in := storage.InNamespace(ns)
				must(t, b.Set(ctx, "k", map[string]any{"n": i}, in))
				if n, err := a.Count(ctx, in); err != nil || n != 1 {
					t.Fatalf("Count %s = %d, %v; want 1", ns, n, err)
				}
				if _, ok := a.nsIDs.get("stays"); !ok && i > 0 { // cached by the first Query
					t.Fatalf("after %d namespaces, the namespace queried every time is no longer cached", i+1)
				}
				if r, err := a.Query(ctx, storage.Eq("n", 1), storage.InNamespace("stays")); err != nil || len(r.Entries) != 1 {
					t.Fatalf("Query stays = %v, %v; want k", r.Entries, err)
				}
				must(t, b.DeleteNamespace(ctx, ns, storage.Recursive()))
				if n := kept(); n > 2*int(nsIDsMax)+1 {
					t.Fatalf("after %d namespaces queried and deleted elsewhere, %d cached (bound %d a generation)", i+1, n, nsIDsMax)
				}
			}
		})
	}
}
