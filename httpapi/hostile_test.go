package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// The hostile-principal suite: what issue 15 found a hostile principal
// could do to a server, and what it tried that already held, run against
// the real stack (HTTP, routes, security, the engine) on every database.
// Each test states the rule it keeps.

// The principals of the hostile suite.
const (
	hAdmin  = "h-admin-token-0123456789"
	hAlice  = "h-alice-token-0123456789"
	hBob    = "h-bob-token-0123456789ab"
	hNobody = "h-nobody-token-012345678" // authenticated, granted nothing
)

// hostileAuth: admin holds everything; alice and bob read and write the
// plain namespace "shared" and may begin transactions; nobody holds no
// grant at all.
var hostileAuth = `{"principals":[
	{"token":"` + hAdmin + `","pkr":"admin-pk",
	 "profiles":[{"name":"all","scopes":{"storage://namespace/*":"rw","principal://*":"rw"}}]},
	{"token":"` + hAlice + `","pkr":"alice-pk",
	 "profiles":[{"name":"shared","scopes":{"storage://namespace/shared":"rw","storage://transactions":"rw"}}]},
	{"token":"` + hBob + `","pkr":"bob-pk",
	 "profiles":[{"name":"shared","scopes":{"storage://namespace/shared":"rw","storage://transactions":"rw"}}]},
	{"token":"` + hNobody + `","pkr":"nobody-pk","profiles":[]}
]}`

// newHostileServer starts the stack on a fresh store at dsn with the
// hostile principals.
func newHostileServer(t testing.TB, dsn string, cfg httpapi.Config, opts ...sqlstore.Option) *testServer {
	t.Helper()
	return newServerAuth(t, dsn, hostileAuth, cfg, opts...)
}

// hostileConfigs are the databases of the suite: a SQLite file and
// PostgreSQL with a pool of 4 connections, pgx's default on a small
// machine (the in-memory SQLite adds nothing over the file here).
var hostileConfigs = []testdb.Config{
	{Name: "sqlite-file", DSN: testdb.SQLiteFile},
	{Name: "postgres", DSN: func(t testing.TB) string {
		t.Helper()
		return testdb.Postgres(t, "hostile", "pool_max_conns", "4")
	}},
}

// must calls op as token and fails the test unless it succeeds.
func (s *testServer) must(t testing.TB, op, token, body string) envelope {
	t.Helper()
	st, env := s.call(t, op, token, body)
	if st != 200 || !env.Success {
		t.Fatalf("%s %s = %d %+v", op, body, st, env.Error)
	}
	return env
}

// refused calls op as token and checks the status and code.
func (s *testServer) refused(t testing.TB, op, token, body string, status int, code string) envelope {
	t.Helper()
	st, env := s.call(t, op, token, body)
	if st != status || env.Success || env.code() != code {
		t.Errorf("%s as %.8s %s = %d %+v; want %d %s", op, token, body, st, env.Error, status, code)
	}
	return env
}

// TestHostileLookupTransaction (issue 15, item 7): another principal's
// transaction answers lookupTransaction as it answers every other call on
// it, denied, with nothing of the transaction in the answer.
func TestHostileLookupTransaction(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			tx := s.must(t, "beginTransaction", hAlice, `{"options":{"isolation":"serializable","readOnly":true}}`).TransactionID
			body := `{"transactionId":"` + tx + `"}`
			s.must(t, "lookupTransaction", hAlice, body)
			for _, tok := range []string{hBob, hNobody, hAdmin} {
				env := s.refused(t, "lookupTransaction", tok, body, 403, routes.CodePermissionDenied)
				if env.TransactionID != "" || env.Error == nil || strings.Contains(env.Error.Message, "serializable") {
					t.Errorf("denied lookup reveals the transaction: %+v", env)
				}
				s.refused(t, "count", tok, `{"options":{"namespace":"shared","transactionId":"`+tx+`"}}`, 403, routes.CodePermissionDenied)
				s.refused(t, "commit", tok, body, 403, routes.CodePermissionDenied)
			}
			s.must(t, "rollback", hAlice, body)
		})
	}
}

