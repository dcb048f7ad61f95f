package sqlstore

import (
	"errors"
	"fmt"
	"testing"

	storage "github.com/mycelia-kernel/storage"
)

// TestNamespaceOvertakenIsTyped: a read whose namespace changes (a Clear
// gives it a fresh id) between the reading of its ids and its statement,
// on every one of its namespaceRuns runs, does not answer its last run's
// "nothing found", which ran on ids already stale (an index being dropped
// would make it miss entries that were never deleted): it fails with
// ErrTxConflict, and so does a Query that this happens to, as one error
// wrapping exactly one sentinel.
func TestNamespaceOvertakenIsTyped(t *testing.T) {
	for _, c := range fileConfigs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			const ns = "ov"
			must(t, s.CreateNamespace(ctx, ns))
			runs := 0
			err := s.withNamespaceID(ctx, ns, func(nsInfo) (bool, error) {
				runs++
				// Another writer overtakes the read: the namespace gets
				// a fresh id before the statement's answer is used.
				if err := s.Set(ctx, fmt.Sprintf("k%d", runs), 1, storage.InNamespace(ns)); err != nil {
					return false, err
				}
				if err := s.Clear(ctx, storage.InNamespace(ns)); err != nil {
					return false, err
				}
				return false, nil
			})
			if runs != namespaceRuns {
				t.Errorf("runs = %d, want %d", runs, namespaceRuns)
			}
			if !errors.Is(err, storage.ErrTxConflict) {
				t.Fatalf("withNamespaceID overtaken %d times = %v, want ErrTxConflict", runs, err)
			}
			n := 0
			for _, se := range storage.Sentinels() {
				if errors.Is(err, se) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("error %v wraps %d sentinels, want 1", err, n)
			}
		})
	}
}
