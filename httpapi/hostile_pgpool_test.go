package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// hCarol reads and writes "shared" and begins transactions, as alice does.
const hCarol = "h-carol-token-0123456789"

// carolAuth is hostileAuth with carol.
var carolAuth = strings.TrimSuffix(strings.TrimSpace(hostileAuth), "]}") + `,
	{"token":"` + hCarol + `","pkr":"carol-pk",
	 "profiles":[{"name":"shared","scopes":{"storage://namespace/shared":"rw","storage://transactions":"rw"}}]}
]}`

// TestHostilePostgresPool (the reads that last cannot keep another
// principal's point reads, writes and /readyz waiting for PostgreSQL's
// pool): the server configured as cmd/storeserver configures it (4
// transactions per principal; a quarter of the pool, at least 5, of
// requests in the store, half of them, at least 2, scans), on a log of
// 100,000 changes. Each hostile principal holds its 4 read-only
// transactions, each running a count no index serves over and over, 16
// watches from the start of the log with a filter no change passes, and
// its 4 requests at once, each such a count. Bob's get, set and /readyz
// meanwhile must each be served at once. The principals' reads at their
// bounds ask more connections than the pool has when two principals
// (alice and carol) run them beside a pool of 8 (6 transactions, the
// most the pool allows, 1 watch read, 2 counts; carol's Begins beyond
// the sixth are refused, 429): before the point reads
// and the writes had lanes of their own (sqlstore's pgPoints), bob's
// get waited 2.8 s (median; 3.0 s at worst) and /readyz 4.0 s (4.3 s)
// beside counts of 1.7 s each (2.2 s, 3.6 s and 4.2 s, 4.6 s under the
// race detector, counts of 1.4 s); after, 2 ms (23 ms) and 6 ms (0.1 s).
// Alice alone, or beside a pool of 32, asks fewer connections than the
// pool has, and bob waited no more before than after (0.05 s to 0.3 s at
// worst), so those run no more here.
func TestHostilePostgresPool(t *testing.T) {
	for _, c := range []struct {
		name    string
		pool    int
		hostile []string
	}{
		{"pool8-alice-carol", 8, []string{hAlice, hCarol}},
	} {
		t.Run(c.name, func(t *testing.T) {
			inStore := max(c.pool/4, httpapi.DefaultMaxRequestsInStore) // cmd/storeserver's requestsInStore
			cfg := httpapi.Config{MaxRequestsInStore: inStore, MaxScansInStore: max(inStore/2, httpapi.DefaultMaxScansInStore)}
			s := newServerAuth(t, testdb.Postgres(t, "hostile", "pool_max_conns", strconv.Itoa(c.pool)), carolAuth, cfg,
				sqlstore.WithMaxTxPerActor(4))
			// 20,000 entries written five times, under the race detector
			// too (fillScanned writes a tenth there): the reads' cost is
			// the database's.
			items := make([]storage.Item, 20_000)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("r%05d", i), Value: map[string]any{"n": i, "s": "some text to store"}}
			}
			for range 5 {
				if res, err := s.inner.SetMany(t.Context(), items, storage.InNamespace("shared")); err != nil || !res.OK() {
					t.Fatalf("SetMany: %v %v", err, res.Err())
				}
			}
			scan := heavyScan(100)
			alone := s.median(t, 3, "get", hBob, scanGet)
			per := s.median(t, 1, "count", hAlice, scan)
			where := strings.TrimSuffix(strings.TrimPrefix(scan, `{"options":{"namespace":"shared","where":`), `}}`)

			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			loop := func(tok, body string) {
				wg.Go(func() {
					for ctx.Err() == nil {
						if st, err := s.try(ctx, "count", tok, body); st != 200 && ctx.Err() == nil {
							t.Errorf("hostile count = %d %v", st, err)
							return
						}
					}
				})
			}
			for _, tok := range c.hostile {
				for range 4 {
					// Up to the most the pool allows (txCapacity): then 429.
					st, env := s.call(t, "beginTransaction", tok, `{"options":{"readOnly":true}}`)
					if st == http.StatusTooManyRequests {
						break
					}
					if st != 200 {
						t.Fatalf("hostile beginTransaction = %d %+v", st, env.Error)
					}
					tx := env.TransactionID
					loop(tok, strings.Replace(scan, `"namespace":"shared"`, `"namespace":"shared","transactionId":"`+tx+`"`, 1))
				}
				for range httpapi.DefaultMaxStreamsPerPrincipal {
					st, env, end := s.openWatch(t, tok, `{"options":{"namespace":"shared","fromRevision":0,"where":`+where+`}}`)
					if st != 200 {
						t.Fatalf("hostile watch = %d %+v", st, env.Error)
					}
					defer end()
				}
				for range httpapi.DefaultMaxRequestsPerPrincipal {
					loop(tok, scan)
				}
			}
			time.Sleep(per / 2)
			var gets, sets, ready []time.Duration
			for end := time.Now().Add(3 * per); time.Now().Before(end) || len(gets) < 5; {
				st, env, d := s.timed(t, "get", hBob, scanGet)
				if st != 200 {
					t.Errorf("bob's get = %d %+v", st, env.Error)
				}
				gets = append(gets, d)
				st, env, d = s.timed(t, "set", hBob, `{"key":"bob","value":1,"options":{"namespace":"shared"}}`)
				if st != 200 {
					t.Errorf("bob's set = %d %+v", st, env.Error)
				}
				sets = append(sets, d)
				start := time.Now()
				resp, err := http.Get(s.URL + httpapi.ReadyPath)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("/readyz = %d", resp.StatusCode)
				}
				ready = append(ready, time.Since(start))
				time.Sleep(20 * time.Millisecond)
			}
			limit := per/2 + 10*alone + 300*time.Millisecond
			for _, m := range []struct {
				what string
				lat  []time.Duration
			}{{"get", gets}, {"set", sets}, {"/readyz", ready}} {
				slices.Sort(m.lat)
				longest := m.lat[len(m.lat)-1]
				t.Logf("bob's %s beside %d hostile principals' reads (pool %d; a count %v alone; bob's get %v alone): %d calls, median %v, longest %v",
					m.what, len(c.hostile), c.pool, per.Round(time.Millisecond), alone.Round(time.Microsecond), len(m.lat),
					m.lat[len(m.lat)/2].Round(time.Millisecond), longest.Round(time.Millisecond))
				if longest > limit {
					t.Errorf("bob's %s took %v, more than %v: it waited for the hostile reads (a count %v)", m.what, longest, limit, per)
				}
			}
		})
	}
}