// TestHostileDuplicateMembers (issue 15, item 8): a body two readers would
// understand differently is refused, and changes nothing.
func TestHostileDuplicateMembers(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			s.must(t, "set", hAlice, `{"key":"a","value":1,"options":{"namespace":"shared"}}`)
			before := s.snapshot(t)
			for _, tc := range []struct{ op, body string }{
				{"set", `{"key":"a","key":"b","value":2,"options":{"namespace":"shared"}}`},
				{"set", `{"key":"b","value":2,"options":{"namespace":"shared","namespace":"other"}}`},
				{"set", `{"key":"b","Key":"a","value":2,"options":{"namespace":"shared"}}`},
				{"delete", `{"key":"b","key":"a","options":{"namespace":"shared"}}`},
				{"setMany", `{"entries":[{"key":"b","value":2,"key":"a"}],"options":{"namespace":"shared"}}`},
				{"deleteMany", `{"keys":["zz"],"keys":["a"],"options":{"namespace":"shared"}}`},
				{"clear", `{"options":{"namespace":"nothing","namespace":"shared"}}`},
				{"createNamespace", `{"name":"x","name":"y"}`},
			} {
				s.refused(t, tc.op, hAdmin, tc.body, 400, routes.CodeInvalidRequest)
			}
			if after := s.snapshot(t); after != before {
				t.Errorf("refused requests changed the store:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// timed calls op and reports how long it took.
func (s *testServer) timed(t testing.TB, op, token, body string) (int, envelope, time.Duration) {
	t.Helper()
	start := time.Now()
	st, env := s.call(t, op, token, body)
	return st, env, time.Since(start)
}

// TestHostileTransactions (issue 15, item 1): transactions are a resource
// a principal cannot use to stall others. Beginning one needs
// storage://transactions; one principal holds at most its share; however
// many are open, the calls outside transactions still find a connection
// (PostgreSQL's pool, SQLite's readers); activity does not keep one alive
// past its lifetime; a read-only one on SQLite never takes the writer.
func TestHostileTransactions(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{Timeout: time.Second},
				sqlstore.WithMaxTxPerActor(2), sqlstore.WithTxMaxLifetime(4*time.Second))
			ns := `"options":{"namespace":"shared"}`

			// No grant, no transaction: read-only or not.
			s.refused(t, "beginTransaction", hNobody, `{}`, 403, routes.CodePermissionDenied)
			s.refused(t, "beginTransaction", hNobody, `{"options":{"readOnly":true}}`, 403, routes.CodePermissionDenied)

			// One principal's share: alice's third is refused, bob still
			// begins.
			var txs []string
			for range 2 {
				txs = append(txs, s.must(t, "beginTransaction", hAlice, `{"options":{"readOnly":true}}`).TransactionID)
			}
			s.refused(t, "beginTransaction", hAlice, `{"options":{"readOnly":true}}`, 429, routes.CodeTooManyTx)
			txs = append(txs, s.must(t, "beginTransaction", hBob, `{"options":{"readOnly":true}}`).TransactionID)

			// Three read-only transactions are open: on PostgreSQL three of
			// the four pooled connections, on SQLite three of the four
			// readers. A fourth waits for a place and gives up; reads and
			// writes outside transactions still run at once.
			if st, env, d := s.timed(t, "beginTransaction", hBob, `{"options":{"readOnly":true}}`); st != 429 || env.code() != routes.CodeTooManyTx {
				t.Errorf("a transaction beyond the connections it may hold = %d %+v after %v", st, env.Error, d)
			}
			for _, op := range []struct{ op, body string }{
				{"set", `{"key":"k","value":1,` + ns + `}`},
				{"get", `{"key":"k",` + ns + `}`},
				{"count", `{` + ns + `}`},
			} {
				// 504 after the 1 s timeout if they waited for a connection.
				if st, env, d := s.timed(t, op.op, hAdmin, op.body); st != 200 {
					t.Errorf("%s beside open transactions = %d %+v in %v", op.op, st, env.Error, d)
				}
			}
			for _, tx := range txs {
				s.must(t, "rollback", tokenOf(tx, txs, hAlice, hBob), `{"transactionId":"`+tx+`"}`)
			}

			// A read-write transaction kept busy is still rolled back at the
			// end of its lifetime.
			tx := s.must(t, "beginTransaction", hAlice, `{}`).TransactionID
			end := time.Now().Add(6 * time.Second)
			gone := false
			for time.Now().Before(end) && !gone {
				st, env := s.call(t, "count", hAlice, `{"options":{"namespace":"shared","transactionId":"`+tx+`"}}`)
				gone = st == 404 && env.code() == routes.CodeTxNotFound
				time.Sleep(100 * time.Millisecond)
			}
			if !gone {
				t.Error("a transaction touched every 100 ms outlived its 4 s lifetime")
			}
		})
	}
}

