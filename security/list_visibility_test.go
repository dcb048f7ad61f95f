package security_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// listCounter counts the List calls that reach the wrapped store.
type listCounter struct {
	storage.Store
	lists atomic.Int64
}

func (c *listCounter) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	c.lists.Add(1)
	return c.Store.List(ctx, opts...)
}

// TestListVisibilityInSQL is issue 15 item 5: a principal that may read a
// few keys of a namespace among thousands it may not gets full pages with
// exact cursors, offsets and counts, and each of its List calls is one
// List of the wrapped store (the visibility rule goes down as key ranges,
// so the database filters and pages), on every configuration. Before the
// fix the security layer paged through the hidden keys itself: a page of
// one key cost a List call per hidden key before it.
func TestListVisibilityInSQL(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			ctx := context.Background()
			inner := &listCounter{Store: teststore.Open(t, c.DSN(t))}
			defer inner.Close()
			pol := security.NewPolicy()
			mustApply(t, pol, mustPKR(t, "alice-pk"), map[string]string{
				"storage://namespace/shared":  "r",
				"principal://carol-pk/data/*": "r",
				"storage://transactions":      "r",
			})
			st := security.NewStore(inner, pol)
			in := storage.InNamespace("shared")
			const hidden = 2000
			items := make([]storage.Item, 0, hidden)
			for i := range hidden {
				items = append(items, storage.Item{Key: fmt.Sprintf("principal://bob-pk/data/%05d", i), Value: i})
			}
			if res, err := inner.SetMany(ctx, items, in); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			visible := []string{"a", "principal://alice-pk/data/1", "principal://alice-pk/data/2",
				"principal://carol-pk/data/c", "z1", "z2", "z3"}
			for _, k := range append(slices.Clone(visible), "principal://dave-pk/data/d", "principal://zed/data/e") {
				if err := inner.Set(ctx, k, 1, in); err != nil {
					t.Fatal(err)
				}
			}
			alice := security.WithPrincipal(ctx, mustPKR(t, "alice-pk"))
			for _, limit := range []int{1, 2, 3} {
				inner.lists.Store(0)
				var got []string
				calls := 0
				opts := []storage.Option{in, storage.Limit(limit)}
				for {
					res, err := st.List(alice, opts...)
					if err != nil {
						t.Fatal(err)
					}
					calls++
					if res.Cursor != "" && len(res.Keys) != limit {
						t.Fatalf("limit %d: a page of %d keys with a cursor", limit, len(res.Keys))
					}
					got = append(got, res.Keys...)
					if res.Cursor == "" {
						break
					}
					opts = []storage.Option{in, storage.Limit(limit), storage.After(res.Cursor)}
				}
				if !slices.Equal(got, visible) {
					t.Fatalf("limit %d: %q, want %q", limit, got, visible)
				}
				if n := inner.lists.Load(); n != int64(calls) {
					t.Errorf("limit %d: %d List calls reached the store for %d pages, want one each", limit, n, calls)
				}
			}
			for off := range len(visible) + 1 {
				res, err := st.List(alice, in, storage.Offset(off), storage.Limit(2))
				if want := visible[off:min(off+2, len(visible))]; err != nil || !slices.Equal(res.Keys, want) {
					t.Fatalf("offset %d: %q %v, want %q", off, res.Keys, err, want)
				}
			}
			res, err := st.List(alice, in, storage.Pattern("principal://*"), storage.Limit(10))
			if err != nil || !slices.Equal(res.Keys, visible[1:4]) {
				t.Fatalf("pattern: %q %v", res.Keys, err)
			}
			// A caller's own key ranges are cut to what it may see.
			res, err = st.List(alice, in, storage.InKeyRanges(storage.KeyRange{From: "principal://"}))
			if err != nil || !slices.Equal(res.Keys, visible[1:]) {
				t.Fatalf("InKeyRanges: %q %v", res.Keys, err)
			}
			if n, err := st.Count(alice, in); err != nil || n != int64(len(visible)) {
				t.Fatalf("Count = %d, %v; want %d", n, err, len(visible))
			}
			if n, err := st.Count(alice, in, storage.Where(storage.Eq("$key", "principal://bob-pk/data/00001"))); err != nil || n != 0 {
				t.Fatalf("Count of a hidden key = %d, %v", n, err)
			}
			q, err := st.Query(alice, storage.All(), in, storage.Limit(3))
			if err != nil || len(q.Entries) != 3 || q.Entries[2].Key != visible[2] || q.Cursor == "" {
				t.Fatalf("Query = %v, %v", q, err)
			}
			q, err = st.Query(alice, storage.All(), in, storage.Limit(10), storage.After(q.Cursor))
			if err != nil || len(q.Entries) != len(visible)-3 || q.Entries[0].Key != visible[3] {
				t.Fatalf("Query second page = %v, %v", q, err)
			}
			tx, err := st.Begin(alice, storage.TxOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(alice) }()
			res, err = tx.List(alice, in, storage.Limit(2), storage.Offset(2))
			if err != nil || !slices.Equal(res.Keys, visible[2:4]) || res.Cursor == "" {
				t.Fatalf("tx List: %q %q %v", res.Keys, res.Cursor, err)
			}
			if n, err := tx.Count(alice, in); err != nil || n != int64(len(visible)) {
				t.Fatalf("tx Count = %d, %v", n, err)
			}
		})
	}
}
