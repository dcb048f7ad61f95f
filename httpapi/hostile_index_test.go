package httpapi_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
)

// fillOwn writes n entries (keys k0000000 on, values with the fields n,
// f, g and h) into namespace ns of the store under s, 1000 a batch.
func (s *testServer) fillOwn(t *testing.T, ns string, n int) {
	t.Helper()
	items := make([]storage.Item, 1000)
	for b := 0; b < n; b += len(items) {
		for i := range items {
			k := b + i
			items[i] = storage.Item{Key: fmt.Sprintf("k%07d", k),
				Value: map[string]any{"n": k, "f": k % 97, "g": k % 13, "h": fmt.Sprintf("h%d", k%1000)}}
		}
		if res, err := s.inner.SetMany(t.Context(), items, storage.InNamespace(ns)); err != nil || !res.OK() {
			t.Fatalf("SetMany: %v %v", err, res.Err())
		}
	}
}

// TestHostileIndexBuilds (one principal's index builds cannot keep
// another's writes waiting): alice fills a namespace of her own and runs
// her bound of requests at once (DefaultMaxRequestsPerPrincipal, 4), each
// a createIndex of another field of it, then as many dropIndex; each
// reads (drops) a row per entry, and beside the others lasts seconds. Bob's
// sets of one entry in his own namespace meanwhile must each be served
// about as soon as alone. Before createIndex and dropIndex counted apart
// from the writes (one at a time in the store), three of her builds held
// every write's place (Config.MaxWritesInStore, 3) and bob's set waited
// for the first of them to end: 10.6 s (SQLite) and 15.3 s (PostgreSQL)
// beside her builds over 300,000 entries (1.1 s and 6.9 s each alone),
// and here, over 50,000 entries, 1.5 s and 3.3 s (a build 0.15 s and
// 2.9 s alone, loaded machine); now 45 ms and 40 ms. Her builds then
// take turns: under the race detector, where SQLite builds ten times
// slower, 10,000 entries, so that her last one's turn comes within
// Config.Timeout.
func TestHostileIndexBuilds(t *testing.T) {
	const (
		own  = "principal://alice-pk/namespace/big"
		bobs = `"options":{"namespace":"principal://bob-pk/namespace/mine"}`
	)
	entries := 50_000
	if raceEnabled {
		entries = 10_000
	}
	fields := []string{"n", "f", "g", "h"}
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			s.fillOwn(t, own, entries)
			set := `{"key":"b","value":1,` + bobs + `}`
			alone := s.median(t, 5, "set", hBob, set)
			// One build alone, and its drop.
			st, env, per := s.timed(t, "createIndex", hAlice, `{"name":"`+own+`","field":"n"}`)
			if st != 200 {
				t.Fatalf("alice's createIndex = %d %+v", st, env.Error)
			}
			s.must(t, "dropIndex", hAlice, `{"name":"`+own+`","field":"n"}`)
			for _, op := range []string{"createIndex", "dropIndex"} {
				var wg sync.WaitGroup
				done := make(chan struct{})
				for _, f := range fields {
					wg.Go(func() {
						if st, env, d := s.timed(t, op, hAlice, `{"name":"`+own+`","field":"`+f+`"}`); st != 200 {
							t.Errorf("alice's %s of %s = %d %+v after %v", op, f, st, env.Error, d)
						}
					})
				}
				go func() { wg.Wait(); close(done) }()
				// Hers are in the store, and at work.
				time.Sleep(per / 10)
				var lat []time.Duration
				for running := true; running || len(lat) < 5; {
					st, env, d := s.timed(t, "set", hBob, set)
					if st != 200 {
						t.Errorf("bob's set = %d %+v", st, env.Error)
					}
					lat = append(lat, d)
					select {
					case <-done:
						running = false
					case <-time.After(20 * time.Millisecond):
					}
				}
				<-done
				slices.Sort(lat)
				longest := lat[len(lat)-1]
				t.Logf("bob's set: alone %v; beside alice's %d %s of %d entries (a build %v alone): %d sets, median %v, longest %v",
					alone.Round(time.Microsecond), len(fields), op, entries, per.Round(time.Millisecond), len(lat),
					lat[len(lat)/2].Round(time.Millisecond), longest.Round(time.Millisecond))
				if limit := per/2 + 10*alone + 100*time.Millisecond; longest > limit {
					t.Errorf("bob's set took %v beside alice's %s, more than %v: he waited for hers (a build %v alone)", longest, op, limit, per)
				}
			}
		})
	}
}
