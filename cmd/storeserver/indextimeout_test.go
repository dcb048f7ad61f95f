package main

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestServerBinaryIndexTimeout: the server run with --timeout 300ms
// builds, through the Go client, an index whose build takes longer
// (200,000 entries, over a second: the binary is built without the race
// detector), under --index-timeout; before --index-timeout the build was
// cut at --timeout (504 deadline_exceeded) and cleaned up, whatever the
// retries. A build in flight at SIGTERM is cancelled and answered 503
// unavailable at once, the server exits 0 (within --shutdown-timeout),
// and after a restart no trace of that index is declared.
func TestServerBinaryIndexTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	const entries = 200_000
	bin := buildServer(t)
	store := []string{"--dsn", testdb.SQLiteFile(t), "--auth", writeAuthFile(t)}
	// Filled under the default --timeout: a batch may take longer than
	// 300 ms on a loaded machine.
	s := start(t, bin, store...)
	admin := s.client(t, adminToken)
	ctx := t.Context()
	items := make([]storage.Item, 500)
	for b := 0; b < entries; b += len(items) {
		for i := range items {
			k := b + i
			items[i] = storage.Item{Key: fmt.Sprintf("k%07d", k), Value: map[string]any{"n": k, "f": k % 97, "h": fmt.Sprint("h", k%1000)}}
		}
		if res, err := admin.SetMany(ctx, items, storage.InNamespace("big")); err != nil || !res.OK() {
			t.Fatalf("SetMany: %v %v", err, res.Err())
		}
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, s.log())
	}
	args := append(store, "--timeout", "300ms", "--index-timeout", "5m", "--shutdown-timeout", "20s")
	s = start(t, bin, args...)
	admin = s.client(t, adminToken)
	begun := time.Now()
	if err := admin.CreateIndex(ctx, "big", "f"); err != nil {
		t.Fatalf("CreateIndex over %d entries with --timeout 300ms, after %v: %v", entries, time.Since(begun), err)
	}
	built := time.Since(begun)
	t.Logf("CreateIndex of f over %d entries: %v (--timeout 300ms)", entries, built.Round(time.Millisecond))
	if built < 300*time.Millisecond {
		t.Errorf("the build took %v, less than --timeout: the test proves nothing; raise its entries", built)
	}
	if ix := indexesOf(t, admin, "big"); !slices.Equal(ix, []string{"f"}) {
		t.Fatalf("indexes after CreateIndex: %q, want [f]", ix)
	}
	// A build in flight at SIGTERM.
	got := make(chan error, 1)
	go func() { got <- admin.CreateIndex(ctx, "big", "h") }()
	time.Sleep(built / 4)
	stopped := make(chan int, 1)
	go func() { stopped <- s.stop(t) }()
	select {
	case err := <-got:
		if err == nil {
			t.Logf("the build of h ended before SIGTERM reached it (a build of f took %v)", built)
		} else if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("CreateIndex at SIGTERM = %v; want unavailable", err)
		} else {
			t.Logf("CreateIndex at SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("CreateIndex at SIGTERM still runs 30 s later:\n%s", s.log())
	}
	if code := <-stopped; code != 0 {
		t.Fatalf("exit code %d after SIGTERM beside a build:\n%s", code, s.log())
	}
	s = start(t, bin, args...)
	admin = s.client(t, adminToken)
	ix := indexesOf(t, admin, "big")
	if !slices.Equal(ix, []string{"f"}) && !slices.Equal(ix, []string{"f", "h"}) {
		t.Errorf("indexes after the restart: %q, want [f] (or [f h] had the build ended first)", ix)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, s.log())
	}
}

// indexesOf returns the declared indexes of namespace ns.
func indexesOf(t *testing.T, st *client.Store, ns string) []string {
	t.Helper()
	list, err := st.ListNamespaces(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if n.Name == ns {
			return n.Indexes
		}
	}
	t.Fatalf("no namespace %q in %+v", ns, list)
	return nil
}
