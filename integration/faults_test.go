package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// acks records the writes a store acknowledged (Set returned nil).
type acks struct {
	mu   sync.Mutex // protects keys
	keys map[string]int

	n    atomic.Int64 // acknowledged writes
	errs atomic.Int64 // failed writes (outcome unknown: not counted)
}

func newAcks() *acks { return &acks{keys: map[string]int{}} }

func (a *acks) add(key string, i int) {
	a.mu.Lock()
	a.keys[key] = i
	a.mu.Unlock()
	a.n.Add(1)
}

func (a *acks) snapshot() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]int, len(a.keys))
	for k, v := range a.keys {
		m[k] = v
	}
	return m
}

const faultNS = "faults"

// writeLoad runs writers that Set new keys until ctx ends, recording each
// acknowledged write. A failed write is retried with a new key.
func writeLoad(ctx context.Context, s storage.Store, workers int, a *acks) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d-%07d", w, i)
				opCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
				err := s.Set(opCtx, key, map[string]any{"w": w, "i": i}, storage.InNamespace(faultNS))
				cancel()
				if err == nil {
					a.add(key, i)
					continue
				}
				a.errs.Add(1)
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	return &wg
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// checkAcked verifies that every acknowledged write is in the store, with its
// value.
func checkAcked(t *testing.T, s storage.Store, acked map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	missing := 0
	for len(keys) > 0 {
		n := min(500, len(keys))
		batch := keys[:n]
		keys = keys[n:]
		res, err := s.GetMany(ctx, batch, storage.InNamespace(faultNS))
		if err != nil {
			t.Fatalf("GetMany: %v", err)
		}
		for _, k := range batch {
			e, ok := res.Entries[k]
			if !ok {
				missing++
				if missing <= 10 {
					t.Errorf("acknowledged write %s is missing (%v)", k, res.Errors[k])
				}
				continue
			}
			var v struct{ I int }
			if err := json.Unmarshal(e.Value, &v); err != nil || v.I != acked[k] {
				t.Errorf("%s = %s, want i=%d", k, e.Value, acked[k])
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged writes are missing", missing, len(acked))
	}
}

// faultRun starts a durable container on a fixed host port (so the DSN
// stays valid across restarts), runs a write workload through one store,
// calls fault in the middle, and checks that writes resume on the same store
// and that every acknowledged write is there.
func faultRun(t *testing.T, fault func(t *testing.T, id string)) {
	pg := startPostgres(t, pgOptions{durable: true, hostPort: freePort(t)})
	dsn := withParams(t, pg.DSN, map[string]string{"pool_max_conns": "8", "connect_timeout": "3"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var fsync string
	if err := s.Backend().Pool.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != "on" {
		t.Fatalf("fsync = %q (%v), want on", fsync, err)
	}

	a := newAcks()
	loadCtx, stopLoad := context.WithCancel(ctx)
	wg := writeLoad(loadCtx, s, 4, a)
	defer func() { stopLoad(); wg.Wait() }()
	if !waitFor(30*time.Second, func() bool { return a.n.Load() >= 300 }) {
		t.Fatalf("only %d writes acknowledged before the fault", a.n.Load())
	}
	before := a.n.Load()
	start := time.Now()
	fault(t, pg.GetContainerID())
	atFault := a.n.Load()
	// The pool recovers: the same store acknowledges new writes.
	if !waitFor(90*time.Second, func() bool { return a.n.Load() >= atFault+300 }) {
		t.Fatalf("the store did not recover: %d writes acknowledged after the fault (errors: %d)",
			a.n.Load()-atFault, a.errs.Load())
	}
	recovered := time.Since(start)
	stopLoad()
	wg.Wait()
	acked := a.snapshot()
	t.Logf("%d writes acknowledged (%d before the fault, %d after), %d failed; writes resumed %v after the fault began",
		len(acked), before, int64(len(acked))-atFault, a.errs.Load(), recovered.Round(time.Millisecond))
	checkAcked(t, s, acked)
	n, err := s.Count(ctx, storage.InNamespace(faultNS))
	if err != nil || n < int64(len(acked)) {
		t.Errorf("Count = %d (%v), want >= %d", n, err, len(acked))
	}
}

// TestRestartDuringWrites restarts the container (docker restart: a fast
// shutdown, then a start) in the middle of a write workload.
func TestRestartDuringWrites(t *testing.T) {
	faultRun(t, func(t *testing.T, id string) {
		docker(t, "restart", "--time", "10", id)
	})
}

// TestKillDuringWrites kills the container (SIGKILL to the server, no
// shutdown) during writes, then starts it again: crash recovery must keep
// every acknowledged write.
func TestKillDuringWrites(t *testing.T) {
	faultRun(t, func(t *testing.T, id string) {
		docker(t, "kill", id)
		time.Sleep(500 * time.Millisecond) // writes fail for a while
		docker(t, "start", id)
		// The server did not shut down: it recovered from its WAL.
		if !waitFor(30*time.Second, func() bool {
			return strings.Contains(docker(t, "logs", id), "automatic recovery in progress")
		}) {
			t.Error("the server's log shows no crash recovery after docker kill")
		}
	})
}
