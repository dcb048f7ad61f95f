package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestIndexBuildEndsWithItsCall (issue 15, item 3): an index build cannot
// outlive its call. CreateIndex and CreateNamespace with indexes, given
// deadlines from very short to long enough, either succeed with the whole
// index or fail and leave nothing: no declaration, no index rows, no
// namespace. Before the answer nothing shows, and nothing turns up later.
func TestIndexBuildEndsWithItsCall(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			items := make([]storage.Item, 1000)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("k%05d", i), Value: map[string]any{"age": i % 97, "name": fmt.Sprint("n", i)}}
			}
			if res, err := s.SetMany(ctx, items, storage.InNamespace("p")); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			indexRows := func() int64 {
				t.Helper()
				var n int64
				if err := s.eng.reader().queryRows(ctx, "SELECT count(*) FROM index_entries", nil, func(r rowScanner) error { return r.Scan(&n) }); err != nil {
					t.Fatal(err)
				}
				return n
			}
			nsNames := func() []string {
				t.Helper()
				list, err := s.ListNamespaces(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, n := range list {
					names = append(names, n.Name)
				}
				return names
			}
			calls := []struct {
				name string
				do   func(ctx context.Context) error
				done func() bool
			}{
				{"CreateIndex", func(ctx context.Context) error { return s.CreateIndex(ctx, "p", "age") },
					func() bool { return slices.Equal(nsIndexes(t, s, "p"), []string{"age"}) }},
				{"CreateNamespace", func(ctx context.Context) error {
					return s.CreateNamespace(ctx, "q", storage.WithIndexes("name", "age"))
				}, func() bool { return slices.Contains(nsNames(), "q") }},
			}
			for _, call := range calls {
				failed := 0
				for d := 50 * time.Microsecond; ; d *= 3 {
					beforeRows, beforeIx, beforeNS := indexRows(), physicalIndexes(t, s), nsNames()
					cctx, cancel := context.WithTimeout(ctx, d)
					err := call.do(cctx)
					cancel()
					if err == nil {
						if !call.done() {
							t.Fatalf("%s succeeded after %v but is not there", call.name, d)
						}
						break
					}
					failed++
					// Let a build that outlived its call show itself.
					time.Sleep(50 * time.Millisecond)
					if call.done() || indexRows() != beforeRows || !slices.Equal(physicalIndexes(t, s), beforeIx) || !slices.Equal(nsNames(), beforeNS) {
						t.Fatalf("%s failed after %v (%v) but left a declaration, index rows or a namespace behind", call.name, d, err)
					}
					if d > 30*time.Second {
						t.Fatalf("%s never succeeded: %v", call.name, err)
					}
				}
				t.Logf("%s: %d calls failed by their deadline and left nothing", call.name, failed)
			}
			want := append(wantIndexes(t, s, "p", "age"), wantIndexes(t, s, "q", "age", "name")...)
			slices.Sort(want)
			if got := physicalIndexes(t, s); !slices.Equal(got, want) {
				t.Errorf("indexes at the end: %v, want %v", got, want)
			}
		})
	}
}
