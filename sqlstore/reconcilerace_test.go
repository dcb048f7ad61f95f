package sqlstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestReconcileRacesDropIndex: a store's Open reconciles index_fields with
// the declarations while another store on the same database drops a
// declared index, or creates one. Open read the declarations before; it
// reconciled each namespace, under its lock, with what it had read: it
// recorded the dropped field again (index_fields held a field the
// namespace did not declare, and the next CreateIndex of it failed on
// SQLite with ErrCorrupt: UNIQUE index_fields(namespace_id, field), at the
// build's rename), or deleted the new index's rows while it stayed
// declared. Found by TestRaceEveryErrorTyped's concurrent Opens.
func TestReconcileRacesDropIndex(t *testing.T) {
	for _, c := range configs[1:] { // two stores on one database
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := c.dsn(t)
			s := openTest(t, dsn)
			defer s.Close()
			in := storage.InNamespace("a")
			for i := range 10 {
				if err := s.Set(ctx, fmt.Sprint(i), map[string]int{"v": i}, in); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CreateIndex(ctx, "a", "v"); err != nil {
				t.Fatal(err)
			}
			var dropErr error
			reconcileHook = func() { dropErr = s.DropIndex(ctx, "a", "v") }
			s2, err := Open(ctx, dsn)
			reconcileHook = nil
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s2.Close()
			if dropErr != nil {
				t.Fatalf("DropIndex: %v", dropErr)
			}
			checkIndexes(t, s)
			if err := s.CreateIndex(ctx, "a", "v"); err != nil {
				t.Errorf("CreateIndex after the drop: %v (corrupt: %v)", err, errors.Is(err, storage.ErrCorrupt))
			}
			checkIndexes(t, s)

			// The other way: an index created meanwhile ("w"; "v" keeps
			// the namespace among those Open reconciles).
			var createErr error
			reconcileHook = func() { createErr = s.CreateIndex(ctx, "a", "w") }
			s3, err := Open(ctx, dsn)
			reconcileHook = nil
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s3.Close()
			if createErr != nil {
				t.Fatalf("CreateIndex: %v", createErr)
			}
			checkIndexes(t, s)
		})
	}
}
