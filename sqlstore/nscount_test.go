package sqlstore

import (
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// TestCountEntries: CountEntries sums the entries of the namespaces whose
// names lie in the ranges, exactly on SQLite too while the change log's
// new entries are not yet folded into entry_count (fewer than 32
// revisions, migration 00023), after deletes, and not counting the
// namespaces outside the ranges; CountNamespaces counts them.
func TestCountEntries(t *testing.T) {
	for _, c := range configs {
		if c.name == "sqlite-memory" {
			continue // sqlite-file runs the same statements
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			for i, ns := range []string{"principal://a", "principal://a/namespace/x", "principal://b"} {
				items := make([]storage.Item, 10*(i+1)+3)
				for k := range items {
					items[k] = storage.Item{Key: fmt.Sprint("k", k), Value: k}
				}
				res, err := s.SetMany(ctx, items, storage.InNamespace(ns))
				must(t, err)
				must(t, res.Err())
			}
			must(t, s.Set(ctx, "one", 1, storage.InNamespace("principal://a")))
			must(t, s.Delete(ctx, "k0", storage.InNamespace("principal://a/namespace/x")))
			rs := []driver.KeyRange{{From: "principal://a", To: "principal://a\x00"}, storage.PrefixRange("principal://a/namespace/")}
			n, err := s.CountEntries(ctx, rs)
			must(t, err)
			if want := int64(13 + 1 + 23 - 1); n != want {
				t.Errorf("CountEntries = %d, want %d", n, want)
			}
			if n, err := s.CountNamespaces(ctx, rs); err != nil || n != 2 {
				t.Errorf("CountNamespaces = %d, %v; want 2", n, err)
			}
			if n, err := s.CountEntries(ctx, []driver.KeyRange{storage.PrefixRange("principal://c")}); err != nil || n != 0 {
				t.Errorf("CountEntries of no namespace = %d, %v; want 0", n, err)
			}
		})
	}
}
