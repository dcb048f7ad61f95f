package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
)

// pgServer is a PostgreSQL server a test runs itself, as the postgres
// user, on a port of its own and only on loopback.
type pgServer struct {
	bin, data, logFile string
	port               int
}

// pgFullSetup returns the port STORAGE_TEST_PG_FULL_PORT names for the
// servers of the full-disk tests, or skips the test saying why it cannot
// run: it mounts tmpfs (root) and runs PostgreSQL's own binaries as the
// postgres user.
func pgFullSetup(t *testing.T) (bin string, port int) {
	t.Helper()
	p := os.Getenv("STORAGE_TEST_PG_FULL_PORT")
	if p == "" {
		t.Skip("starts a PostgreSQL server of its own on a small tmpfs: set STORAGE_TEST_PG_FULL_PORT to a free port (CI's fault harness does)")
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		t.Fatalf("STORAGE_TEST_PG_FULL_PORT=%q is not a port", p)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs and run PostgreSQL as the postgres user (CI runs as root): the PostgreSQL full-disk test did not run")
	}
	if _, err := user.Lookup("postgres"); err != nil {
		t.Skip("no postgres user to run the server as (install postgresql-15): the PostgreSQL full-disk test did not run")
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Skip("no PostgreSQL binaries in /usr/lib/postgresql/*/bin (install postgresql-15): the PostgreSQL full-disk test did not run")
	}
	return filepath.Dir(bins[len(bins)-1]), port
}

// asPostgres runs a PostgreSQL binary as the postgres user.
func asPostgres(bin string, args ...string) ([]byte, error) {
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...).CombinedOutput()
}

// chownPostgres gives dir to the postgres user.
func chownPostgres(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("chown", "-R", "postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v: %s", dir, err, out)
	}
}

// startPGServer creates a cluster in data (its WAL in wal when not "")
// with 1 MiB WAL segments, starts it on port and stops it (immediately)
// when the test ends. Its log goes to logDir, off the small disks.
func startPGServer(t *testing.T, bin, data, wal, logDir string, port int) *pgServer {
	t.Helper()
	args := []string{"-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--wal-segsize=1"}
	if wal != "" {
		args = append(args, "--waldir="+wal)
	}
	if out, err := asPostgres(filepath.Join(bin, "initdb"), args...); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	srv := &pgServer{bin: bin, data: data, logFile: filepath.Join(logDir, "server.log"), port: port}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
			_, _ = asPostgres(filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-t", "30", "stop", "-m", "immediate")
		}
		if t.Failed() {
			if b, err := os.ReadFile(srv.logFile); err == nil {
				t.Logf("server log:\n%s", b)
			}
		}
	})
	srv.start(t)
	return srv
}

// start starts the server (again).
func (p *pgServer) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=50"+
		" -c fsync=off -c min_wal_size=2MB -c max_wal_size=4MB -c restart_after_crash=on -c log_checkpoints=off", p.port)
	if out, err := asPostgres(filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "-l", p.logFile, "-w", "-t", "60", "-o", opts, "start"); err != nil {
		b, _ := os.ReadFile(p.logFile)
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, b)
	}
}

// running reports whether the postmaster still runs (it gives up when the
// recovery after a crash fails).
func (p *pgServer) running() bool {
	_, err := asPostgres(filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "status")
	return err == nil
}

func (p *pgServer) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&pool_max_conns=8", p.port)
}

// fullLog is a faultLog that counts the outcomes of each operation too,
// and finds more of the server's text.
type fullLog struct {
	faultLog
	byOp map[string]map[string]int // outcome by operation
}

// check records err of op, which must be nil or wrap exactly one of the
// sentinels allowed, without driver text.
func (l *fullLog) check(op string, err error, allowed ...error) {
	if err == nil {
		l.count(op, "ok")
		return
	}
	l.typed(op, err, false, allowed...)
	for _, leak := range []string{"No space", "could not", "PANIC", "unexpected EOF", "internal"} {
		if strings.Contains(err.Error(), leak) {
			l.fail(fmt.Sprintf("%s: %q carries driver text %q", op, err, leak))
		}
	}
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			l.count(op, s.Error())
		}
	}
}

func (l *fullLog) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bad = append(l.bad, msg)
}

func (l *fullLog) count(op, outcome string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byOp == nil {
		l.byOp = map[string]map[string]int{}
	}
	if l.byOp[op] == nil {
		l.byOp[op] = map[string]int{}
	}
	l.byOp[op][outcome]++
}

