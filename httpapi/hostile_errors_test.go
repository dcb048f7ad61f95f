package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/routes"
)

// leaks are texts of the database, its driver or its connection that no
// answer may carry (issue 15, item 6).
var leaks = []string{"sql:", "no rows", "SQLSTATE", "pgx", "pgconn", "sqlite", "SQLITE", "user=", "database=",
	"127.0.0.1", "localhost", "dial tcp", "connection refused", "EOF", "overflow", "panic", "goroutine"}

// noLeak fails t if the answer body shows one of leaks (or extra, a text
// of this run such as a port).
func noLeak(t testing.TB, what string, body []byte, extra ...string) {
	t.Helper()
	for _, l := range append(leaks, extra...) {
		if l != "" && strings.Contains(string(body), l) {
			t.Errorf("%s: the answer shows %q: %s", what, l, body)
		}
	}
}

// answer is the status, code and message of a raw answer.
func answer(t testing.TB, raw []byte) (code, msg string) {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
	if env.Error != nil {
		return env.Error.Code, env.Error.Message
	}
	return "", ""
}

// wantRaw calls op as token and checks the status and code, and that the
// answer shows nothing of the database.
func (s *testServer) wantRaw(t testing.TB, op, token, body string, status int, code string, extra ...string) {
	t.Helper()
	st, raw := s.raw(t, op, token, body)
	if got, _ := answer(t, raw); st != status || got != code {
		t.Errorf("%s as %.8s %.200s = %d %s; want %d %s", op, token, body, st, raw, status, code)
	}
	noLeak(t, op+" "+body, raw, extra...)
}

// quote is s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// forge rewrites the JSON inside cursor c with edit.
func forge(t testing.TB, c string, edit func(map[string]any)) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(c)
	var m map[string]any
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		t.Fatalf("cursor %q: %v", c, err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestHostileInternalDetails (issue 15, item 6), over HTTP on both
// dialects: not_found says nothing of SQL, and a forged or foreign cursor
// (NUL in it, not base64, base64 of junk, another namespace's, another
// filter's or sort's, list's given to query) is invalid_option, never a
// 500 with the database's text.
func TestHostileInternalDetails(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			for _, k := range []string{"a", "b", "c"} {
				s.must(t, "set", hAlice, `{"key":"`+k+`","value":{"n":1,"s":"x"},"options":{"namespace":"shared"}}`)
				s.must(t, "set", hAdmin, `{"key":"`+k+`","value":1,"options":{"namespace":"other"}}`)
			}
			for _, tok := range []string{hAlice, hAdmin} {
				for _, op := range []string{"get", "getMetadata", "delete"} {
					s.wantRaw(t, op, tok, `{"key":"missing","options":{"namespace":"shared"}}`, 404, routes.CodeNotFound)
				}
				s.wantRaw(t, "setMetadata", tok, `{"key":"missing","metadata":{"x":1},"options":{"namespace":"shared"}}`, 404, routes.CodeNotFound)
			}

			listCur := s.list(t, "list", hAlice, `{"options":{"namespace":"shared","limit":1}}`).Cursor
			otherCur := s.list(t, "list", hAdmin, `{"options":{"namespace":"other","limit":1}}`).Cursor
			queryBody := func(after string) string {
				return `{"filter":{"field":"n","operator":"eq","value":1},"options":{"namespace":"shared","limit":1,"sort":[{"field":"s"}],"after":` + quote(after) + `}}`
			}
			var q struct {
				Cursor string `json:"cursor"`
			}
			st, raw := s.raw(t, "query", hAlice, strings.Replace(queryBody(""), `,"after":""`, "", 1))
			if err := json.Unmarshal(raw, &q); st != 200 || err != nil || q.Cursor == "" {
				t.Fatalf("query = %d %s (%v)", st, raw, err)
			}
			if listCur == "" || otherCur == "" {
				t.Fatalf("no cursors: %q %q", listCur, otherCur)
			}
			nulKey := func(m map[string]any) { m["k"] = "a\x00b" }
			val := func(v map[string]any) func(map[string]any) {
				return func(m map[string]any) { m["v"] = []any{v} }
			}
			forgedVals := []func(map[string]any){
				val(map[string]any{"r": 5, "s": "x\x00"}),   // a NUL in a string position
				val(map[string]any{"r": 4, "n": "junk"}),    // a number that is none
				val(map[string]any{"r": 5}),                 // a string position without its string
				func(m map[string]any) { m["v"] = []any{} }, // fewer positions than sort fields
				func(m map[string]any) { m["v"] = "x" },     // not a list
			}
			bad := []string{
				"a\x00b", "\x00", "!!!not base64!!!", base64.RawURLEncoding.EncodeToString([]byte("junk\x00\xff")),
				base64.StdEncoding.EncodeToString([]byte(`{"o":"list"}`)), base64.RawURLEncoding.EncodeToString([]byte(`{"o":"list","h":"x","k":"a"}`)),
				strings.Repeat("A", 100000),
			}
			for _, tok := range []string{hAlice, hAdmin} {
				for _, after := range append(bad, otherCur, q.Cursor, forge(t, listCur, nulKey), forge(t, listCur, func(m map[string]any) { m["k"] = 5 })) {
					s.wantRaw(t, "list", tok, `{"options":{"namespace":"shared","limit":1,"after":`+quote(after)+`}}`, 400, routes.CodeInvalidOption)
				}
				forged := append(bad, listCur, forge(t, q.Cursor, nulKey))
				for _, f := range forgedVals {
					forged = append(forged, forge(t, q.Cursor, f))
				}
				for _, after := range forged {
					s.wantRaw(t, "query", tok, queryBody(after), 400, routes.CodeInvalidOption)
				}
				// Another filter's or sort's cursor.
				s.wantRaw(t, "query", tok, strings.Replace(queryBody(q.Cursor), `"value":1`, `"value":2`, 1), 400, routes.CodeInvalidOption)
				s.wantRaw(t, "query", tok, strings.Replace(queryBody(q.Cursor), `{"field":"s"}`, `{"field":"s","desc":true}`, 1), 400, routes.CodeInvalidOption)
			}
		})
	}
}

