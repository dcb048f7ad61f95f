package sqlstore

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestUnlinkAllYieldsWriter: Clear of every namespace, on a store of
// 20,000 entries (STORAGE_TEST_UNLINK_N) with two declared indexes spread
// over four namespaces, no longer holds what every other write needs for
// its whole delete (SQLite's one writer, PostgreSQL's revision lock): it
// unlinks every namespace in one short transaction and the purger deletes
// their rows. From the Clear's start to the end of the purge, single Sets
// of a namespace of their own go on: several start and end meanwhile, and
// the longest waits less than half of that time. When one statement
// deleted every entry, none could, and the longest waited all of it.
// The namespaces stay, empty, with their declared indexes, which index
// what is written after.
func TestUnlinkAllYieldsWriter(t *testing.T) {
	n := unlinkSize(t)
	const spread = 4
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			defer s.Close()
			ctx := t.Context()
			for i := range spread {
				fillIndexed(t, s, "big"+strconv.Itoa(i), n/spread)
			}
			checkYields(t, s, fmt.Sprintf("Clear of every namespace, %d entries in %d namespaces", n, spread),
				func() error { return s.Clear(ctx) })
			exactIndexRows(t, s, "after the purge")
			for i := range spread {
				in := storage.InNamespace("big" + strconv.Itoa(i))
				if k, err := s.Count(ctx, in); err != nil || k != 0 {
					t.Errorf("big%d: Count after Clear %d, %v; want 0", i, k, err)
				}
				if d := nsIndexes(t, s, "big"+strconv.Itoa(i)); !slices.Equal(d, []string{"age", "city"}) && !slices.Equal(d, []string{"city", "age"}) {
					t.Errorf("big%d: declared %v after Clear, want city and age", i, d)
				}
				must(t, s.Set(ctx, "new", map[string]any{"city": "cz", "age": 200}, in))
				if r, err := s.Query(ctx, storage.Eq("city", "cz"), in); err != nil || len(r.Entries) != 1 {
					t.Errorf("big%d: Query(city = cz) after Clear and a Set: %d entries, %v; want 1", i, len(r.Entries), err)
				}
			}
			exactIndexRows(t, s, "after new Sets")
		})
	}
}