// counts returns the outcomes of op.
func (l *fullLog) counts(op string) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.byOp[op])
}

func (l *fullLog) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	for _, op := range slices.Sorted(maps.Keys(l.byOp)) {
		t.Logf("%s: %v", op, l.byOp[op])
	}
	l.mu.Unlock()
	l.faultLog.report(t)
}

// TestFaultsPostgresDiskFull: PostgreSQL on a full disk, through the
// engine. Three layouts, each a server of its own on a small tmpfs:
//
//   - tables: the data directory is full, the WAL elsewhere has room. A
//     write that needs a new page fails with disk_full (53100); the
//     server stays up.
//   - wal: the WAL's disk is full (a replication slot keeps every
//     segment), the tables have room. A write that needs a new WAL
//     segment makes the server PANIC and restart; its recovery fails for
//     the same want of space, and the server stops until it is started
//     again.
//   - both: the default layout, the data directory and its WAL on one
//     disk: whichever needs space first (so far, always the tables).
//
// While the disk is full every call's error wraps exactly one documented
// sentinel without driver text: ErrStorageFull where the statement failed
// for space, ErrUnavailable where the server crashed or was recovering,
// ErrCommitUnknown only for a write outside a transaction (or a commit)
// that was on the wire when it crashed. Reads answer while the server is
// up. Once the filler is removed the same store writes again, without
// reopening, and its data is whole: every acknowledged write, counts equal
// to a scan, indexes, and a change log without gaps.
func TestFaultsPostgresDiskFull(t *testing.T) {
	bin, port := pgFullSetup(t)
	for _, layout := range []string{"tables", "wal", "both"} {
		t.Run(layout, func(t *testing.T) {
			testPGDiskFull(t, bin, port, layout)
		})
	}
}

