package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestSetManyAloneOneStatement: on SQLite, a SetMany outside transactions
// with nothing to check first is one statement in autocommit mode
// (upsertBatch), not BEGIN, the counter, the namespace, the statement and
// COMMIT; a batch to a namespace that does not exist yet, or with a
// condition, still runs in a transaction (and creates the namespace).
func TestSetManyAloneOneStatement(t *testing.T) {
	for _, c := range configs[:2] {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			var n atomic.Int64
			s := openTest(t, c.dsn(t), withRoundTripCounter(&n))
			defer s.Close()
			items := func(prefix string, k int) []storage.Item {
				out := make([]storage.Item, k)
				for i := range out {
					out[i] = storage.Item{Key: fmt.Sprintf("%s%03d", prefix, i), Value: map[string]any{"i": i}}
				}
				return out
			}
			in := storage.InNamespace("alone")
			n.Store(0)
			res, err := s.SetMany(ctx, items("a", 20), in) // creates the namespace
			if err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			if got := n.Swap(0); got < 3 {
				t.Errorf("SetMany to a new namespace: %d statements, want a transaction (at least 3)", got)
			}
			for _, batch := range [][]storage.Item{items("b", 20), items("a", 20)} { // new keys, then overwrites
				res, err := s.SetMany(ctx, batch, in)
				if err != nil || !res.OK() {
					t.Fatalf("SetMany: %v %v", err, res.Err())
				}
				if got := n.Swap(0); got != 1 {
					t.Errorf("SetMany of %s...: %d statements, want 1", batch[0].Key, got)
				}
				for i, r := range res.Results {
					e, err := s.Get(ctx, r.Key, in)
					if err != nil {
						t.Fatal(err)
					}
					if e.Revision != r.Revision || e.Version != r.Version || r.Revision != res.Results[0].Revision+int64(i) {
						t.Errorf("%s: reported version %d revision %d, stored %d %d (first revision %d)",
							r.Key, r.Version, r.Revision, e.Version, e.Revision, res.Results[0].Revision)
					}
				}
				n.Store(0)
			}
			// MustExist reads the stored revisions first: a transaction.
			res, err = s.SetMany(ctx, items("a", 3), in, storage.MustExist())
			if err != nil || !res.OK() {
				t.Fatalf("SetMany MustExist: %v %v", err, res.Err())
			}
			if got := n.Swap(0); got < 3 {
				t.Errorf("SetMany MustExist: %d statements, want a transaction", got)
			}
		})
	}
}

// TestSetManyAloneTwoStores: two stores on one SQLite file (as two
// processes) write batches at once, each batch one statement outside
// transactions: every batch gets consecutive revisions, no revision is given
// twice, and the change log holds each item at the revision reported.
func TestSetManyAloneTwoStores(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "two.db")
	a := openTest(t, dsn, WithSweepInterval(-1))
	defer a.Close()
	b := openTest(t, dsn, WithSweepInterval(-1))
	defer b.Close()
	in := storage.InNamespace("two")
	if err := a.CreateNamespace(ctx, "two"); err != nil {
		t.Fatal(err)
	}
	const batches, size = 20, 50
	type put struct {
		key string
		rev int64
	}
	var mu sync.Mutex
	var puts []put
	var wg sync.WaitGroup
	errs := make(chan error, 2*batches)
	for w, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				items := make([]storage.Item, size)
				for j := range items {
					// Half new keys, half shared with the other store.
					key := fmt.Sprintf("s%d-%d-%d", w, i, j)
					if j%2 == 0 {
						key = fmt.Sprintf("shared-%d", j)
					}
					items[j] = storage.Item{Key: key, Value: map[string]any{"w": w, "i": i}}
				}
				res, err := s.SetMany(ctx, items, in)
				if err == nil {
					err = res.Err()
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for j, r := range res.Results {
					if r.Revision != res.Results[0].Revision+int64(j) {
						errs <- fmt.Errorf("batch %d of store %d: revision %d at %d, first %d", i, w, r.Revision, j, res.Results[0].Revision)
					}
					puts = append(puts, put{r.Key, r.Revision})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	logged := map[int64]string{}
	for _, r := range changesAfter(t, a, 0) {
		if r.Kind == "put" {
			logged[r.Rev] = r.Key
		}
	}
	seen := map[int64]bool{}
	for _, p := range puts {
		if seen[p.rev] {
			t.Fatalf("revision %d reported twice", p.rev)
		}
		seen[p.rev] = true
		if logged[p.rev] != p.key {
			t.Fatalf("revision %d reported for %q, logged for %q", p.rev, p.key, logged[p.rev])
		}
	}
	if len(puts) != 2*batches*size || len(logged) != len(puts) {
		t.Fatalf("%d puts reported, %d logged, want %d", len(puts), len(logged), 2*batches*size)
	}
}
