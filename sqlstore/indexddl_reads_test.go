package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestIndexDDLConcurrentReads: while store a declares and drops indexes
// of a namespace whose data does not change (CreateIndex and DropIndex in
// chunks of 8 rows, RestoreNamespace merging declarations), readers on a
// and on another store b of the same database run random Query (with
// sorts and cursor pages) and Count calls: every answer is the reference
// evaluator's over the data, whatever the indexes are at that moment
// (declaring an index is an optimization: results never depend on it).
// Seeded (STORAGE_DIFF_SEED).
func TestIndexDDLConcurrentReads(t *testing.T) {
	seed, _ := randomRun(t, 0, 0)
	d := 2 * time.Second
	if testing.Short() || raceEnabled {
		d = time.Second
	}
	for _, c := range configs[1:] { // two stores on one database
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			a, b := twoStores(t, c)
			defer func(old int) { indexBuildChunk = old }(indexBuildChunk)
			indexBuildChunk = 8
			g := &docGen{r: rand.New(rand.NewPCG(seed, 0xdd1))}
			in := storage.InNamespace("d")
			items := make([]storage.Item, 120)
			var entries []storage.Entry
			for i := range items {
				items[i] = storage.Item{Key: g.key(i), Value: json.RawMessage(g.doc(0)), Metadata: g.metadata()}
			}
			if res, err := a.SetMany(ctx, items, in); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			res, err := a.Query(ctx, storage.All(), in)
			must(t, err)
			entries = res.Entries
			fields := []string{"a", "b", "s", "n", "o.x", "arr.0", "$metadata.m"}

			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var failures []string
			calls := 0
			for w, s := range []*Store{b, a, b} {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(seed, uint64(w)))
					g := &docGen{r: r}
					for {
						select {
						case <-stop:
							return
						default:
						}
						f, sort := twoFilter(g)
						x, _ := f.Compile()
						var ref []string
						var m []storage.Entry
						for _, e := range entries {
							if storetest.RefMatch(x, e) {
								m = append(m, e)
							}
						}
						if err := storetest.RefSort(m, sort); err != nil {
							panic(err)
						}
						for _, e := range m {
							ref = append(ref, e.Key)
						}
						var got []string
						var fail string
						if r.IntN(3) == 0 {
							// Pages of 7: the cursor crosses the index changes.
							cur := ""
							for {
								o := qopts("d", sort, storage.Limit(7))
								if cur != "" {
									o = append(o, storage.After(cur))
								}
								res, err := s.Query(ctx, f, o...)
								if err != nil {
									fail = err.Error()
									break
								}
								for _, e := range res.Entries {
									got = append(got, e.Key)
								}
								if cur = res.Cursor; cur == "" {
									break
								}
							}
						} else {
							res, err := s.Query(ctx, f, qopts("d", sort)...)
							if err != nil {
								fail = err.Error()
							}
							for _, e := range res.Entries {
								got = append(got, e.Key)
							}
						}
						if fail == "" && !slices.Equal(got, ref) {
							fail = fmt.Sprintf("Query got %d %v, want %d %v", len(got), got, len(ref), ref)
						}
						if n, err := s.Count(ctx, in, storage.Where(f)); fail == "" && (err != nil || n != int64(len(ref))) {
							fail = fmt.Sprintf("Count = %d, %v; want %d", n, err, len(ref))
						}
						mu.Lock()
						calls++
						if fail != "" {
							fj, _ := json.Marshal(f)
							failures = append(failures, fmt.Sprintf("reader %d: filter %s, sort %v: %s", w, fj, sort, fail))
						}
						mu.Unlock()
					}
				})
			}
			r := rand.New(rand.NewPCG(seed, 0xdd2))
			ddl := 0
			for end := time.Now().Add(d); time.Now().Before(end); ddl++ {
				f := fields[r.IntN(len(fields))]
				switch r.IntN(3) {
				case 0:
					sentinelOr(t, "createIndex", a.CreateIndex(ctx, "d", f), storage.ErrIndexExists)
				case 1:
					sentinelOr(t, "dropIndex", a.DropIndex(ctx, "d", f), storage.ErrIndexNotFound)
				case 2:
					_, err := a.RestoreNamespace(ctx, NamespaceRecord{Name: "d", Metadata: json.RawMessage(`{}`), CreatedAt: time.Now(), Indexes: []string{f}}, ConflictOverwrite)
					must(t, err)
				}
			}
			close(stop)
			wg.Wait()
			t.Logf("%d index changes, %d reads", ddl, calls)
			for i, f := range failures {
				if i == 10 {
					t.Errorf("… %d more", len(failures)-10)
					break
				}
				t.Error(f)
			}
		})
	}
}

// sentinelOr requires err to be nil or allowed (wrapping it alone).
func sentinelOr(t *testing.T, what string, err, allowed error) {
	t.Helper()
	if err == nil {
		return
	}
	checkTyped(t, what, err)
	if !errors.Is(err, allowed) {
		t.Fatalf("%s: %v, want nil or %v", what, err, allowed)
	}
}