// tokenOf is the token of the principal that began txs[i] in
// TestHostileTransactions: alice the first two, bob the third.
func tokenOf(tx string, txs []string, alice, bob string) string {
	if tx == txs[len(txs)-1] {
		return bob
	}
	return alice
}

// TestHostileSQLiteReadOnlyTx (issue 15, item 1): on SQLite a read-only
// transaction never takes the writer, so writes outside it go on.
func TestHostileSQLiteReadOnlyTx(t *testing.T) {
	s := newHostileServer(t, testdb.SQLiteFile(t), httpapi.Config{Timeout: 2 * time.Second})
	tx := s.must(t, "beginTransaction", hAlice, `{"options":{"readOnly":true}}`).TransactionID
	s.must(t, "count", hAlice, `{"options":{"namespace":"shared","transactionId":"`+tx+`"}}`)
	if st, env, d := s.timed(t, "set", hBob, `{"key":"w","value":1,"options":{"namespace":"shared"}}`); st != 200 || d > time.Second {
		t.Errorf("a write beside a read-only transaction = %d %+v in %v", st, env.Error, d)
	}
	s.must(t, "rollback", hAlice, `{"transactionId":"`+tx+`"}`)
}

// TestHostileNumberExpansion (issue 15, item 2): numbers that PostgreSQL
// would store written out in full cannot turn a small write into a huge
// read. Both dialects refuse them alike (invalid_value, with the reason),
// and write nothing; numbers of any double's magnitude still go through.
func TestHostileNumberExpansion(t *testing.T) {
	many := func(n int, num string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(num+",", n), ",") + "]"
	}
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			before := s.snapshot(t)
			for _, v := range []string{many(500, "1e131071"), `{"n":1e-16000}`, many(200, "1e300")} {
				env := s.refused(t, "set", hAlice, `{"key":"k","value":`+v+`,"options":{"namespace":"principal://alice-pk"}}`, 400, routes.CodeInvalidValue)
				if env.Error != nil && !strings.Contains(env.Error.Message, "written out in full") {
					t.Errorf("the refusal does not say why: %q", env.Error.Message)
				}
				// A batch answers per key; the snapshot below shows it wrote
				// nothing.
				s.call(t, "setMany", hAlice, `{"entries":[{"key":"k","value":`+v+`}],"options":{"namespace":"principal://alice-pk"}}`)
			}
			s.refused(t, "setMetadata", hAdmin, `{"key":"k","metadata":{"m":1e20000}}`, 400, routes.CodeInvalidValue)
			if after := s.snapshot(t); after != before {
				t.Errorf("refused writes changed the store:\nbefore %s\nafter  %s", before, after)
			}
			// What passes reads back no larger than the bound.
			v := `[1.7976931348623157e308,5e-324,-1e300]`
			s.must(t, "set", hAlice, `{"key":"d","value":`+v+`,"options":{"namespace":"principal://alice-pk"}}`)
			got := s.must(t, "get", hAlice, `{"key":"d","options":{"namespace":"principal://alice-pk"}}`).Data
			if limit := storage.MaxNumberExpansion*len(v) + storage.NumberExpansionSlack; len(got) > limit {
				t.Errorf("read %d bytes for %d written, more than %d", len(got), len(v), limit)
			}
		})
	}
}

