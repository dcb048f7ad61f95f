package security_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// clearLiveAttempts is how many clears (and recursive deletes) the
// liveness test makes while the other principal writes.
const clearLiveAttempts = 40

// TestClearLiveUnderOthersWrites: bob, who may write the shared namespace
// but not other principals' keys (not an operator), clears it, and deletes
// it recursively, while alice runs four writers into it. Both must
// succeed: the check for keys bob may not write is the store's, inside its
// own write. Before, the guard ran the check and the clear in a
// serializable transaction of its own, which alice's writes (the
// namespace's row, its predicate locks) made fail with ErrTxConflict on
// PostgreSQL most of the time (26 clears in 40 here), and a recursive delete
// then also failed with ErrNamespaceNotEmpty when a write came between its
// clear and its delete.
func TestClearLiveUnderOthersWrites(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner, st, alice, bob := aliceAndBob(t, c.DSN(t))
			bg := context.Background()
			in := storage.InNamespace("shared")
			if err := st.Set(bob, "seed", 0, in); err != nil {
				t.Fatal(err)
			}

			stop := make(chan struct{})
			var writes, writeErrs atomic.Int64
			wait := writeUntil(4, stop, func(w, i int) {
				// Plain keys: bob may clear them.
				if err := st.Set(alice, fmt.Sprintf("w%d-%d", w, i%50), i, in); err != nil {
					writeErrs.Add(1)
				}
				writes.Add(1)
			})
			var clearFails, deleteFails int
			var firstErr error
			for range clearLiveAttempts {
				if err := st.Clear(bob, in); err != nil {
					clearFails++
					firstErr = firstOf(firstErr, err)
				}
				// The namespace exists (a write creates it again), so a
				// delete can only fail by the check or a conflict.
				if err := st.Set(bob, "seed", 0, in); err != nil {
					t.Fatal(err)
				}
				if err := st.DeleteNamespace(bob, "shared", storage.Recursive()); err != nil {
					deleteFails++
					firstErr = firstOf(firstErr, err)
				}
				if err := st.Set(bob, "seed", 0, in); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			wait()
			t.Logf("%s: clears failed %d/%d, recursive deletes failed %d/%d; alice's writes %d (%d failed); first error: %v",
				c.Name, clearFails, clearLiveAttempts, deleteFails, clearLiveAttempts, writes.Load(), writeErrs.Load(), firstErr)
			if clearFails != 0 || deleteFails != 0 {
				t.Errorf("bob's clears failed %d/%d and recursive deletes %d/%d while alice wrote; first: %v",
					clearFails, clearLiveAttempts, deleteFails, clearLiveAttempts, firstErr)
			}
			// The check still denies: alice's own key makes bob's clear
			// and delete fail, and both leave it.
			aliceKey := "principal://alice-key/data/doc"
			if err := st.Set(alice, aliceKey, "hers", in); err != nil {
				t.Fatal(err)
			}
			// The guard's own denial, as before: no trace of the store's
			// refusal in it.
			const wantClear = `storage: clear namespace "shared": permission denied`
			if err := st.Clear(bob, in); !errors.Is(err, storage.ErrPermissionDenied) || err.Error() != wantClear {
				t.Errorf("bob's clear over alice's key: %v, want %q", err, wantClear)
			}
			for _, opts := range [][]storage.NamespaceOption{{storage.Recursive()}, nil} {
				const want = `storage: deleteNamespace namespace "shared": permission denied`
				if err := st.DeleteNamespace(bob, "shared", opts...); !errors.Is(err, storage.ErrPermissionDenied) || err.Error() != want {
					t.Errorf("bob's delete (%d options) over alice's key: %v, want %q", len(opts), err, want)
				}
			}
			if e, err := inner.Get(bg, aliceKey, in); err != nil || string(e.Value) != `"hers"` {
				t.Errorf("alice's key after bob's clear and delete: %s, %v", e.Value, err)
			}
		})
	}
}

