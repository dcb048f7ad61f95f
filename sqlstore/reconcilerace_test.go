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
			openDuring(t, dsn, func() error { return s.DropIndex(ctx, "a", "v") })
			checkIndexes(t, s)
			if err := s.CreateIndex(ctx, "a", "v"); err != nil {
				t.Errorf("CreateIndex after the drop: %v (corrupt: %v)", err, errors.Is(err, storage.ErrCorrupt))
			}
			checkIndexes(t, s)

			// The other way: an index created meanwhile ("w"; "v" keeps
			// the namespace among those Open reconciles).
			openDuring(t, dsn, func() error { return s.CreateIndex(ctx, "a", "w") })
			checkIndexes(t, s)
		})
	}
}

// openDuring opens a store on dsn (closed when the test ends) and runs fn
// while its Open reconciles the index fields, after it read the
// declarations.
func openDuring(t *testing.T, dsn string, fn func() error) {
	t.Helper()
	var err error
	reconcileHook = func() { err = fn() }
	s, oerr := Open(t.Context(), dsn)
	reconcileHook = nil
	if oerr != nil {
		t.Fatalf("Open: %v", oerr)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err != nil {
		t.Fatalf("during Open: %v", err)
	}
}
