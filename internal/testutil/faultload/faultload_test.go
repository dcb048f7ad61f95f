package faultload_test

import (
	"context"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/internal/testutil/faultload"
	"github.com/mycelia-kernel/storage/sqlstore"
)

func open(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite:"+t.TempDir()+"/store.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestLoadWithoutFaults: without faults every call of every kind succeeds
// (but a Get or Delete of an absent key, and the batches an atomic
// DeleteMany of an absent key aborts), and Check finds nothing wrong.
// Calls get a minute: under -race on a loaded machine some took over the
// default 3 s.
func TestLoadWithoutFaults(t *testing.T) {
	s := open(t)
	load := faultload.Start(t, t.Context(), s, faultload.Config{Keys: 8, OpTimeout: time.Minute})
	ops := []string{"Set", "Get", "Delete", "Set new", "SetMany", "SetMany atomic", "DeleteMany", "Query", "List", "Count", "GetMany", "Has", "History", "Status", "Begin", "Commit", "RunInTx"}
	deadline := time.Now().Add(30 * time.Second)
	for _, op := range ops { // each kind of call succeeds at least once
		for load.Count(op, "ok") == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	load.Stop()
	t.Logf("%d writes acknowledged, %d reads:%s", load.Acked(), load.Reads(), load.Histogram())
	if load.Acked() == 0 || load.Reads() == 0 {
		t.Fatalf("nothing done: %d writes, %d reads", load.Acked(), load.Reads())
	}
	for _, outcome := range []string{"database unavailable", "commit outcome unknown", "context", "untyped"} {
		if n := load.Total(outcome); n > 0 {
			t.Errorf("%d calls ended with %s", n, outcome)
		}
	}
	for _, op := range ops {
		if load.Count(op, "ok") == 0 {
			t.Errorf("no %s succeeded", op)
		}
	}
	load.Check(t)
}

// TestLoadEndsWithTheTest: a load that is never checked stops, Watch
// consumer included, when its test ends, and its store closes cleanly.
func TestLoadEndsWithTheTest(t *testing.T) {
	s := open(t)
	var load *faultload.Load
	t.Run("load", func(t *testing.T) {
		load = faultload.Start(t, t.Context(), s, faultload.Config{Keys: 4, OpTimeout: time.Minute})
		time.Sleep(100 * time.Millisecond)
	})
	if !load.Stopped() {
		t.Error("the load still runs after its test ended")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
