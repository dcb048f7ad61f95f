package soak

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
)

// TestSoakServer runs the storeserver binary ($STORAGE_SOAK_SERVER_BIN)
// for $STORAGE_SOAK_SERVER (a duration) under a compressed mixed load over
// loopback TCP, then $STORAGE_SOAK_IDLE (default 2m) idle, and samples the
// process from outside every $STORAGE_SOAK_EVERY (default 15s). Opt-in.
//
// What the earlier soaks ran in process, this one runs against the real
// server: abandoned HTTP transactions, watch streams whose TCP connection
// is reset mid-stream (many at once), console sign-ins never signed out
// and live tails reset, auth file reloads (SIGHUP) that rotate principals,
// index create/drop on ever new field names, namespace and TTL churn, and
// /metrics scrapes. With $STORAGE_SOAK_PPROF (host:port of a net/http/pprof
// listener built into the binary with -overlay, see
// bench/results/2026-12-06-longrun.md) it also samples goroutines and the
// Go heap after a GC.
func TestSoakServer(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("STORAGE_SOAK_SERVER"))
	if err != nil {
		t.Skip("set STORAGE_SOAK_SERVER (a duration) and STORAGE_SOAK_SERVER_BIN to run the server soak")
	}
	bin := os.Getenv("STORAGE_SOAK_SERVER_BIN")
	addr := os.Getenv("STORAGE_SOAK_ADDR")
	if bin == "" || addr == "" {
		t.Fatal("STORAGE_SOAK_SERVER_BIN and STORAGE_SOAK_ADDR (127.0.0.1:port) are needed")
	}
	idle := envDuration("STORAGE_SOAK_IDLE", 2*time.Minute)
	every := envDuration("STORAGE_SOAK_EVERY", 15*time.Second)
	dir := t.TempDir()
	var dsn, path, pgdsn string
	switch os.Getenv("STORAGE_SOAK_DIALECT") {
	case "postgres":
		base := os.Getenv("STORAGE_TEST_POSTGRES_DSN")
		if base == "" {
			t.Skip("no STORAGE_TEST_POSTGRES_DSN")
		}
		dsn = freshDatabase(t, base, "soakserver")
		pgdsn = dsn
	default:
		path = filepath.Join(dir, "soak.db")
		dsn = "sqlite:" + path
	}
	ss := &serverSoak{t: t, addr: addr, base: "http://" + addr, authFile: filepath.Join(dir, "auth.json"),
		pprof: os.Getenv("STORAGE_SOAK_PPROF"), path: path, pgdsn: pgdsn}
	ss.writeAuth(0)
	args := []string{"--dsn", dsn, "--addr", addr, "--auth", ss.authFile, "--log-level", "error",
		"--tx-idle-timeout", "2s", "--max-tx-per-principal", "8", "--max-watches-per-principal", "64",
		"--pg-max-conns", "8", "--tx-contended-idle-timeout", "300ms"}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ss.pid = cmd.Process.Pid
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	for i := 0; ; i++ {
		if resp, err := http.Get(ss.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 300 {
			t.Fatal("server not ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	ss.run(dur, idle, every)
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

type serverSoak struct {
	t        *testing.T
	addr     string
	base     string
	authFile string
	pprof    string
	path     string
	pgdsn    string
	pid      int

	gen     atomic.Int64 // auth file generation
	ops     atomic.Int64
	errsMu  sync.Mutex
	errs    map[string]int
	errText map[string]string

	txBegun, txAbandoned, watchReset, tailReset, logins, nsCycles, idxCycles, reloads atomic.Int64
}

// token of principal i of generation g; the admin's is fixed.
func tok(g int64, i int) string { return fmt.Sprintf("tok-g%d-p%d-0123456789abcdef", g, i) }

const adminTok = "tok-admin-0123456789abcdef0123"

// writeAuth writes generation g of the auth file: the admin and 6
// principals of that generation (the previous generation's are dropped,
// as a rotation would).
func (ss *serverSoak) writeAuth(g int64) {
	type prof struct {
		Name   string            `json:"name"`
		Scopes map[string]string `json:"scopes"`
	}
	type pr struct {
		Token    string `json:"token"`
		PKR      string `json:"pkr"`
		Profiles []prof `json:"profiles"`
	}
	ps := []pr{{Token: adminTok, PKR: "admin-pk", Profiles: []prof{{Name: "admin", Scopes: map[string]string{
		"storage://namespace/*": "rw", "principal://*": "rw"}}}}}
	for i := 0; i < 6; i++ {
		ps = append(ps, pr{Token: tok(g, i), PKR: fmt.Sprintf("g%d-p%d", g, i), Profiles: []prof{{Name: "user", Scopes: map[string]string{
			"storage://namespace/*": "rw", "storage://transactions": "rw"}}}})
	}
	b, _ := json.Marshal(map[string]any{"principals": ps})
	tmp := ss.authFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		ss.t.Fatal(err)
	}
	if err := os.Rename(tmp, ss.authFile); err != nil {
		ss.t.Fatal(err)
	}
	ss.gen.Store(g)
}

func (ss *serverSoak) note(what string, err error) {
	ss.ops.Add(1)
	if err == nil {
		return
	}
	what += ": " + quotedRE.ReplaceAllString(err.Error(), `"…"`)
	if len(what) > 160 {
		what = what[:160]
	}
	ss.errsMu.Lock()
	if ss.errs == nil {
		ss.errs, ss.errText = map[string]int{}, map[string]string{}
	}
	ss.errs[what]++
	if _, ok := ss.errText[what]; !ok {
		ss.errText[what] = err.Error()
	}
	ss.errsMu.Unlock()
}

func (ss *serverSoak) client(ctx context.Context, token string) (*client.Store, error) {
	tr, err := httpapi.NewTransport(ss.base, token)
	if err != nil {
		return nil, err
	}
	return client.New(ctx, tr)
}

func (ss *serverSoak) run(dur, idle, every time.Duration) {
	t := ss.t
	ctx := context.Background()
	admin, err := ss.client(ctx, adminTok)
	if err != nil {
		t.Fatal(err)
	}
	fixed := []string{"w0", "w1", "w2", "w3"}
	for _, ns := range fixed {
		if err := admin.CreateNamespace(ctx, ns, storage.WithIndexes("n")); err != nil {
			t.Fatal(err)
		}
	}
	lctx, stop := context.WithTimeout(ctx, dur)
	defer stop()
	var wg sync.WaitGroup
	loop := func(seed uint64, f func(r *rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 7))
			for lctx.Err() == nil {
				f(r)
			}
		}()
	}
	user := func(r *rand.Rand) (*client.Store, func()) {
		c, err := ss.client(lctx, tok(ss.gen.Load(), r.IntN(6)))
		if err != nil {
			ss.note("client", err)
			time.Sleep(50 * time.Millisecond)
			return nil, func() {}
		}
		return c, func() { _ = c.Close() }
	}
	val := func(r *rand.Rand) map[string]any {
		return map[string]any{"n": r.IntN(100000), "tag": fmt.Sprintf("t%d", r.IntN(20)),
			fmt.Sprintf("f%d", r.IntN(200)): r.IntN(100), "pad": strings.Repeat("x", r.IntN(300))}
	}
	// writers with TTL churn
	for w := 0; w < 2; w++ {
		loop(uint64(w+1), func(r *rand.Rand) {
			c, done := user(r)
			defer done()
			if c == nil {
				return
			}
			for i := 0; i < 50 && lctx.Err() == nil; i++ {
				ns := fixed[r.IntN(4)]
				var opts []storage.Option
				opts = append(opts, storage.InNamespace(ns))
				if r.IntN(3) == 0 {
					opts = append(opts, storage.WithTTL(time.Duration(1+r.IntN(4))*time.Second))
				}
				if r.IntN(6) == 0 {
					items := make([]storage.Item, 20)
					for j := range items {
						items[j] = storage.Item{Key: fmt.Sprintf("k%d", r.IntN(5000)), Value: val(r)}
					}
					_, err := c.SetMany(lctx, items, opts...)
					ss.note("setmany", ignoreEnd(lctx, err))
				} else {
					err := c.Set(lctx, fmt.Sprintf("k%d", r.IntN(5000)), val(r), opts...)
					ss.note("set", ignoreEnd(lctx, err))
				}
				if r.IntN(4) == 0 {
					_, err := c.Query(lctx, storage.Eq(fmt.Sprintf("f%d", r.IntN(200)), r.IntN(100)), storage.InNamespace(ns), storage.Limit(20))
					ss.note("query", ignoreEnd(lctx, err))
				}
				time.Sleep(time.Duration(r.IntN(5)) * time.Millisecond)
			}
		})
	}
	// HTTP transactions: committed, rolled back, abandoned (client forgets
	// it), or begun over a connection reset right after the answer
	loop(11, func(r *rand.Rand) {
		c, done := user(r)
		defer done()
		if c == nil {
			return
		}
		for i := 0; i < 20 && lctx.Err() == nil; i++ {
			tx, err := c.Begin(lctx, storage.TxOptions{})
			if err != nil {
				ss.note("begin", ignoreEnd(lctx, err))
				time.Sleep(100 * time.Millisecond)
				continue
			}
			ss.txBegun.Add(1)
			err = tx.Set(lctx, fmt.Sprintf("tx%d", r.IntN(1000)), val(r), storage.InNamespace(fixed[r.IntN(4)]))
			ss.note("txset", ignoreEnd(lctx, err))
			switch r.IntN(5) {
			case 0:
				ss.txAbandoned.Add(1)
			case 1:
				ss.note("rollback", ignoreEnd(lctx, tx.Rollback(lctx)))
			default:
				ss.note("commit", ignoreEnd(lctx, tx.Commit(lctx)))
			}
		}
	})
	loop(12, func(r *rand.Rand) {
		// raw begin, the connection reset after the answer: the server
		// holds a transaction nobody knows the id of
		tk := tok(ss.gen.Load(), r.IntN(6))
		if _, err := ss.rawReset(lctx, "beginTransaction", `{}`, tk, 1); err == nil {
			ss.txBegun.Add(1)
			ss.txAbandoned.Add(1)
		}
		time.Sleep(time.Duration(1000+r.IntN(2000)) * time.Millisecond)
	})
	// watch streams reset mid-stream, one at a time and in bursts
	loop(21, func(r *rand.Rand) {
		tk := tok(ss.gen.Load(), r.IntN(6))
		body := `{"options":{"namespace":"` + fixed[r.IntN(4)] + `"}}`
		if r.IntN(3) == 0 {
			body = `{}`
		}
		if _, err := ss.rawReset(lctx, "watch", body, tk, 1+r.IntN(5)); err == nil {
			ss.watchReset.Add(1)
		} else {
			ss.note("watch", ignoreEnd(lctx, err))
		}
		time.Sleep(time.Duration(20+r.IntN(200)) * time.Millisecond)
	})
	loop(22, func(r *rand.Rand) {
		time.Sleep(time.Duration(5+r.IntN(10)) * time.Second)
		var bw sync.WaitGroup
		for i := 0; i < 40; i++ {
			bw.Add(1)
			go func(i int) {
				defer bw.Done()
				tk := tok(ss.gen.Load(), i%6)
				if _, err := ss.rawReset(lctx, "watch", `{"options":{"namespace":"w`+strconv.Itoa(i%4)+`"}}`, tk, 2); err == nil {
					ss.watchReset.Add(1)
				}
			}(i)
		}
		bw.Wait()
	})
	// namespace churn with indexes, by users, in the shared space
	for w := 0; w < 2; w++ {
		loop(uint64(31+w), func(r *rand.Rand) {
			c, done := user(r)
			defer done()
			if c == nil {
				return
			}
			ns := fmt.Sprintf("churn-%d-%d", w, r.Int64())
			if err := c.CreateNamespace(lctx, ns, storage.WithIndexes("n", "tag")); err != nil {
				ss.note("createns", ignoreEnd(lctx, err))
				return
			}
			items := make([]storage.Item, 1+r.IntN(30))
			for j := range items {
				items[j] = storage.Item{Key: fmt.Sprintf("k%d", j), Value: val(r)}
			}
			_, err := c.SetMany(lctx, items, storage.InNamespace(ns), storage.WithTTL(time.Duration(1+r.IntN(3))*time.Second))
			ss.note("ns-setmany", ignoreEnd(lctx, err))
			_, err = c.Query(lctx, storage.Gt("n", r.IntN(1000)), storage.InNamespace(ns), storage.SortBy(storage.Desc("n")))
			ss.note("ns-query", ignoreEnd(lctx, err))
			_, err = c.Count(lctx, storage.Where(storage.Eq("tag", "t1")), storage.InNamespace(ns))
			ss.note("ns-count", ignoreEnd(lctx, err))
			ss.note("deletens", ignoreEnd(lctx, c.DeleteNamespace(lctx, ns, storage.Recursive())))
			ss.nsCycles.Add(1)
		})
	}
	// index churn on ever new field names of the fixed namespaces
	loop(41, func(r *rand.Rand) {
		ns := fixed[r.IntN(4)]
		field := fmt.Sprintf("x%d", r.Int64())
		if r.IntN(2) == 0 {
			field = fmt.Sprintf("f%d", r.IntN(200))
		}
		if err := admin.CreateIndex(lctx, ns, field); err != nil {
			ss.note("createindex", ignoreEnd(lctx, err))
			return
		}
		time.Sleep(time.Duration(200+r.IntN(800)) * time.Millisecond)
		ss.note("dropindex", ignoreEnd(lctx, admin.DropIndex(lctx, ns, field)))
		ss.idxCycles.Add(1)
	})
	// console: sign in, look at pages, open the live tail and reset it;
	// never sign out
	loop(51, func(r *rand.Rand) {
		ss.consoleVisit(lctx, r)
		time.Sleep(time.Duration(200+r.IntN(800)) * time.Millisecond)
	})
	// auth file rotation
	loop(61, func(r *rand.Rand) {
		select {
		case <-lctx.Done():
			return
		case <-time.After(20 * time.Second):
		}
		ss.writeAuth(ss.gen.Load() + 1)
		if p, err := os.FindProcess(ss.pid); err == nil {
			_ = p.Signal(syscall.SIGHUP)
			ss.reloads.Add(1)
		}
	})
	// metrics scrapes
	loop(71, func(r *rand.Rand) {
		resp, err := http.Get(ss.base + "/metrics")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		ss.note("metrics", err)
		time.Sleep(5 * time.Second)
	})

	start := time.Now()
	ss.sample("start", start)
	tick := time.NewTicker(every)
	for lctx.Err() == nil {
		select {
		case <-tick.C:
			ss.sample("load", start)
		case <-lctx.Done():
		}
	}
	wg.Wait()
	ss.sample("end", start)
	end := time.Now().Add(idle)
	for time.Now().Before(end) {
		<-tick.C
		ss.sample("idle", start)
	}
	tick.Stop()
	ss.errsMu.Lock()
	for k, n := range ss.errs {
		t.Logf("errors %s: %d (first: %s)", k, n, ss.errText[k])
	}
	ss.errsMu.Unlock()
}

// ignoreEnd is err, or nil once the load's context ended (the calls it
// cut are not failures).
func ignoreEnd(ctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// rawReset POSTs body to /v1/storage/{op} over a connection of its own,
// reads lines of the answer (up to n lines, or 2 s), then resets the
// connection (SO_LINGER 0): what the server sees when its client is
// killed. It returns the first line.
func (ss *serverSoak) rawReset(ctx context.Context, op, body, token string, n int) (string, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", ss.addr)
	if err != nil {
		return "", err
	}
	tc := c.(*net.TCPConn)
	defer func() {
		_ = tc.SetLinger(0)
		_ = tc.Close()
	}()
	req := fmt.Sprintf("POST /v1/storage/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nAccept: %s, application/json\r\nContent-Length: %d\r\n\r\n%s",
		op, ss.addr, token, httpapi.StreamContentType, len(body), body)
	if _, err := io.WriteString(tc, req); err != nil {
		return "", err
	}
	_ = tc.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(tc)
	status, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.Contains(status, " 200 ") {
		return status, fmt.Errorf("%s", strings.TrimSpace(status))
	}
	for i := 0; i < n; i++ {
		if _, err := br.ReadString('\n'); err != nil {
			break
		}
	}
	return status, nil
}

var quotedRE = regexp.MustCompile(`"[^"]*"|\d+`)

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleVisit signs in with a user's token, opens two pages and the live
// tail, resets the tail after a moment, and never signs out.
func (ss *serverSoak) consoleVisit(ctx context.Context, r *rand.Rand) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := hc.Get(ss.base + "/console/signin")
	if err != nil {
		ss.note("console-signin-page", ignoreEnd(ctx, err))
		return
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		ss.note("console-signin-page", fmt.Errorf("no csrf in the sign-in page (%d)", resp.StatusCode))
		return
	}
	form := url.Values{"csrf": {string(m[1])}, "token": {tok(ss.gen.Load(), r.IntN(6))}}
	req, _ := http.NewRequestWithContext(ctx, "POST", ss.base+"/console/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ss.base)
	resp, err = hc.Do(req)
	if err != nil {
		ss.note("console-signin", ignoreEnd(ctx, err))
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ss.logins.Add(1)
	for _, p := range []string{"/console/namespaces", "/console/entries?namespace=w" + strconv.Itoa(r.IntN(4)), "/console/status"} {
		resp, err := hc.Get(ss.base + p)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		ss.note("console-page", ignoreEnd(ctx, err))
	}
	// the live tail over a connection reset after a few lines
	u, _ := url.Parse(ss.base + "/console/status/changes")
	var cookie string
	for _, c := range jar.Cookies(u) {
		cookie += c.Name + "=" + c.Value + "; "
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", ss.addr)
	if err != nil {
		return
	}
	tc := c.(*net.TCPConn)
	defer func() { _ = tc.SetLinger(0); _ = tc.Close() }()
	fmt.Fprintf(tc, "GET /console/status/changes HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nAccept: text/event-stream\r\n\r\n", ss.addr, cookie)
	_ = tc.SetReadDeadline(time.Now().Add(time.Duration(500+r.IntN(1500)) * time.Millisecond))
	br := bufio.NewReader(tc)
	status, err := br.ReadString('\n')
	if err != nil {
		ss.note("console-tail", ignoreEnd(ctx, err))
		return
	}
	if !strings.Contains(status, " 200 ") {
		ss.note("console-tail", fmt.Errorf("%s", strings.TrimSpace(status)))
		return
	}
	for i := 0; i < 5; i++ {
		if _, err := br.ReadString('\n'); err != nil {
			break
		}
	}
	ss.tailReset.Add(1)
}

var goroutinesRE = regexp.MustCompile(`goroutine profile: total (\d+)`)

// sample prints one line of figures.
func (ss *serverSoak) sample(phase string, start time.Time) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s t=%4.0f ops=%d", phase, time.Since(start).Seconds(), ss.ops.Load())
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", ss.pid))
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, "VmRSS:") || strings.HasPrefix(l, "Threads:") {
			f := strings.Fields(l)
			fmt.Fprintf(&b, " %s=%s", strings.ToLower(strings.TrimSuffix(f[0], ":")), f[1])
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", ss.pid)); err == nil {
		fmt.Fprintf(&b, " fds=%d", len(fds))
	}
	if ss.pprof != "" {
		hc := &http.Client{Timeout: 20 * time.Second}
		if resp, err := hc.Get("http://" + ss.pprof + "/debug/pprof/heap?gc=1&debug=1"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if resp, err := hc.Get("http://" + ss.pprof + "/debug/vars"); err == nil {
			var v struct {
				Memstats struct {
					HeapAlloc, HeapObjects uint64
				} `json:"memstats"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			fmt.Fprintf(&b, " heap=%dKB heapobj=%d", v.Memstats.HeapAlloc/1024, v.Memstats.HeapObjects)
		}
		if resp, err := hc.Get("http://" + ss.pprof + "/debug/pprof/goroutine?debug=1"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := goroutinesRE.FindSubmatch(body); m != nil {
				fmt.Fprintf(&b, " gor=%s", m[1])
			}
		}
	}
	if resp, err := http.Get(ss.base + "/metrics"); err == nil {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		series := 0
		for sc.Scan() {
			l := sc.Text()
			if l != "" && l[0] != '#' {
				series++
			}
			if strings.HasPrefix(l, "storage_open_transactions ") {
				fmt.Fprintf(&b, " opentx=%s", strings.TrimPrefix(l, "storage_open_transactions "))
			}
		}
		resp.Body.Close()
		fmt.Fprintf(&b, " mseries=%d", series)
	}
	if ss.path != "" {
		fi, _ := os.Stat(ss.path + "-wal")
		fd, _ := os.Stat(ss.path)
		if fi != nil && fd != nil {
			fmt.Fprintf(&b, " wal=%dKB db=%dKB", fi.Size()/1024, fd.Size()/1024)
		}
		db, err := sql.Open("sqlite", "file:"+ss.path+"?mode=ro&_pragma=busy_timeout(2000)")
		if err == nil {
			ss.counts(&b, db)
			db.Close()
		}
	} else {
		ss.pgSample(&b)
	}
	fmt.Fprintf(&b, " begun=%d abandoned=%d wreset=%d treset=%d logins=%d nscycles=%d idx=%d reloads=%d",
		ss.txBegun.Load(), ss.txAbandoned.Load(), ss.watchReset.Load(), ss.tailReset.Load(), ss.logins.Load(),
		ss.nsCycles.Load(), ss.idxCycles.Load(), ss.reloads.Load())
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(la))
		fmt.Fprintf(&b, " load=%s,%s,%s", f[0], f[1], f[2])
	}
	ss.t.Log(b.String())
}

// countQueries count the rows of the store's tables, and the expired
// entries the sweeper has yet to delete (now is the store's clock in SQL).
func countQueries(now string) [][2]string {
	q := [][2]string{}
	for _, t := range []string{"entries", "changes", "namespaces", "index_fields", "index_entries", "unlinked"} {
		q = append(q, [2]string{t, "SELECT count(*) FROM " + t})
	}
	return append(q, [2]string{"expired", "SELECT count(*) FROM entries WHERE expires_at IS NOT NULL AND expires_at < " + now})
}

// counts appends the SQLite store's row counts.
func (ss *serverSoak) counts(b *strings.Builder, db *sql.DB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, q := range countQueries("CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)") {
		var n int64
		if err := db.QueryRowContext(ctx, q[1]).Scan(&n); err != nil {
			fmt.Fprintf(b, " %s=err", q[0])
			continue
		}
		fmt.Fprintf(b, " %s=%d", q[0], n)
	}
}

// pgSample appends the database's client backends, their memory and the
// store's row counts.
func (ss *serverSoak) pgSample(b *strings.Builder) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, ss.pgdsn)
	if err != nil {
		fmt.Fprintf(b, " pg=err")
		return
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT pid, state FROM pg_stat_activity WHERE datname = current_database()
		AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err == nil {
		var pids []int
		idleTx := 0
		for rows.Next() {
			var pid int
			var state *string
			_ = rows.Scan(&pid, &state)
			pids = append(pids, pid)
			if state != nil && *state == "idle in transaction" {
				idleTx++
			}
		}
		rows.Close()
		var total, most int64
		for _, pid := range pids {
			n := privateKB(pid)
			total += n
			most = max(most, n)
		}
		fmt.Fprintf(b, " backends=%d idleintx=%d bpriv=%dKB bprivmax=%dKB", len(pids), idleTx, total, most)
	}
	var dbSize int64
	_ = c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&dbSize)
	fmt.Fprintf(b, " dbsize=%dKB", dbSize/1024)
	for _, q := range countQueries("now()") {
		var n int64
		if err := c.QueryRow(ctx, q[1]).Scan(&n); err != nil {
			fmt.Fprintf(b, " %s=err", q[0])
			continue
		}
		fmt.Fprintf(b, " %s=%d", q[0], n)
	}
}

// privateKB is the private memory of process pid (smaps_rollup's
// Private_Clean + Private_Dirty), 0 when unreadable.
func privateKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	var n int64
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Private_Clean:") || strings.HasPrefix(l, "Private_Dirty:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			n += v
		}
	}
	return n
}