// TestHostileBytesInFlight (issue 15, item 10): large bodies sent at once
// cannot make the server hold more than MaxBytesInFlight: requests beyond
// it wait for room, then get 503 unavailable with their bodies unread, and
// are served again once the others are done.
func TestHostileBytesInFlight(t *testing.T) {
	const body = 256 << 10
	s := newHostileServer(t, testdb.SQLiteFile(t), httpapi.Config{
		MaxBodyBytes: body, MaxBytesInFlight: 2 * body, MaxBytesInFlightPerPrincipal: 2 * body, Timeout: 3 * time.Second})
	// Two requests announce 256 KiB each and send it slowly: they hold the
	// whole budget while their bodies arrive (alice may hold all of it
	// here; TestHostileBytesInFlightPerPrincipal checks her share).
	writers, done := s.slowBodies(t, hAlice, 2, body)
	// Both are in: a third large body, and even a small request, find no
	// room in time.
	time.Sleep(200 * time.Millisecond)
	big := `{"key":"b3","value":"` + strings.Repeat("x", body-100) + `","options":{"namespace":"shared"}}`
	s.refused(t, "set", hBob, big, 503, httpapi.CodeUnavailable)
	s.refused(t, "get", hBob, `{"key":"big","options":{"namespace":"shared"}}`, 503, httpapi.CodeUnavailable)
	// The slow bodies end; their requests are served, and the room is back.
	for _, pw := range writers {
		pad := body - len(`{"key":"big","options":{"namespace":"shared"},"value":"`) - 2
		if _, err := pw.Write([]byte(strings.Repeat("y", pad) + `"}`)); err != nil {
			t.Fatal(err)
		}
		_ = pw.Close()
	}
	for range 2 {
		// 200, or 504 on a machine too loaded to write it in time: what
		// matters is that it was let in.
		if st := <-done; st != 200 && st != 504 {
			t.Errorf("a slow large request = %d, want 200", st)
		}
	}
	if st, env := s.call(t, "set", hBob, big); st == 503 {
		t.Errorf("a large request after the others ended = %d %+v", st, env.Error)
	}
	s.must(t, "count", hBob, `{"options":{"namespace":"shared"}}`)
}

