package failover_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/txmanager"
)

const (
	envDSN  = "STORAGE_TEST_FAILOVER_DSN"
	envRuns = "STORAGE_TEST_FAILOVER_RUNS"
	scriptP = "../../.ci/autofailover.sh"

	accounts = 10
	balance  = 100
)

func script(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("bash", append([]string{scriptP}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("autofailover.sh %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("autofailover.sh %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

func formationDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(envDSN)
	if dsn == "" {
		how := `export ` + envDSN + `="$(bash .ci/autofailover.sh start)"`
		if os.Getenv("CI") == "true" {
			t.Fatal(envDSN + " is not set, and CI=true needs the failover test: " + how)
		}
		t.Skip("failover test skipped: " + how)
	}
	return dsn
}

// nodeDSN is the single-host DSN of a data node (node1 or node2).
func nodeDSN(node string) string {
	mport := 55441
	if p, err := strconv.Atoi(os.Getenv("STORAGE_TEST_AUTOFAILOVER_PORT")); err == nil {
		mport = p
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(node, "node"))
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", mport+n)
}

func TestFailover(t *testing.T) {
	dsn := formationDSN(t)
	runs := 1
	if n, err := strconv.Atoi(os.Getenv(envRuns)); err == nil && n > 0 {
		runs = n
	}
	recovery := map[string][]time.Duration{}
	// The formation outlives the test: namespaces of their own per test.
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, fault := range []string{"failover", "kill"} {
		for i := range runs {
			name := fmt.Sprintf("%s-%d", fault, i)
			t.Run(name, func(t *testing.T) {
				rec := runOnce(t, dsn, fault, name+"-"+stamp)
				for path, d := range rec {
					recovery[fault+"/"+path] = append(recovery[fault+"/"+path], d)
				}
			})
		}
	}
	keys := make([]string, 0, len(recovery))
	for k := range recovery {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ds := recovery[k]
		slices.Sort(ds)
		t.Logf("recovery %-16s p50 %v over %d runs: %v", k, ds[len(ds)/2].Round(time.Millisecond), len(ds), ds)
	}
}

// path is one way to the database: the engine, or the HTTP server.
type path struct {
	name string
	st   storage.Store
	rec  *recorder
}

// recorder keeps what a path's workers saw.
type recorder struct {
	mu      sync.Mutex
	fault   time.Time // zero until the fault
	acked   map[string]int
	doubt   [][]string // groups of keys written together whose outcome is unknown, with value
	doubtV  []int
	doubtE  []error // and the error each reported
	xferOK  []string
	xferBad map[string]error // failed transfers, with their error
	kinds   map[string]int
	untyped []string
	// after the fault
	okAfter          int
	lastFail, lastOK time.Time
	recovered        time.Time // the first success after the last failure so far
}

func newRecorder() *recorder {
	return &recorder{acked: map[string]int{}, kinds: map[string]int{}, xferBad: map[string]error{}}
}

func (r *recorder) ok(keys []string, v int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.acked[k] = v
	}
	if !r.fault.IsZero() {
		r.okAfter++
		now := time.Now()
		if r.recovered.IsZero() || r.recovered.Before(r.lastFail) {
			r.recovered = now
		}
		r.lastOK = now
	}
}

func (r *recorder) fail(keys []string, v int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := kind(err)
	r.kinds[k]++
	if k == "untyped" && len(r.untyped) < 10 {
		r.untyped = append(r.untyped, err.Error())
	}
	if keys != nil {
		r.doubt = append(r.doubt, keys)
		r.doubtV = append(r.doubtV, v)
		r.doubtE = append(r.doubtE, err)
	}
	// A conflict is the database at work (serializable transactions
	// contend with or without a failover): it does not delay recovery.
	if !r.fault.IsZero() && k != "conflict" {
		r.lastFail = time.Now()
	}
}

// steady reports whether the path has written without a failure (other
// than a conflict) for d since it last failed (or since the fault, if it
// never failed).
func (r *recorder) steady(d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.recovered.IsZero() && r.recovered.After(r.lastFail) && time.Since(r.recovered) >= d
}

// kind names the class of a failure seen during the switch. The typed
// classes, through the engine and over HTTP alike: the database is away or
// refuses writes, nothing was done (ErrUnavailable, retryable); a conflict
// to retry (ErrTxConflict); the outcome is unknown (ErrCommitUnknown); the
// caller's own deadline ran out (its outcome unknown to the caller too).
// Anything else (a driver error, an internal error on the wire) is
// untyped, and fails the test.
func kind(err error) string {
	switch {
	case errors.Is(err, storage.ErrCommitUnknown):
		return "commit-unknown"
	case errors.Is(err, storage.ErrTxConflict):
		return "conflict"
	case errors.Is(err, storage.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "untyped"
}

// inDoubt reports whether err admits that the write may have been applied.
func inDoubt(err error) bool {
	return errors.Is(err, storage.ErrCommitUnknown) || errors.Is(err, context.DeadlineExceeded)
}

// heal waits for the formation to have a primary and a secondary again. A
// node pg_auto_failover could not bring back (it has been seen, rarely, to
// leave a killed primary demoted) is made afresh by the script: what the
// formation does after the switch is not what this test checks.
func heal(t *testing.T) {
	t.Helper()
	if out := script(t, "heal", "120"); out != "" {
		t.Log(out)
	}
}

func runOnce(t *testing.T, dsn, fault, run string) map[string]time.Duration {
	heal(t)
	old := script(t, "primary")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	eng, err := sqlstore.Open(ctx, dsn+"&pool_max_conns=8")
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	mux := routes.NewMux()
	routes.Register(mux, eng)
	srv := httptest.NewServer(httpapi.NewHandler(mux, httpapi.Config{AllowAnonymous: true, Timeout: 20 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	tr, err := httpapi.NewTransport(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	cl, err := client.New(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	paths := []*path{{name: "engine", st: eng, rec: newRecorder()}, {name: "http", st: cl, rec: newRecorder()}}
	for _, p := range paths {
		items := make([]storage.Item, accounts)
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("acct:%d", i), Value: balance}
		}
		if _, err := p.st.SetMany(ctx, items, bank(run, p.name), storage.Atomic()); err != nil {
			t.Fatal(err)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range paths {
		for _, w := range []func(context.Context, string, *path, int){single, batch, transfers} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
					w(octx, run, p, i)
					ocancel()
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
	}

	time.Sleep(time.Second)
	t0 := time.Now()
	for _, p := range paths {
		p.rec.mu.Lock()
		p.rec.fault = t0
		p.rec.mu.Unlock()
	}
	switch fault {
	case "failover":
		script(t, "failover")
	case "kill":
		script(t, "kill", old)
	}
	// Load goes on until the monitor has another primary and every path
	// has written without failing for two seconds since.
	deadline := time.Now().Add(90 * time.Second)
	newPrimary, promoted := old, time.Time{}
	for time.Now().Before(deadline) {
		if promoted.IsZero() {
			if newPrimary = script(t, "primary"); newPrimary != old && newPrimary != "" {
				promoted = time.Now()
			}
		}
		steady := !promoted.IsZero() && time.Since(promoted) >= 2*time.Second
		for _, p := range paths {
			steady = steady && p.rec.steady(2*time.Second)
		}
		if steady {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if fault == "kill" {
		script(t, "revive", old)
	}
	if promoted.IsZero() {
		t.Fatalf("primary was %s, is %q %v after the fault: no failover", old, newPrimary, time.Since(t0))
	}
	t.Logf("%s promoted %v after the fault", newPrimary, promoted.Sub(t0).Round(time.Millisecond))

	check, err := sqlstore.Open(ctx, nodeDSN(newPrimary), sqlstore.WithoutMigrate())
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	out := map[string]time.Duration{}
	for _, p := range paths {
		r := p.rec
		verify(ctx, t, check, run, p)
		if len(r.untyped) > 0 {
			t.Errorf("%s: failures of no retryable type: %q", p.name, r.untyped)
		}
		if r.okAfter == 0 {
			t.Errorf("%s: no write succeeded after the fault: the pool did not reconnect", p.name)
		}
		d := time.Duration(0)
		if !r.recovered.IsZero() {
			d = r.recovered.Sub(t0)
		}
		out[p.name] = d
		t.Logf("%s: %d acknowledged writes, %d in doubt, failures %v, last failure +%v, steady writes from +%v",
			p.name, len(r.acked), len(r.doubt), r.kinds, sub(r.lastFail, t0), d.Round(time.Millisecond))
	}
	heal(t)
	return out
}

func sub(a, b time.Time) time.Duration {
	if a.IsZero() {
		return 0
	}
	return a.Sub(b).Round(time.Millisecond)
}

func bank(run, p string) storage.Option  { return storage.InNamespace("bank-" + run + "-" + p) }
func logNS(run, p string) storage.Option { return storage.InNamespace("log-" + run + "-" + p) }

func single(ctx context.Context, run string, p *path, i int) {
	k := fmt.Sprintf("s:%d", i)
	if err := p.st.Set(ctx, k, i, logNS(run, p.name)); err != nil {
		p.rec.fail([]string{k}, i, err)
		return
	}
	p.rec.ok([]string{k}, i)
}

func batch(ctx context.Context, run string, p *path, i int) {
	keys := []string{fmt.Sprintf("b:%d:a", i), fmt.Sprintf("b:%d:b", i), fmt.Sprintf("b:%d:c", i)}
	items := make([]storage.Item, len(keys))
	for j, k := range keys {
		items[j] = storage.Item{Key: k, Value: i}
	}
	res, err := p.st.SetMany(ctx, items, logNS(run, p.name), storage.Atomic())
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		p.rec.fail(keys, i, err)
		return
	}
	p.rec.ok(keys, i)
}

// transfers moves 1 between two accounts and records the transfer, in one
// serializable transaction with retries.
func transfers(ctx context.Context, run string, p *path, i int) {
	from, to := fmt.Sprintf("acct:%d", i%accounts), fmt.Sprintf("acct:%d", (i*7+3)%accounts)
	id := fmt.Sprintf("x:%d", i)
	err := txmanager.RunInTx(ctx, p.st, storage.TxOptions{Isolation: storage.LevelSerializable}, func(tx storage.Tx) error {
		for _, m := range []struct {
			key   string
			delta int
		}{{from, -1}, {to, 1}} {
			e, err := tx.Get(ctx, m.key, bank(run, p.name))
			if err != nil {
				return err
			}
			var v int
			if err := json.Unmarshal(e.Value, &v); err != nil {
				return err
			}
			if err := tx.Set(ctx, m.key, v+m.delta, bank(run, p.name)); err != nil {
				return err
			}
		}
		return tx.Set(ctx, id, i, bank(run, p.name))
	})
	p.rec.mu.Lock()
	if err == nil {
		p.rec.xferOK = append(p.rec.xferOK, id)
	} else {
		p.rec.xferBad[id] = err
	}
	p.rec.mu.Unlock()
	if err != nil {
		p.rec.fail(nil, 0, err)
		return
	}
	p.rec.ok(nil, 0)
}

// verify checks, on the new primary, every acknowledged write, that each
// write in doubt is wholly there or wholly absent, and that the accounts'
// total is conserved.
func verify(ctx context.Context, t *testing.T, st storage.Store, run string, p *path) {
	t.Helper()
	r := p.rec
	keys := make([]string, 0, len(r.acked))
	for k := range r.acked {
		keys = append(keys, k)
	}
	got := getAll(ctx, t, st, keys, logNS(run, p.name))
	for k, v := range r.acked {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: acknowledged %s = %d is lost (got %d, present %v)", p.name, k, v, g, ok)
		}
	}
	applied, absent := 0, 0
	for i, group := range r.doubt {
		g := getAll(ctx, t, st, group, logNS(run, p.name))
		switch {
		case len(g) == 0:
			absent++
		case len(g) == len(group):
			applied++
			// A write that failed yet is applied must have said it might be.
			if err := r.doubtE[i]; !inDoubt(err) {
				t.Errorf("%s: write %v failed with %q (%s), yet it is applied: want ErrCommitUnknown", p.name, group, err, kind(err))
			}
			for _, k := range group {
				if g[k] != r.doubtV[i] && r.acked[k] != g[k] {
					t.Errorf("%s: in-doubt %s holds %d, want %d", p.name, k, g[k], r.doubtV[i])
				}
			}
		default:
			t.Errorf("%s: in-doubt write %v is partly applied: %v", p.name, group, g)
		}
	}
	acct := make([]string, accounts)
	for i := range acct {
		acct[i] = fmt.Sprintf("acct:%d", i)
	}
	total := 0
	for _, v := range getAll(ctx, t, st, acct, bank(run, p.name)) {
		total += v
	}
	if total != accounts*balance {
		t.Errorf("%s: accounts total %d, want %d", p.name, total, accounts*balance)
	}
	x := getAll(ctx, t, st, r.xferOK, bank(run, p.name))
	if len(x) != len(r.xferOK) {
		t.Errorf("%s: %d of %d acknowledged transfers are recorded", p.name, len(x), len(r.xferOK))
	}
	bad := make([]string, 0, len(r.xferBad))
	for id := range r.xferBad {
		bad = append(bad, id)
	}
	xb := getAll(ctx, t, st, bad, bank(run, p.name))
	for id := range xb {
		// A transaction that failed but committed must have said so.
		if err := r.xferBad[id]; !errors.Is(err, storage.ErrCommitUnknown) {
			t.Errorf("%s: transfer %s failed with %q (%s), yet it is applied: want ErrCommitUnknown", p.name, id, err, kind(err))
		}
	}
	t.Logf("%s: writes in doubt: %d applied, %d absent; %d transfers acknowledged, %d failed (%d of them applied)",
		p.name, applied, absent, len(r.xferOK), len(r.xferBad), len(xb))
}

func getAll(ctx context.Context, t *testing.T, st storage.Store, keys []string, ns storage.Option) map[string]int {
	t.Helper()
	out := map[string]int{}
	for chunk := range slices.Chunk(keys, 500) {
		res, err := st.GetMany(ctx, chunk, ns)
		if err != nil {
			t.Fatal(err)
		}
		for k, e := range res.Entries {
			var v int
			if err := json.Unmarshal(e.Value, &v); err != nil {
				t.Fatal(err)
			}
			out[k] = v
		}
	}
	return out
}