// optionValue finds "Limit(n)" and "Offset(n)" in a message.
var optionValue = regexp.MustCompile(`(Limit|Offset)\((-?[0-9]+)\)`)

// TestHostileHugeLimits (issue 15, item 9), over HTTP through the security
// layer on both dialects: limit and offset at and near the largest int64,
// and negative ones, get a typed answer, never an overflow (the answer was
// 400 "Limit(-2)").
func TestHostileHugeLimits(t *testing.T) {
	const maxI = math.MaxInt64
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			for _, k := range []string{"a", "b", "c"} {
				s.must(t, "set", hAlice, `{"key":"`+k+`","value":{"n":1},"options":{"namespace":"shared"}}`)
			}
			s.must(t, "set", hAdmin, `{"key":"principal://bob-pk/data/x","value":{"n":1},"options":{"namespace":"shared"}}`)
			opts := func(limit, offset string) string {
				return `"options":{"namespace":"shared","limit":` + limit + `,"offset":` + offset + `}`
			}
			calls := func(limit, offset string) [][2]string {
				return [][2]string{
					{"list", `{` + opts(limit, offset) + `}`},
					{"query", `{"filter":{"field":"n","operator":"eq","value":1},` + opts(limit, offset) + `}`},
					{"query", `{"filter":{"field":"n","operator":"eq","value":1},"options":{"namespace":"shared","limit":` + limit + `,"offset":` + offset + `,"sort":[{"field":"$key","desc":true}]}}`},
				}
			}
			m := strconv.FormatInt(maxI, 10)
			m1 := strconv.FormatInt(maxI-1, 10)
			for _, tok := range []string{hAlice, hBob, hAdmin} {
				// Accepted, and empty: the offset is past everything.
				for _, lo := range [][2]string{{m, m}, {m1, m1}, {"1", m}, {m, m1}, {"0", m}} {
					for _, cl := range calls(lo[0], lo[1]) {
						st, raw := s.raw(t, cl[0], tok, cl[1])
						var p struct {
							Success bool              `json:"success"`
							Keys    []string          `json:"keys"`
							Results []json.RawMessage `json:"results"`
						}
						if err := json.Unmarshal(raw, &p); st != 200 || err != nil || !p.Success || len(p.Keys)+len(p.Results) != 0 {
							t.Errorf("%s as %.8s %s = %d %s (%v); want 200 and nothing", cl[0], tok, cl[1], st, raw, err)
						}
						noLeak(t, cl[1], raw, "Limit(", "Offset(")
					}
				}
				// A huge limit from the start: everything the caller sees.
				for _, cl := range calls(m, "0") {
					st, raw := s.raw(t, cl[0], tok, cl[1])
					var p struct {
						Keys    []string          `json:"keys"`
						Results []json.RawMessage `json:"results"`
					}
					want := 4 // bob's key is bob's and the admin's to see
					if tok == hAlice {
						want = 3
					}
					if err := json.Unmarshal(raw, &p); st != 200 || err != nil || len(p.Keys)+len(p.Results) != want {
						t.Errorf("%s as %.8s %s = %d %s (%v); want %d results", cl[0], tok, cl[1], st, raw, err, want)
					}
				}
				// Negative or past int64: refused, typed, with nothing of Go.
				for _, lo := range [][2]string{{"-1", "0"}, {"0", "-1"}, {"-" + m, "0"}, {"1", "-9223372036854775808"}, {"9223372036854775808", "0"}, {"1", "9223372036854775808"}, {"1e30", "0"}, {"1", "-1e30"}} {
					for _, cl := range calls(lo[0], lo[1]) {
						st, raw := s.raw(t, cl[0], tok, cl[1])
						code, _ := answer(t, raw)
						if st != 400 || (code != routes.CodeInvalidOption && code != routes.CodeInvalidRequest) {
							t.Errorf("%s as %.8s %s = %d %s; want 400 invalid_option or invalid_request", cl[0], tok, cl[1], st, raw)
						}
						noLeak(t, cl[1], raw, "int64", "Go struct")
						// The option named with another value than sent is
						// an overflow (it was "Limit(-2)" for max int64).
						for _, m := range optionValue.FindAllStringSubmatch(string(raw), -1) {
							if sent := map[string]string{"Limit": lo[0], "Offset": lo[1]}[m[1]]; m[2] != sent {
								t.Errorf("%s: the answer names %s(%s), the caller sent %s: %s", cl[1], m[1], m[2], sent, raw)
							}
						}
					}
				}
			}
		})
	}
}