// aliceAndBob is a store over a new engine on dsn where principals
// alice-key and bob-key may write every plain namespace, not each other's
// keys, and the contexts of the two.
func aliceAndBob(t *testing.T, dsn string) (inner storage.Store, st *security.Store, alice, bob context.Context) {
	t.Helper()
	inner = teststore.Open(t, dsn)
	pol := security.NewPolicy()
	pa, pb := mustPKR(t, "alice-key"), mustPKR(t, "bob-key")
	mustApply(t, pol, pa, map[string]string{"storage://namespace/*": "rw"})
	mustApply(t, pol, pb, map[string]string{"storage://namespace/*": "rw"})
	bg := context.Background()
	return inner, security.NewStore(inner, pol), security.WithPrincipal(bg, pa), security.WithPrincipal(bg, pb)
}

// writeUntil runs n writers, each calling write(w, i) (w its number, i =
// 0, 1, …) until stop is closed; wait waits for them to end.
func writeUntil(n int, stop <-chan struct{}, write func(w, i int)) (wait func()) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				write(w, i)
			}
		})
	}
	return wg.Wait
}

// firstOf is first, or err when first is nil.
func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// TestClearNeverTakesConcurrentProtectedKey: while bob clears the shared
// namespace, or deletes it recursively, over and over, alice writes her
// own key into it (a key bob may not write), with writers of plain keys
// around. A clear is either denied (it saw her key) or came before her
// write: her key, once written, is never cleared. Each round starts
// without her key, so that the race is run anew.
func TestClearNeverTakesConcurrentProtectedKey(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner, st, alice, bob := aliceAndBob(t, c.DSN(t))
			bg := context.Background()
			in := storage.InNamespace("shared")

			stop := make(chan struct{})
			wait := writeUntil(2, stop, func(w, i int) { _ = st.Set(bob, fmt.Sprintf("n%d-%d", w, i%20), i, in) })
			defer func() { close(stop); wait() }()

			const rounds = 30
			var cleared, denied int
			for round := range rounds {
				key := fmt.Sprintf("principal://alice-key/data/r%d", round)
				recursive := round%2 == 1
				var wg sync.WaitGroup
				var wrote, finished atomic.Bool
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer finished.Store(true)
					// A write racing a delete of its namespace may fail
					// with ErrTxConflict (it wrote nothing): again.
					for {
						err := st.Set(alice, key, round, in)
						if err == nil {
							break
						}
						if !errors.Is(err, storage.ErrTxConflict) {
							t.Errorf("round %d: alice's write: %v", round, err)
							return
						}
					}
					wrote.Store(true)
				}()
				// Bob clears until one of his clears starts after her
				// write is done.
				for {
					after := finished.Load()
					var err error
					if recursive {
						err = st.DeleteNamespace(bob, "shared", storage.Recursive())
					} else {
						err = st.Clear(bob, in)
					}
					switch {
					case err == nil:
						cleared++
					case errors.Is(err, storage.ErrPermissionDenied):
						denied++
					case errors.Is(err, storage.ErrNamespaceNotFound), errors.Is(err, storage.ErrTxConflict),
						errors.Is(err, storage.ErrNamespaceNotEmpty):
						// Gone meanwhile, or (before the fix) the
						// guard's own transaction or delete lost a race.
					default:
						t.Fatalf("round %d: bob's clear: %v", round, err)
					}
					if after {
						if wrote.Load() && !errors.Is(err, storage.ErrPermissionDenied) {
							t.Errorf("round %d: bob's clear after alice's write: %v, want permission denied", round, err)
						}
						break
					}
				}
				wg.Wait()
				if e, err := inner.Get(bg, key, in); err != nil || string(e.Value) != fmt.Sprint(round) {
					t.Fatalf("round %d (recursive %v): alice's key after bob's clears: %s, %v", round, recursive, e.Value, err)
				}
				// Alice takes her key back: the next round races again.
				if err := st.Delete(alice, key, in); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%s: %d rounds, bob's clears and deletes: %d done, %d denied", c.Name, rounds, cleared, denied)
		})
	}
}