// slowBodies starts n storage://set requests as token, each announcing a
// body of size bytes and sending only its start: the rest is written to
// the pipes (or they are closed); done receives each request's status (0
// when it failed).
func (s *testServer) slowBodies(t testing.TB, token string, n int, size int64) (writers []*io.PipeWriter, done chan int) {
	t.Helper()
	done = make(chan int, n)
	for range n {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req, err := http.NewRequest(http.MethodPost, s.URL+"/v1/storage/set", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		go func() {
			resp, err := s.srv.Client().Do(req)
			if err != nil {
				done <- 0
				return
			}
			_ = resp.Body.Close()
			done <- resp.StatusCode
		}()
		if _, err := pw.Write([]byte(`{"key":"big","options":{"namespace":"shared"},"value":"`)); err != nil {
			t.Fatal(err)
		}
	}
	return writers, done
}

// TestHostileReservedKeys (issue 15, item 4): a key that looks like a
// principal's but is not canonical cannot be written by anyone, admins
// included, so query and count, whose visibility runs in SQL, cannot leak
// one; bob's real data keys stay hidden from alice on every read path,
// whatever she puts in filters, patterns and keys.
func TestHostileReservedKeys(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			ns := `"options":{"namespace":"shared"}`
			s.must(t, "set", hAdmin, `{"key":"principal://bob-pk/data/r1","value":"bob's",`+ns+`}`)
			s.must(t, "set", hAlice, `{"key":"principal://alice-pk/data/a1","value":"alice's",`+ns+`}`)
			s.must(t, "set", hAlice, `{"key":"plain","value":1,`+ns+`}`)
			before := s.snapshot(t)
			for _, k := range []string{
				"Principal://bob-pk/data/r2", "PRINCIPAL://BOB-PK/data/r2", "principal://BOB-PK/Data/r2",
				"principal://alice-pk/data/../../bob-pk/data/r2", "principal://bob-pk/data/./r2",
				"principal://bob-pk/data/r2/", "principal://bob-pk/data//r2", "principal://bob-pk/data/a%2Fb",
				"principal://bob-pk/r2",
			} {
				for _, tok := range []string{hAdmin, hAlice} {
					st, env := s.call(t, "set", tok, `{"key":"`+k+`","value":1,`+ns+`}`)
					if st == 200 || (env.code() != routes.CodeInvalidKey && env.code() != routes.CodePermissionDenied) {
						t.Errorf("set %q as %.8s = %d %+v; want invalid_key or permission_denied", k, tok, st, env.Error)
					}
				}
			}
			if after := s.snapshot(t); after != before {
				t.Errorf("refused writes changed the store:\nbefore %s\nafter  %s", before, after)
			}
			// Alice sees her keys and plain keys, never bob's, on every read
			// path and through any filter or pattern.
			for _, q := range []struct{ op, body string }{
				{"query", `{` + ns + `}`},
				{"query", `{"filter":{"field":"$key","operator":"startsWith","value":"principal://bob-pk"},` + ns + `}`},
				{"query", `{"filter":{"or":[{"field":"$key","operator":"contains","value":"bob"},{"not":{"field":"$key","operator":"eq","value":"x"}}]},` + ns + `}`},
				{"list", `{` + ns + `}`},
				{"list", `{"options":{"namespace":"shared","pattern":"principal://bob-pk/*"}}`},
				{"list", `{"options":{"namespace":"shared","pattern":"*r1"}}`},
			} {
				_, env := s.call(t, q.op, hAlice, q.body)
				if !env.Success || strings.Contains(string(env.Data), "bob") {
					t.Errorf("%s %s as alice = %+v %s", q.op, q.body, env.Error, env.Data)
				}
			}
			for _, q := range []struct{ body, want string }{
				{`{` + ns + `}`, "2"},
				{`{"options":{"namespace":"shared","where":{"field":"$key","operator":"startsWith","value":"principal://"}}}`, "1"},
			} {
				if n := s.count(t, hAlice, q.body); n != q.want {
					t.Errorf("count %s as alice = %s, want %s", q.body, n, q.want)
				}
			}
			s.refused(t, "get", hAlice, `{"key":"principal://bob-pk/data/r1",`+ns+`}`, 403, routes.CodePermissionDenied)
			s.refused(t, "has", hAlice, `{"key":"principal://bob-pk/data/r1",`+ns+`}`, 403, routes.CodePermissionDenied)
			s.refused(t, "getMetadata", hAlice, `{"key":"principal://bob-pk/data/nothing",`+ns+`}`, 403, routes.CodePermissionDenied)
			if env := s.must(t, "getMany", hAlice, `{"keys":["principal://bob-pk/data/r1","plain"],`+ns+`}`); strings.Contains(string(env.Data), "bob's") {
				t.Errorf("getMany as alice shows bob's value: %s", env.Data)
			}
			// Bob sees his own.
			if n := s.count(t, hBob, `{`+ns+`}`); n != "2" {
				t.Errorf("count as bob = %s, want 2", n)
			}
		})
	}
}

// count calls count as token and returns the count as text.
func (s *testServer) count(t testing.TB, token, body string) string {
	t.Helper()
	var c struct {
		Count json.Number `json:"count"`
	}
	st, raw := s.raw(t, "count", token, body)
	if st != 200 || json.Unmarshal(raw, &c) != nil {
		t.Fatalf("count %s = %d %s", body, st, raw)
	}
	return c.Count.String()
}

