package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// heavyScan is the body of a count that reads every entry of "shared"
// (fillScanned) and tests each against leaves string leaves, none of
// which matches: its cost grows with the namespace and the filter, not
// with its answer, up to Config.Timeout.
func heavyScan(leaves int) string {
	var b strings.Builder
	b.WriteString(`{"options":{"namespace":"shared","where":{"or":[`)
	for l := range leaves {
		if l > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"field":"s","operator":"endsWith","value":"no such text %d"}`, l)
	}
	b.WriteString(`]}}}`)
	return b.String()
}

// scanGet is bob's get of one entry of "shared".
const scanGet = `{"key":"r00001","options":{"namespace":"shared"}}`

// newScanServer starts the hostile stack on a fresh store at dsn with the
// entries of fillScanned, and returns alice's scan (heavyScan), the
// median time of bob's get alone and of her scan alone.
func newScanServer(t *testing.T, dsn string) (s *testServer, scan string, alone, per time.Duration) {
	t.Helper()
	s = newHostileServer(t, dsn, httpapi.Config{})
	s.fillScanned(t)
	scan = heavyScan(10)
	alone = s.median(t, 5, "get", hBob, scanGet)
	per = s.median(t, 3, "count", hAlice, scan)
	return s, scan, alone, per
}

// TestHostileScans (one principal's slow scans cannot keep another's
// reads waiting): alice runs her bound of requests at once
// (DefaultMaxRequestsPerPrincipal, 4), each a count whose filter no index
// serves, which reads every entry of the namespace, as a query sorted on
// an unindexed field or with a huge offset does; such a scan may take up
// to Config.Timeout. Bob's get of one entry, sent just after hers, must
// be served at once, not after them. Before the bound on scans in the
// store (Config.MaxScansInStore), her four held all four of SQLite's
// readers (all four connections of the PostgreSQL pool here), and bob's
// get waited for the first of them to end: 26 s beside her queries
// sorted on eight unindexed fields over 200,000 entries (SQLite, loaded
// machine), 28 s beside her counts on PostgreSQL, where one of them ran
// out its 30 s timeout; here, 0.9 of one of her counts. The bound is
// relative to what one of her counts costs alone, measured in the same
// run.
func TestHostileScans(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s, scan, alone, per := newScanServer(t, c.DSN(t))
			var lat []time.Duration
			for range 3 {
				var wg sync.WaitGroup
				for range httpapi.DefaultMaxRequestsPerPrincipal {
					wg.Go(func() {
						if st, env, d := s.timed(t, "count", hAlice, scan); st != 200 {
							t.Errorf("alice's count = %d %+v after %v", st, env.Error, d)
						}
					})
				}
				// Hers are in the store, and at work.
				time.Sleep(per / 10)
				st, env, d := s.timed(t, "get", hBob, scanGet)
				if st != 200 {
					t.Errorf("bob's get = %d %+v", st, env.Error)
				}
				lat = append(lat, d)
				wg.Wait()
			}
			slices.Sort(lat)
			med := lat[len(lat)/2]
			t.Logf("bob's get: alone %v, beside alice's %d scans (%v each alone): %v (median of %v)",
				alone.Round(time.Microsecond), httpapi.DefaultMaxRequestsPerPrincipal, per.Round(time.Millisecond), med.Round(time.Millisecond), lat)
			if limit := per/4 + 10*alone + 50*time.Millisecond; med > limit {
				t.Errorf("bob's get took %v (median) beside alice's scans, more than %v: he waited for hers (%v each)", med, limit, per)
			}
		})
	}
}

// bobGets runs bob's gets of scanGet one after another, 20 ms apart, for
// d and at least 10 of them, and returns their times, sorted.
func (s *testServer) bobGets(t *testing.T, d time.Duration) []time.Duration {
	t.Helper()
	var lat []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end) || len(lat) < 10; {
		st, env, d := s.timed(t, "get", hBob, scanGet)
		if st != 200 {
			t.Errorf("bob's get = %d %+v", st, env.Error)
		}
		lat = append(lat, d)
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(lat)
	return lat
}

// TestHostileWideFilters (every filter within the documented bounds gets
// an answer, never internal): an and or or list of nearly
// storage.MaxFilterNodes leaves, and lists nested storage.MaxFilterDepth
// deep, are counted on both dialects. Before, SQLite refused an or of
// 999 leaves ("Expression tree is too large (maximum depth 1000)": the
// list was one chain of ORs, a tree 999 deep), and the caller got 500
// internal.
func TestHostileWideFilters(t *testing.T) {
	leaves := func(n int, leaf func(i int) string) string {
		l := make([]string, n)
		for i := range l {
			l[i] = leaf(i)
		}
		return strings.Join(l, ",")
	}
	eq := func(i int) string { return fmt.Sprintf(`{"field":"n","operator":"eq","value":%d}`, i) }
	ne := func(i int) string { return fmt.Sprintf(`{"field":"n","operator":"ne","value":%d}`, i) }
	contains := func(i int) string {
		return fmt.Sprintf(`{"field":"s","operator":"contains","value":"%s %d"}`, strings.Repeat("q", 100), i)
	}
	// nested is levels and lists, each of width-1 leaves and the next.
	nested := func(levels, width int, comb string, leaf func(i int) string) string {
		f := `{"` + comb + `":[` + leaves(width-1, leaf) + `]}`
		for range levels - 1 {
			f = `{"` + comb + `":[` + leaves(width-1, leaf) + `,` + f + `]}`
		}
		return f
	}
	wide := 999 // with its or: storage.MaxFilterNodes
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			// What is asked here is an answer, never internal, not its
			// speed: under -race, SQLite's statements of ~1000 terms take
			// 3-21 s each (modernc's C compiled to instrumented Go), which
			// on a loaded machine met the default Timeout of 30 s (504).
			s := newHostileServer(t, c.DSN(t), httpapi.Config{Timeout: wideFilterTimeout})
			s.must(t, "setMany", hAdmin, `{"options":{"namespace":"shared"},"entries":[
				{"key":"a","value":{"n":5,"s":"text"}},{"key":"b","value":{"n":2000,"s":"text"}}]}`)
			for _, f := range []struct {
				name, where, count string
			}{
				{"or of eq", `{"or":[` + leaves(wide, eq) + `]}`, "1"},
				{"and of ne", `{"and":[` + leaves(wide, ne) + `]}`, "1"},
				{"or of contains", `{"or":[` + leaves(wide, contains) + `]}`, "0"},
				{"not of or", `{"not":{"or":[` + leaves(wide-1, eq) + `]}}`, "1"},
				{"nested and", nested(31, 31, "and", ne), "1"},
				{"nested or", nested(31, 31, "or", eq), "1"},
			} {
				body := `{"options":{"namespace":"shared","where":` + f.where + `}}`
				st, data := s.raw(t, "count", hAlice, body)
				if st != 200 || !strings.Contains(string(data), `"count":`+f.count+`}`) {
					t.Errorf("count %s = %d %.300s, want count %s", f.name, st, data, f.count)
				}
				body = `{"filter":` + f.where + `,"options":{"namespace":"shared"}}`
				if st, data := s.raw(t, "query", hAlice, body); st != 200 {
					t.Errorf("query %s = %d %.300s", f.name, st, data)
				}
				// A watch from the start reads the log at once: its first
				// line after the head is the namespace's creation, which
				// every filter passes, not an error (SQLite's contains
				// was corrupt: the filter named the entries table, which
				// the watch's read of the log did not have).
				if line := s.watchSecondLine(t, hAlice, `{"options":{"namespace":"shared","fromRevision":0,"where":`+f.where+`}}`); !strings.Contains(line, `"type":"namespace_create"`) {
					t.Errorf("watch %s: %.300s after its head, want the namespace's creation", f.name, line)
				}
			}
			// More values in all than storage.MaxFilterValues (80 in
			// lists of storage.MaxInValues, each within the bounds of a
			// leaf): more parameters than either database takes, which
			// failed with the driver's text, 500 internal.
			in := func(i int) string {
				vals := make([]string, storage.MaxInValues)
				for j := range vals {
					vals[j] = fmt.Sprint(i*storage.MaxInValues + j)
				}
				return `{"field":"n","operator":"in","value":[` + strings.Join(vals, ",") + `]}`
			}
			many := `{"or":[` + leaves(80, in) + `]}`
			s.refused(t, "count", hAlice, `{"options":{"namespace":"shared","where":`+many+`}}`, 400, routes.CodeInvalidFilter)
			s.refused(t, "query", hAlice, `{"filter":`+many+`,"options":{"namespace":"shared"}}`, 400, routes.CodeInvalidFilter)
			if st, env, cancel := s.openWatch(t, hAlice, `{"options":{"namespace":"shared","where":`+many+`}}`); st != 400 || env.code() != routes.CodeInvalidFilter {
				cancel()
				t.Errorf("watch of %d values = %d %+v, want 400 %s", 80*storage.MaxInValues, st, env.Error, routes.CodeInvalidFilter)
			}
		})
	}
}

// wideFilterTimeout is TestHostileWideFilters' request timeout, and how
// long watchSecondLine waits.
const wideFilterTimeout = 5 * time.Minute

// watchSecondLine opens a watch as token and returns the line after its
// head ("" when none comes within wideFilterTimeout).
func (s *testServer) watchSecondLine(t testing.TB, token, body string) string {
	t.Helper()
	resp, cancel := s.watchRequest(t, token, body)
	defer func() { cancel(); _ = resp.Body.Close() }()
	got := make(chan string, 1)
	go func() {
		r := bufio.NewReader(resp.Body)
		head, _ := r.ReadString('\n')
		if resp.StatusCode != 200 {
			got <- head
			return
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "" {
				got <- strings.TrimSpace(line)
				return
			}
		}
	}()
	select {
	case line := <-got:
		return line
	case <-time.After(wideFilterTimeout):
		return ""
	}
}

// TestHostileWatchScans (one principal's watches cannot hold every
// reader): alice opens 8 watches (of the 16 streams she may hold) from
// the start of the log with a filter no change passes, so that each
// watch's first read goes through the whole log (20,000 changes) testing
// every change, as long as her count of the same filter or longer. Bob's
// gets meanwhile must each be served at once. Before the engine bounded the
// watch reads running at once (half of SQLite's readers), her reads held
// all four readers, and his get waited 9.4 s (SQLite; her count 4.8 s).
func TestHostileWatchScans(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s, scan, alone, per := newScanServer(t, c.DSN(t))
			where := strings.TrimSuffix(strings.TrimPrefix(scan, `{"options":{"namespace":"shared","where":`), `}}`)
			for range 8 {
				st, env, cancel := s.openWatch(t, hAlice, `{"options":{"namespace":"shared","fromRevision":0,"where":`+where+`}}`)
				if st != 200 {
					t.Fatalf("alice's watch = %d %+v", st, env.Error)
				}
				defer cancel()
			}
			// Bob's gets for as long as their first reads take at least
			// (8 of them, each as long as the count or longer), the
			// longest of them checked.
			lat := s.bobGets(t, 2*per)
			longest := lat[len(lat)-1]
			t.Logf("bob's get: alone %v, beside alice's 8 watches (a scan of the log costs about %v): %d gets, median %v, longest %v",
				alone.Round(time.Microsecond), per.Round(time.Millisecond), len(lat), lat[len(lat)/2].Round(time.Millisecond), longest.Round(time.Millisecond))
			if limit := per/2 + 10*alone + 100*time.Millisecond; longest > limit {
				t.Errorf("bob's get took %v beside alice's watches, more than %v: he waited for their reads (%v each)", longest, limit, per)
			}
		})
	}
}

// TestHostileTxScans (one principal's transactions and scans together
// cannot hold every reader): on SQLite alice opens three read-only
// transactions, the most the readers allow (three quarters of them),
// and runs in each, over and over, a count no index serves; calls on
// open transactions do not count under Config.MaxScansInStore, and her
// plain counts beside them do, two at once. Bob's gets meanwhile must
// each be served at once. Before the point reads had connections of
// their own, her transactions held three readers and her two counts
// took turns on the fourth, and bob's get waited for one of them to end:
// 7.2 s (median; her count 1.5 s alone).
func TestHostileTxScans(t *testing.T) {
	s, scan, alone, per := newScanServer(t, testdb.SQLiteFile(t))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	loop := func(body string) {
		wg.Go(func() {
			for ctx.Err() == nil {
				if st, err := s.try(ctx, "count", hAlice, body); st != 200 && ctx.Err() == nil {
					t.Errorf("alice's count = %d %v", st, err)
					return
				}
			}
		})
	}
	for range 3 {
		tx := s.must(t, "beginTransaction", hAlice, `{"options":{"readOnly":true}}`).TransactionID
		loop(strings.Replace(scan, `"namespace":"shared"`, `"namespace":"shared","transactionId":"`+tx+`"`, 1))
	}
	for range 2 {
		loop(scan)
	}
	// Hers are in the store, and at work.
	time.Sleep(per / 5)
	lat := s.bobGets(t, 3*per)
	med := lat[len(lat)/2]
	t.Logf("bob's get: alone %v, beside alice's 3 read-only transactions and 2 counts, all scanning (a count costs %v alone): %d gets, median %v, longest %v",
		alone.Round(time.Microsecond), per.Round(time.Millisecond), len(lat), med.Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	if limit := per/4 + 10*alone + 50*time.Millisecond; med > limit {
		t.Errorf("bob's get took %v (median) beside alice's transactions and counts, more than %v: he waited for her scans (%v each)", med, limit, per)
	}
	// The server's readiness (/readyz runs the store's Status) is answered
	// as his gets are. Before Status ran on the point reads' lane it
	// waited for a reader: 5.7 s (median of 5; longest 19 s) beside counts
	// of 0.28 s alone; 4 ms after.
	var ready []time.Duration
	for range 5 {
		start := time.Now()
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		ready = append(ready, time.Since(start))
		if resp.StatusCode != 200 {
			t.Errorf("/readyz beside alice's transactions and counts = %d", resp.StatusCode)
		}
	}
	slices.Sort(ready)
	t.Logf("/readyz beside them: median %v, longest %v", ready[2].Round(time.Millisecond), ready[4].Round(time.Millisecond))
	if limit := per/4 + 10*alone + 50*time.Millisecond; ready[2] > limit {
		t.Errorf("/readyz took %v (median) beside alice's transactions and counts, more than %v: Status waited for her scans (%v each)", ready[2], limit, per)
	}
}

// watchEvents opens a watch stream as token and returns its lines after
// the head, one string each, until the stream ends; cancel ends it.
func (s *testServer) watchEvents(t testing.TB, token, body string) (<-chan string, context.CancelFunc) {
	t.Helper()
	resp, cancel := s.watchRequest(t, token, body) //nolint:bodyclose // closed on a refusal, or when the stream ends
	if resp.StatusCode != 200 {
		_ = resp.Body.Close()
		cancel()
		t.Fatalf("watch: %d", resp.StatusCode)
	}
	lines := make(chan string, 64)
	r := bufio.NewReader(resp.Body)
	if _, err := r.ReadBytes('\n'); err != nil {
		t.Fatalf("watch: reading its head: %v", err)
	}
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line = strings.TrimSpace(line); line != "" {
				lines <- line
			}
		}
	}()
	return lines, cancel
}

// TestHostileWatchReads (one principal's watches cannot keep another's
// events waiting): alice holds 15 watch streams, each from the start of
// a log of 80,000 changes (20,000 entries written four times) with a
// filter no change passes, and opens each again after as long as her
// count of the namespace takes; bob watches "shared" and sets a key: his
// event must reach him about as soon as it does alone. Before each watch
// read stopped after a window of revisions, one read went through the
// whole log, holding one of the places among the watch reads for as
// long, and bob's watch waited for it: his event came 1.2 s after his set
// (SQLite; her count 1.1 s), 0.1 s to 0.2 s after. On PostgreSQL, whose
// reads of this log are shorter, the difference stayed within the noise
// of a loaded machine (0.6 s before, 0.3 s to 0.7 s after), so it runs
// on the SQLite file only.
//
// Under the race detector too, since the store shares the places among
// the watch reads fairly among principals (round-robin, sqlstore's
// readGate): before, each of her reads was bounded, but the reads of her
// 15 watches and his waited for the same places in arrival order, so his
// waited for all of hers: his event came 1.25 s after his set beside her
// counts of 1.3 s (CI rehearsal), 1.7 s and 1.9 s beside 1.8 s (loaded
// machine, load 6), against bounds of 0.77 s and 1.05 s. With the places
// shared in turn it waits for about one read of hers: 0.21 s to 0.33 s
// beside counts of 1.0 s to 1.1 s (bounds 0.6 s to 0.7 s); 17 ms without
// the race detector (bound 0.23 s). The bound scales with her count,
// which the race detector slows as much as the reads.
func TestHostileWatchReads(t *testing.T) {
	for _, c := range hostileConfigs[:1] { // SQLite file; see above
		t.Run(c.Name, func(t *testing.T) {
			s, scan, alone, per := newScanServer(t, c.DSN(t))
			// The log: the entries written four times over.
			for range 3 {
				s.fillScanned(t)
			}
			where := strings.TrimSuffix(strings.TrimPrefix(scan, `{"options":{"namespace":"shared","where":`), `}}`)
			events, end := s.watchEvents(t, hBob, `{"options":{"namespace":"shared"}}`)
			defer end()
			// lag is how long bob's next event takes to reach him.
			n := 0
			lag := func() time.Duration {
				start := time.Now()
				s.must(t, "set", hBob, fmt.Sprintf(`{"key":"bob%d","value":%d,"options":{"namespace":"shared"}}`, n, n))
				want := fmt.Sprintf(`"key":"bob%d"`, n)
				n++
				for {
					select {
					case line, ok := <-events:
						if !ok {
							t.Fatal("bob's watch ended")
						}
						if strings.Contains(line, want) {
							return time.Since(start)
						}
					case <-time.After(time.Minute):
						t.Fatalf("bob's event %d did not come in a minute", n-1)
					}
				}
			}
			var lat []time.Duration
			for range 5 {
				lat = append(lat, lag())
			}
			slices.Sort(lat)
			lagAlone := lat[len(lat)/2]
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			for range httpapi.DefaultMaxStreamsPerPrincipal - 1 {
				wg.Go(func() {
					for ctx.Err() == nil {
						st, env, end := s.openWatch(t, hAlice, `{"options":{"namespace":"shared","fromRevision":0,"where":`+where+`}}`)
						if st == http.StatusTooManyRequests {
							// The stream just ended is not yet counted out.
							time.Sleep(10 * time.Millisecond)
							continue
						}
						if st != 200 {
							t.Errorf("alice's watch = %d %+v", st, env.Error)
							return
						}
						select {
						case <-ctx.Done():
						case <-time.After(per):
						}
						end()
					}
				})
			}
			time.Sleep(per / 5)
			lat = lat[:0]
			for range 7 {
				lat = append(lat, lag())
			}
			slices.Sort(lat)
			med := lat[len(lat)/2]
			t.Logf("bob's event: alone %v; beside alice's %d watches reading the log (a count of the namespace, a quarter of the log, costs %v; bob's get %v): median %v, longest %v",
				lagAlone.Round(time.Millisecond), httpapi.DefaultMaxStreamsPerPrincipal-1, per.Round(time.Millisecond), alone.Round(time.Microsecond), med.Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
			if limit := per/2 + 4*lagAlone + 100*time.Millisecond; med > limit {
				t.Errorf("bob's event came %v (median) after his set, more than %v: his watch waited for alice's reads of the log (4 times %v)", med, limit, per)
			}
		})
	}
}

// TestHostileTxHold (a busy transaction cannot hold the writer past the
// contended maximum hold): alice writes in a transaction, then runs in
// it a count no index serves, for seconds; bob's set waits for the
// writer (SQLite's one writer, PostgreSQL's revision lock her write
// took). The store rolls back a transaction that holds what another
// writer waits for longer than WithTxContendedMaxHold (here 1 s; 5 s
// in cmd/storeserver), however busy: her count must end there, with
// tx_done, and bob's set go through. Before, the rollback waited for her
// count to end, and bob's set waited as long: 21 s beside her counts of
// 8 s each, one after another, with the 5 s hold of cmd/storeserver
// (SQLite, loaded machine).
func TestHostileTxHold(t *testing.T) {
	const hold = time.Second
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{}, sqlstore.WithTxContendedMaxHold(hold))
			s.fillScanned(t)
			// Her count lasts four holds at least. Where the most leaves
			// a filter may hold count faster (PostgreSQL under the race
			// detector in CI: 640 leaves in 0.7 s to 1.5 s, against
			// 6 s on SQLite), the attack cannot be built, and the test
			// says so instead of passing.
			var scan string
			var per time.Duration
			for leaves := 10; per < 4*hold; leaves *= 2 {
				if leaves > 640 {
					t.Skipf("her count of %d leaves takes %v, less than four holds: no attack to measure on this server", leaves/2, per)
				}
				scan = heavyScan(leaves)
				per = s.median(t, 1, "count", hAlice, scan)
			}
			set := `{"key":"b","value":1,"options":{"namespace":"shared"}}`
			alone := s.median(t, 3, "set", hBob, set)
			tx := s.must(t, "beginTransaction", hAlice, `{}`).TransactionID
			s.must(t, "set", hAlice, `{"key":"a","value":1,"options":{"namespace":"shared","transactionId":"`+tx+`"}}`)
			done := make(chan struct{})
			go func() {
				defer close(done)
				st, env, d := s.timed(t, "count", hAlice, strings.Replace(scan, `"namespace":"shared"`, `"namespace":"shared","transactionId":"`+tx+`"`, 1))
				t.Logf("alice's count in her transaction = %d %+v after %v", st, env.Error, d)
				if st == 200 || st == 500 {
					t.Errorf("alice's count in her transaction = %d %+v after %v; want it rolled back (tx_done)", st, env.Error, d)
				}
			}()
			time.Sleep(per / 10)
			st, env, d := s.timed(t, "set", hBob, set)
			<-done
			if st != 200 {
				t.Errorf("bob's set = %d %+v", st, env.Error)
			}
			t.Logf("bob's set: alone %v, beside alice's transaction counting (%v alone) after a write: %v", alone.Round(time.Microsecond), per.Round(time.Millisecond), d.Round(time.Millisecond))
			if limit := 2*hold + 10*alone + 100*time.Millisecond; d > limit {
				t.Errorf("bob's set took %v beside alice's busy transaction, more than %v: the %v hold did not end her count", d, limit, hold)
			}
		})
	}
}