// tcpProxy forwards a port to a PostgreSQL server, and can be taken down
// (the listener closed, every connection cut) and brought back on the same
// port: an outage of the database as the store sees it. goDark stops the
// connections open so far without closing them.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
	dark         map[net.Conn]bool // by accepted connection
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{addr: "127.0.0.1:0", target: target}
	p.up(t)
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was just closed: retry briefly
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { p.pipe(c, s, c); _ = s.Close() }()
			go func() { p.pipe(c, c, s); _ = c.Close() }()
		}
	}()
}

// pipe copies src to dst, holding what it read while the connection
// accepted as c is dark.
func (p *tcpProxy) pipe(c, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.isDark(c) {
			time.Sleep(20 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *tcpProxy) isDark(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dark[c]
}

// goDark stops forwarding on the connections open so far, both ways,
// without closing them: connections gone dark (a stalled middlebox, a
// partition). Connections accepted later are forwarded.
func (p *tcpProxy) goDark() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dark == nil {
		p.dark = map[net.Conn]bool{}
	}
	for _, c := range p.conns {
		p.dark[c] = true
	}
}

func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns, p.dark = nil, nil
}

// TestHostilePostgresOutage (issue 15, item 6): while PostgreSQL cannot be
// reached (every connection cut, nothing listening), every call answers
// 503 unavailable with nothing of the connection (host, port, user,
// database, SQLSTATE, the driver's text) in the body, and /readyz is 503;
// once the database is back, the same calls succeed again.
func TestHostilePostgresOutage(t *testing.T) {
	dsn := testdb.Postgres(t, "hostile", "pool_max_conns", "4", "connect_timeout", "2")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := newTCPProxy(t, u.Host)
	_, pgPort, _ := net.SplitHostPort(u.Host)
	_, proxyPort, _ := net.SplitHostPort(p.addr)
	u.Host = p.addr
	s := newHostileServer(t, u.String(), httpapi.Config{})
	s.must(t, "set", hAlice, `{"key":"a","value":1,"options":{"namespace":"shared"}}`)
	tx := s.must(t, "beginTransaction", hAlice, `{}`).TransactionID
	calls := [][3]string{
		{"get", hAlice, `{"key":"a","options":{"namespace":"shared"}}`},
		{"set", hAlice, `{"key":"b","value":2,"options":{"namespace":"shared"}}`},
		{"count", hAlice, `{"options":{"namespace":"shared"}}`},
		{"list", hAlice, `{"options":{"namespace":"shared"}}`},
		{"query", hAlice, `{"filter":{"field":"$key","operator":"eq","value":"a"},"options":{"namespace":"shared"}}`},
		{"getMany", hAdmin, `{"keys":["a"],"options":{"namespace":"shared"}}`},
		{"listNamespaces", hAdmin, `{}`},
		{"getStatus", hAdmin, `{}`},
		{"beginTransaction", hAlice, `{}`},
		{"get", hAlice, `{"key":"a","options":{"namespace":"shared","transactionId":"` + tx + `"}}`},
	}

	p.down()
	for _, cl := range calls {
		if cl[0] == "set" {
			// The set runs on the writes' lane (sqlstore's pgPoints),
			// whose connection, idle since the set above, the outage cut:
			// sent there, the write may have been applied, and its
			// honest answer is 502 commit_unknown; sent on a new
			// connection, 503.
			st, raw := s.raw(t, cl[0], cl[1], cl[2])
			if got, _ := answer(t, raw); (st != http.StatusServiceUnavailable || got != routes.CodeUnavailable) &&
				(st != http.StatusBadGateway || got != routes.CodeCommitUnknown) {
				t.Errorf("set during the outage = %d %s; want 503 %s or 502 %s", st, raw, routes.CodeUnavailable, routes.CodeCommitUnknown)
			}
			noLeak(t, "set "+cl[2], raw, ":"+pgPort, ":"+proxyPort, "postgres")
			continue
		}
		s.wantRaw(t, cl[0], cl[1], cl[2], http.StatusServiceUnavailable, routes.CodeUnavailable, ":"+pgPort, ":"+proxyPort, "postgres")
	}
	resp, err := s.srv.Client().Get(s.URL + httpapi.ReadyPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz during the outage = %d %s", resp.StatusCode, body)
	}
	noLeak(t, "readyz", body, ":"+pgPort, ":"+proxyPort)

	p.up(t)
	deadline := time.Now().Add(30 * time.Second)
	for _, cl := range calls[:8] { // not the transaction: the outage ended it
		for {
			st, raw := s.raw(t, cl[0], cl[1], cl[2])
			if st == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after the outage = %d %s", cl[0], st, raw)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