func testPGDiskFull(t *testing.T, bin string, port int, layout string) {
	base, err := os.MkdirTemp("", "sqlstore-pgfull-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(base, "small")
	if err := os.Mkdir(small, 0o755); err != nil {
		t.Fatal(err)
	}
	size := map[string]int{"tables": 48 << 20, "wal": 8 << 20, "both": 56 << 20}[layout]
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): the full-disk test did not run", err, out)
	}
	// Registered before the server's cleanup: runs after the server stops.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", small).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", small, err, out)
		}
	})
	data, wal := filepath.Join(small, "data"), ""
	switch layout {
	case "tables":
		wal = filepath.Join(base, "wal")
	case "wal":
		data, wal = filepath.Join(base, "data"), filepath.Join(small, "wal")
	}
	chownPostgres(t, base)
	srv := startPGServer(t, bin, data, wal, base, port)

	ctx := t.Context()
	s := openTest(t, srv.dsn(), WithRetention(Retention{Changes: 200}), WithSweepInterval(-1))
	defer s.Close()
	in := storage.InNamespace
	log := &fullLog{}
	mux := routes.NewMux()
	routes.Register(mux, s)
	web := httptest.NewServer(httpapi.NewHandler(mux, httpapi.Config{AllowAnonymous: true, Logger: slog.New(slog.DiscardHandler)}))
	defer web.Close()
	// Before the disk fills: documents to index, entries that expire, a
	// watch of every change.
	for i := range 100 {
		if err := s.Set(ctx, fmt.Sprintf("d%03d", i), map[string]any{"f": i, "pad": strings.Repeat("p", 200)}, in("docs")); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, fmt.Sprintf("x%03d", i), i, in("ttl"), storage.WithTTL(300*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	var watched []int64
	var watchErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev, err := range s.Watch(wctx, storage.FromRevision(0)) {
			if err != nil {
				watchErr = err
				return
			}
			watched = append(watched, ev.Revision)
		}
	})

	if layout != "tables" {
		// A replication slot whose standby never reads keeps every WAL
		// segment from now on (PostgreSQL recycles them otherwise): the
		// usual way a server's WAL fills its disk.
		if _, err := s.Backend().Pool.Exec(ctx, "SELECT pg_create_physical_replication_slot('stuck', true)"); err != nil {
			t.Fatal(err)
		}
	}
	filler := filepath.Join(small, "filler")
	fill(t, filler, -1)
	val := incompressible(16 << 10) // PostgreSQL compresses what it can
	acked := map[string]string{}    // key: its value
	quoted := `"` + val + `"`
	full := []error{storage.ErrStorageFull, storage.ErrUnavailable}
	fullOrUnknown := []error{storage.ErrStorageFull, storage.ErrUnavailable, storage.ErrCommitUnknown}
	// Writes until the disk refuses them.
	var n int
	for ; n < 3000; n++ {
		k := fmt.Sprintf("k%04d", n)
		err := s.Set(ctx, k, val)
		log.check("Set", err, fullOrUnknown...)
		if err != nil {
			break
		}
		acked[k] = quoted
	}
	t.Logf("%d writes before the disk was full", n)
	if n == 3000 {
		t.Fatalf("3000 writes of 16 KiB fit on the full disk: the filler did not fill it")
	}
	time.Sleep(400 * time.Millisecond) // the entries of ns ttl expire
	// Every kind of write, over a few rounds (a crashed server comes back
	// and fails again).
	deadline := time.Now().Add(3 * time.Second)
	for round := 0; time.Now().Before(deadline); round++ {
		err := s.Set(ctx, fmt.Sprintf("k%04d", n+round), val)
		log.check("Set", err, fullOrUnknown...)
		if err == nil {
			acked[fmt.Sprintf("k%04d", n+round)] = quoted
		}
		items := []storage.Item{{Key: fmt.Sprintf("m%d/a", round), Value: val}, {Key: fmt.Sprintf("m%d/b", round), Value: val}}
		res, err := s.SetMany(ctx, items, storage.Atomic())
		if err == nil {
			err = res.Err()
		}
		log.check("SetMany", err, fullOrUnknown...)
		tx, err := s.Begin(ctx, storage.TxOptions{})
		log.check("Begin", err, full...)
		if err == nil {
			err = tx.Set(ctx, fmt.Sprintf("t%d/a", round), val)
			log.check("Tx.Set", err, full...)
			if err == nil {
				err = tx.Set(ctx, fmt.Sprintf("t%d/b", round), val)
				log.check("Tx.Set", err, full...)
			}
			if err == nil {
				log.check("Commit", tx.Commit(ctx), fullOrUnknown...)
			} else {
				_ = tx.Rollback(ctx)
			}
		}
		log.check("CreateNamespace", s.CreateNamespace(ctx, fmt.Sprintf("ns%d", round)), fullOrUnknown...)
		err = s.CreateIndex(ctx, "docs", "f")
		if errors.Is(err, storage.ErrIndexExists) {
			err = s.DropIndex(ctx, "docs", "f")
		}
		log.check("CreateIndex", err, fullOrUnknown...)
		log.check("Delete", s.Delete(ctx, fmt.Sprintf("d%03d", round%100), in("docs")), append(fullOrUnknown, storage.ErrNotFound)...)
		_, err = s.Sweep(ctx)
		log.check("Sweep", err, full...)
		_, err = s.Compact(ctx)
		log.check("Compact", err, full...)
		// Reads answer while the server is up (ErrUnavailable while it
		// restarts).
		_, err = s.Get(ctx, "d050", in("docs"))
		log.check("Get", err, storage.ErrUnavailable, storage.ErrNotFound)
		_, err = s.Count(ctx, in("docs"))
		log.check("Count", err, storage.ErrUnavailable)
		_, err = s.List(ctx, storage.Limit(10))
		log.check("List", err, storage.ErrUnavailable)
		st, err := s.Status(ctx)
		log.check("Status", err, storage.ErrUnavailable)
		if err == nil && !st.Healthy {
			log.count("Status", "unhealthy")
		}
		// Over HTTP: the documented wire code of each sentinel.
		code, wire := httpSet(t, web.URL, fmt.Sprintf("h%d", round), val)
		log.count("HTTP set", fmt.Sprintf("%d %s", code, wire))
		if want, ok := wireFull[wire]; !ok || code != want {
			log.fail(fmt.Sprintf("HTTP set: %d %q", code, wire))
		}
		if round == 0 {
			// A store opens on the full disk, or says why not.
			if s2, err := Open(ctx, srv.dsn()); err == nil {
				log.count("Open", "ok")
				_ = s2.Close()
			} else {
				log.check("Open", err, full...)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if layout == "tables" {
		// The server never went away: only the disk refused.
		for _, op := range []string{"Set", "SetMany", "Tx.Set", "Commit", "CreateNamespace", "CreateIndex", "Delete", "Sweep", "Compact"} {
			if c := log.counts(op); c[storage.ErrUnavailable.Error()]+c[storage.ErrCommitUnknown.Error()] > 0 {
				t.Errorf("%s: %v with the WAL's disk free", op, c)
			}
		}
		if c := log.counts("Set"); c[storage.ErrStorageFull.Error()] == 0 {
			t.Errorf("no Set saw ErrStorageFull: %v", c)
		}
		for _, op := range []string{"Get", "Count", "List", "Status"} {
			if c := log.counts(op); len(c) != 1 || c["ok"] == 0 {
				t.Errorf("%s on a full disk: %v, want every read to answer", op, c)
			}
		}
	}

	// Space comes back: the same store writes again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if !srv.running() {
		t.Logf("the server gave up (its recovery failed on the full disk): started again")
		srv.start(t)
	}
	var err2 error
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(100 * time.Millisecond) {
		if err2 = s.Set(ctx, "again", 0); err2 == nil {
			break
		}
		log.check("Set after", err2, storage.ErrUnavailable, storage.ErrCommitUnknown)
	}
	if err2 != nil {
		t.Fatalf("writes still fail 30 s after the space came back: %v", err2)
	}
	for i := range 20 {
		k := fmt.Sprintf("again%d", i)
		if err := s.Set(ctx, k, val); err != nil {
			t.Errorf("write %d after freeing space: %v", i, err)
			continue
		}
		acked[k] = quoted
	}
	log.check("CreateIndex after", s.CreateIndex(ctx, "docs", "g"))
	log.check("CreateNamespace after", s.CreateNamespace(ctx, "after"))
	_, err = s.Sweep(ctx)
	log.check("Sweep after", err)

	// The data is whole.
	for k, v := range acked {
		if e, err := s.Get(ctx, k); err != nil || string(e.Value) != v {
			t.Errorf("acknowledged %s: %.20s, %v", k, e.Value, err)
		}
	}
	if _, mismatch := scanCounts(t, s); len(mismatch) > 0 {
		t.Errorf("counts: %v", mismatch)
	}
	checkIndexes(t, s)
	checkInvariants(t, s)
	checkChangeLog(t, s)
	wcancel()
	wg.Wait()
	t.Logf("the watch saw %d changes, then %v", len(watched), watchErr)
	if watchErr != nil && !errors.Is(watchErr, context.Canceled) {
		log.check("Watch", watchErr, storage.ErrUnavailable, storage.ErrWatchLagged, storage.ErrCompacted)
	}
	for i := 1; i < len(watched); i++ {
		if watched[i] != watched[i-1]+1 {
			t.Errorf("the watch saw revision %d after %d", watched[i], watched[i-1])
			break
		}
	}
	log.report(t)
}

// wireFull are the answers (code, and its documented HTTP status) a write
// over HTTP may get on a full disk.
var wireFull = map[string]int{
	"": http.StatusOK, "storage_full": http.StatusInsufficientStorage,
	"unavailable": http.StatusServiceUnavailable, "commit_unknown": http.StatusBadGateway,
}

// httpSet sets key to the string val through the HTTP API at url and
// returns the status and the error code of the answer ("" for none).
func httpSet(t *testing.T, url, key, val string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"key": key, "value": val})
	resp, err := http.Post(url+"/v1/storage/set", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("HTTP set: %v", err)
	}
	defer resp.Body.Close()
	var env struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("HTTP set: %d: %v", resp.StatusCode, err)
	}
	if env.Error == nil {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, env.Error.Code
}

// incompressible is a string of n random letters and digits.
func incompressible(n int) string {
	const abc = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = abc[rand.IntN(len(abc))]
	}
	return string(b)
}

// checkChangeLog checks that the change log holds every revision from
// Status.OldestRevision to Status.Revision, each once.
func checkChangeLog(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	var lo, hi, n int64
	if err := s.Backend().Pool.QueryRow(ctx, "SELECT coalesce(min(revision), 0), coalesce(max(revision), 0), count(*) FROM changes").Scan(&lo, &hi, &n); err != nil {
		t.Fatal(err)
	}
	if lo != st.OldestRevision || hi != st.Revision || n != hi-lo+1 {
		t.Errorf("change log: revisions %d to %d, %d rows; Status says %d to %d", lo, hi, n, st.OldestRevision, st.Revision)
	}
}