// TestUnlinkAllRacingWrites: a Clear of every namespace racing with
// single Sets of new keys in several namespaces (each Set's revision
// reported by Written) leaves a consistent state: a key set before the
// Clear's clear changes (a lower revision) is gone, one set after is there
// with its revision, Count agrees, and every failed Set failed with a
// typed error (a storage sentinel). The clear changes are one run of
// consecutive revisions, one per namespace that had entries, in name
// order. Run before the purge and after it.
func TestUnlinkAllRacingWrites(t *testing.T) {
	const writers, each = 4, 150
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) {
			dsn := c.dsn(t)
			s := openTest(t, dsn, WithSweepInterval(-1), withPurgeChunk(100))
			defer s.Close()
			ctx := t.Context()
			// s2, on the same file or database, caches the namespaces' ids
			// before the Clear (Count, Has): it must not read unlinked rows
			// by them.
			s2 := openTest(t, dsn, WithSweepInterval(-1))
			defer s2.Close()
			for i := range writers {
				fillIndexed(t, s, "w"+strconv.Itoa(i), 500)
				in := storage.InNamespace("w" + strconv.Itoa(i))
				if k, err := s2.Count(ctx, storage.Where(storage.Eq("city", "c1")), in); err != nil || k != 10 {
					t.Fatalf("store 2: Count(w%d, city = c1) before: %d, %v", i, k, err)
				}
				if ok, err := s2.Has(ctx, "k000001", in); err != nil || !ok {
					t.Fatalf("store 2: Has(w%d, k000001) before: %v, %v", i, ok, err)
				}
			}
			type set struct {
				ns, key string
				rev     int64
			}
			var mu sync.Mutex
			var done []set
			var wg sync.WaitGroup
			cleared := make(chan struct{})
			for i := range writers {
				ns := "w" + strconv.Itoa(i)
				wg.Go(func() {
					for j := range each {
						if j == each/3 {
							<-cleared
						}
						key := fmt.Sprintf("r%04d", j)
						var w storage.WriteResult
						err := s.Set(ctx, key, map[string]any{"city": "c1", "age": j}, storage.InNamespace(ns), storage.Written(&w))
						if err != nil {
							if !typedErr(err) {
								t.Errorf("Set %s/%s: untyped error %v", ns, key, err)
							}
							continue
						}
						mu.Lock()
						done = append(done, set{ns, key, w.Revision})
						mu.Unlock()
					}
				})
			}
			time.Sleep(20 * time.Millisecond)
			if err := s.Clear(ctx); err != nil {
				t.Fatalf("Clear: %v", err)
			}
			close(cleared)
			wg.Wait()

			var first, last, nclear int64
			var names []string
			must(t, s.eng.reader().queryRows(ctx, `SELECT revision, namespace FROM changes WHERE kind = 'clear' ORDER BY revision`, nil,
				func(r rowScanner) error {
					var rev int64
					var name string
					if err := r.Scan(&rev, &name); err != nil {
						return err
					}
					if nclear == 0 {
						first = rev
					} else if rev != last+1 {
						t.Errorf("clear changes not consecutive: %d after %d", rev, last)
					}
					last = rev
					nclear++
					names = append(names, name)
					return nil
				}))
			if want := []string{"w0", "w1", "w2", "w3"}; !slices.Equal(names, want) {
				t.Errorf("clear changes for %v, want %v", names, want)
			}
			check := func(step string) {
				t.Helper()
				present := map[string]int64{}
				for _, d := range done {
					in := storage.InNamespace(d.ns)
					e, err := s.Get(ctx, d.key, in)
					switch {
					case d.rev >= first && d.rev <= last:
						t.Errorf("%s: Set %s/%s took revision %d, inside the clear's %d..%d", step, d.ns, d.key, d.rev, first, last)
					case d.rev < first:
						if !errors.Is(err, storage.ErrNotFound) {
							t.Errorf("%s: %s/%s set at %d, before the clear at %d: Get %v, want ErrNotFound", step, d.ns, d.key, d.rev, first, err)
						}
					default:
						present[d.ns]++
						if err != nil || e.Revision != d.rev {
							t.Errorf("%s: %s/%s set at %d, after the clear at %d: Get revision %d, %v", step, d.ns, d.key, d.rev, last, e.Revision, err)
						}
					}
				}
				for i := range writers {
					ns := "w" + strconv.Itoa(i)
					for j, st := range []*Store{s, s2} {
						if k, err := st.Count(ctx, storage.InNamespace(ns)); err != nil || k != present[ns] {
							t.Errorf("%s, store %d: Count(%s) %d, %v; want %d", step, j+1, ns, k, err, present[ns])
						}
						if k, err := st.Count(ctx, storage.Where(storage.Eq("city", "c1")), storage.InNamespace(ns)); err != nil || k != present[ns] {
							t.Errorf("%s, store %d: Count(%s, city = c1) %d, %v; want %d", step, j+1, ns, k, err, present[ns])
						}
						if ok, err := st.Has(ctx, "k000001", storage.InNamespace(ns)); err != nil || ok {
							t.Errorf("%s, store %d: Has(%s, k000001) %v, %v; want false", step, j+1, ns, ok, err)
						}
						if r, err := st.Query(ctx, storage.Gte("age", 0), storage.InNamespace(ns)); err != nil || int64(len(r.Entries)) != present[ns] {
							t.Errorf("%s, store %d: Query(%s, age >= 0) %d entries, %v; want %d", step, j+1, ns, len(r.Entries), err, present[ns])
						}
					}
				}
				t.Logf("%s: %d Sets, %d after the clear (revisions %d..%d)", step, len(done), present["w0"]+present["w1"]+present["w2"]+present["w3"], first, last)
			}
			check("before the purge")
			waitPurged(t, s)
			check("after the purge")
			exactIndexRows(t, s, "after the purge")
		})
	}
}

// typedErr reports whether err is one of the storage sentinels.
func typedErr(err error) bool {
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
