package sqlstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/faultload"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/txmanager"
)

// terminator kills, every few tens of milliseconds, one backend of the
// connections named app (application_name) at random, from a connection
// of its own, until ctx ends; it returns how many it killed.
func terminator(t *testing.T, ctx context.Context, app string) int {
	return terminateWhere(t, ctx, "application_name", app)
}

// terminateWhere is terminator for the backends whose column of
// pg_stat_activity (application_name, usename) is value.
func terminateWhere(t *testing.T, ctx context.Context, column, value string) int {
	return pgtest.TerminateWhere(t, ctx, column, value)
}

// TestFaultsTerminateBackends: the mixed workload (faultload: Set, Get,
// Delete, SetMany, a filtered Query, read-modify-write transactions by
// hand and with RunInTx, a Watch consumer) while another connection
// terminates the store's backends at random (pg_terminate_backend: the
// server ends the session, with its statement or its COMMIT in flight).
// Every error is typed (ErrUnavailable, ErrCommitUnknown for writes and
// commits, ErrTxConflict in transactions), nothing acknowledged is lost,
// the Watch consumer misses nothing, and once the kills stop every kind of
// call succeeds again on the same store.
func TestFaultsTerminateBackends(t *testing.T) {
	var b [4]byte
	_, _ = crand.Read(b[:])
	app := "faultmix_" + hex.EncodeToString(b[:])
	s := openTest(t, testdb.Postgres(t, "t", "pool_max_conns", "8", "application_name", app))
	defer s.Close()
	ctx := t.Context()

	load := faultload.Start(t, ctx, s, faultload.Config{OpTimeout: 5 * time.Second})
	if !waitUntil(10*time.Second, func() bool { return load.Acked() >= 50 }) {
		t.Fatalf("only %d writes acknowledged before the kills", load.Acked())
	}
	kctx, stopKills := context.WithTimeout(ctx, 3*time.Second)
	defer stopKills()
	killed := terminator(t, kctx, app)
	atEnd := load.Acked()
	// The store recovers under the load: new writes are acknowledged.
	if !waitUntil(10*time.Second, func() bool { return load.Acked() >= atEnd+50 }) {
		t.Errorf("the store did not recover: %d writes acknowledged after the kills", load.Acked()-atEnd)
	}
	load.Stop()
	t.Logf("%d backends terminated; %d writes acknowledged, %d reads; outcomes:%s", killed, load.Acked(), load.Reads(), load.Histogram())
	load.Check(t)
	if killed == 0 || load.Total(storage.ErrUnavailable.Error()[len("storage: "):]) == 0 {
		t.Errorf("%d backends killed, no call saw ErrUnavailable: the fault did not happen under load", killed)
	}
	// Every kind of call succeeds on the store once the kills stopped.
	checkCallsSucceed(t, s)
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// checkCallsSucceed runs each kind of call of the fault load once, each on
// as many connections as the pool holds at once (so that no connection
// the faults broke is left unused), and fails on any error.
func checkCallsSucceed(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := storage.InNamespace("after")
	if err := s.Set(ctx, "k", 0, in); err != nil {
		t.Errorf("Set after the faults: %v", err)
	}
	calls := []struct {
		name string
		call func(i int) error
	}{
		{"Set", func(i int) error { return s.Set(ctx, "k", i, in) }},
		{"Get", func(int) error {
			_, err := s.Get(ctx, "k", in)
			return err
		}},
		{"SetMany", func(i int) error {
			_, err := s.SetMany(ctx, []storage.Item{{Key: "a", Value: i}, {Key: "b", Value: i}}, in)
			return err
		}},
		{"Delete", func(i int) error {
			k := fmt.Sprintf("d%d", i)
			if err := s.Set(ctx, k, 1, in); err != nil {
				return err
			}
			return s.Delete(ctx, k, in)
		}},
		{"Query", func(int) error {
			_, err := s.Query(ctx, storage.Gte("n", 0), in)
			return err
		}},
		{"Begin/Commit", func(i int) error {
			tx, err := s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx) //nolint:errcheck // after Commit: a no-op
			if _, err := tx.Get(ctx, "k", in); err != nil {
				return err
			}
			if err := tx.Set(ctx, "k", i, in); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}},
		{"RunInTx", func(i int) error {
			return txmanager.RunInTxPolicy(ctx, s, storage.TxOptions{}, txmanager.RetryPolicy{MaxAttempts: 1}, func(tx storage.Tx) error {
				return tx.Set(ctx, "k", i, in)
			})
		}},
	}
	for _, c := range calls {
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := range 8 {
			wg.Go(func() {
				if err := c.call(i); err != nil {
					if failed.Add(1) <= 3 {
						t.Errorf("%s after the faults: %v", c.name, err)
					}
				}
			})
		}
		wg.Wait()
	}
}