// raw calls op as token and returns the status and the response body.
func (s *testServer) raw(t testing.TB, op, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/v1/storage/"+op, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// listPage is one page of a list answer.
type listPage struct {
	Success bool     `json:"success"`
	Keys    []string `json:"keys"`
	Cursor  string   `json:"cursor"`
	Count   int64    `json:"count"`
}

// list calls list (or count) as token and decodes the answer.
func (s *testServer) list(t *testing.T, op, token, body string) listPage {
	t.Helper()
	status, raw := s.rawDo(t, bypassRequest{"POST", "/v1/storage/" + op, http.Header{"Authorization": {"Bearer " + token}}, body})
	var p listPage
	if err := json.Unmarshal([]byte(raw), &p); err != nil || status != 200 || !p.Success {
		t.Fatalf("%s %s = %d %s (%v)", op, body, status, raw, err)
	}
	return p
}

// pages lists namespace shared as token one key a page, at most max pages,
// and returns the keys and the time it took.
func (s *testServer) pages(t *testing.T, token string, max int) ([]string, time.Duration) {
	t.Helper()
	var got []string
	start := time.Now()
	body := `{"options":{"namespace":"shared","limit":1}}`
	for range max {
		p := s.list(t, "list", token, body)
		if p.Cursor != "" && len(p.Keys) != 1 {
			t.Fatalf("a page of %d keys with a cursor", len(p.Keys))
		}
		got = append(got, p.Keys...)
		if p.Cursor == "" {
			break
		}
		body = `{"options":{"namespace":"shared","limit":1,"after":"` + p.Cursor + `"}}`
	}
	return got, time.Since(start)
}

// TestHostileListBehindHiddenKeys (issue 15, item 5): alice's list of a
// namespace where thousands of bob's keys sort between hers gets full
// pages, exact cursors and counts over HTTP, and a page costs about what
// an admin's does (the visibility rule runs in SQL: before, a page of one
// key behind 20,000 hidden ones took 0.8 s on SQLite and 2.1 s on
// PostgreSQL, hundreds of times an admin's page). The timing bound is
// loose and relative to an admin's pages in the same run (under -race on
// a loaded machine a page takes a second, so no fixed bound holds); the
// security package's test counts the store calls exactly.
func TestHostileListBehindHiddenKeys(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			const hidden = 5000
			items := make([]storage.Item, hidden)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("principal://bob-pk/data/%05d", i), Value: i}
			}
			if res, err := s.inner.SetMany(t.Context(), items, storage.InNamespace("shared")); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			visible := []string{"a", "principal://alice-pk/data/1", "principal://alice-pk/data/2", "z"}
			for _, k := range visible {
				s.must(t, "set", hAlice, `{"key":"`+k+`","value":1,"options":{"namespace":"shared"}}`)
			}
			// The admin's pages, who hides nothing, cost what a page costs on
			// this machine now; alice's first, then the admin's, then hers
			// again, so a burst of load hits both.
			got, took := s.pages(t, hAlice, len(visible)+2)
			if !slices.Equal(got, visible) {
				t.Fatalf("alice paged %q, want %q", got, visible)
			}
			_, adminTook := s.pages(t, hAdmin, len(visible))
			if _, again := s.pages(t, hAlice, len(visible)+2); again < took {
				took = again
			}
			if took > 20*adminTook+100*time.Millisecond {
				t.Errorf("%d pages of one key behind %d hidden keys took %v, an admin's %v", len(visible), hidden, took, adminTook)
			}
			if p := s.list(t, "count", hAlice, `{"options":{"namespace":"shared"}}`); p.Count != int64(len(visible)) {
				t.Errorf("count as alice = %d, want %d", p.Count, len(visible))
			}
			t.Logf("%d pages in %v; an admin's in %v", len(visible), took, adminTook)
		})
	}
}
