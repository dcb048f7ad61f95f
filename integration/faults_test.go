package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/faultload"
	"github.com/mycelia-kernel/storage/sqlstore"
)

const faultNS = "faults"

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

// faultRun starts a durable container on a fixed host port (so the DSN
// stays valid across restarts), runs the mixed fault workload (faultload:
// single Set, Get, Delete, Sets of new keys, SetMany, a filtered Query,
// read-modify-write transactions by hand and with RunInTx, a Watch
// consumer) through one store, calls fault in the middle, and checks that
// every error the calls returned while the server was away is one the
// contract allows (ErrUnavailable, ErrCommitUnknown for writes and
// commits, ErrTxConflict in transactions, a call's context that ended),
// that the same store serves again, that every acknowledged write
// (commits and batches included) is there, and that the Watch consumer,
// resumed after each error, holds what the store holds.
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

	load := faultload.Start(t, ctx, s, faultload.Config{Namespace: faultNS, OpTimeout: 3 * time.Second})
	if !waitFor(30*time.Second, func() bool { return load.Acked() >= 150 }) {
		t.Fatalf("only %d writes acknowledged before the fault", load.Acked())
	}
	before := load.Acked()
	start := time.Now()
	fault(t, pg.GetContainerID())
	atFault := load.Acked()
	// The pool recovers: the same store acknowledges new writes.
	if !waitFor(90*time.Second, func() bool { return load.Acked() >= atFault+150 }) {
		t.Fatalf("the store did not recover: %d writes acknowledged after the fault; outcomes:%s",
			load.Acked()-atFault, load.Histogram())
	}
	recovered := time.Since(start)
	load.Stop()
	t.Logf("%d writes acknowledged (%d before the fault, %d after), %d reads; writes resumed %v after the fault began; outcomes:%s",
		load.Acked(), before, load.Acked()-atFault, load.Reads(), recovered.Round(time.Millisecond), load.Histogram())
	load.Check(t)
	if load.Total(strings.TrimPrefix(storage.ErrUnavailable.Error(), "storage: ")) == 0 {
		t.Errorf("no call saw the server away (ErrUnavailable): the fault did not happen under load")
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
