package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// smallDisk mounts a tmpfs of size bytes for the test and returns its path.
// It skips the test, saying why, when the process is not root (mounting
// needs it) or the mount fails; CI runs as root.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root): the full-disk test did not run")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): the full-disk test did not run", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a filler file of n bytes (or until the disk is full, n < 0).
func fill(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for written := 0; n < 0 || written < n; written += len(buf) {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}

// TestDiskFull: on a full disk a SQLite write is ErrStorageFull (it was a
// raw "database or disk is full" internal error), reads go on, and once
// space is freed writes succeed again without reopening the store.
func TestDiskFull(t *testing.T) {
	dir := smallDisk(t, 8<<20)
	s := openTest(t, "sqlite:"+filepath.Join(dir, "store.db"))
	defer s.Close()
	ctx := t.Context()
	filler := filepath.Join(dir, "filler")
	fill(t, filler, 4<<20)
	val := strings.Repeat("x", 64<<10)
	var err error
	n := 0
	for ; n < 1000; n++ {
		if err = s.Set(ctx, fmt.Sprintf("k%d", n), val); err != nil {
			break
		}
	}
	if !errors.Is(err, storage.ErrStorageFull) || n == 0 {
		t.Fatalf("after %d writes: %v, want ErrStorageFull", n, err)
	}
	for _, leak := range []string{"(13)", "SQLITE", "disk is full"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("%q carries the driver's text %q", err, leak)
		}
	}
	_, err = s.SetMany(ctx, []storage.Item{{Key: "batch", Value: val}, {Key: "batch2", Value: val}})
	if !errors.Is(err, storage.ErrStorageFull) {
		t.Errorf("SetMany on a full disk: %v, want ErrStorageFull", err)
	}
	// Reads go on.
	if _, err := s.Get(ctx, "k0"); err != nil {
		t.Errorf("Get on a full disk: %v", err)
	}
	if c, err := s.Count(ctx); err != nil || c != int64(n) {
		t.Errorf("Count on a full disk = %d, %v; want %d", c, err, n)
	}
	if st, err := s.Status(ctx); err != nil || !st.Healthy {
		t.Errorf("Status on a full disk = %+v, %v", st, err)
	}
	// Space comes back: writes succeed again, without reopening.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i := range 20 {
		if err := s.Set(ctx, fmt.Sprintf("again%d", i), val); err == nil {
			ok++
		} else {
			t.Logf("write %d after freeing space: %v", i, err)
		}
	}
	if ok != 20 {
		t.Errorf("%d of 20 writes succeeded once space was freed", ok)
	}
	checkInvariants(t, s)
}

// TestFaultsDiskFillsAndEmpties: the fault harness on SQLite while the
// disk under the store fills up and empties again, over and over.
func TestFaultsDiskFillsAndEmpties(t *testing.T) {
	dir := smallDisk(t, 16<<20)
	s := openTest(t, "sqlite:"+filepath.Join(dir, "store.db"))
	defer s.Close()
	allowed := []error{storage.ErrTxConflict, storage.ErrNotFound, storage.ErrStorageFull}
	log := runFaults(t, s, 2*time.Second, allowed, func(ctx context.Context) {
		filler := filepath.Join(dir, "filler")
		for ctx.Err() == nil {
			fill(t, filler, -1)
			time.Sleep(150 * time.Millisecond)
			_ = os.Remove(filler)
			time.Sleep(150 * time.Millisecond)
		}
	})
	log.report(t)
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.counts[storage.ErrStorageFull.Error()] == 0 {
		t.Errorf("no write saw the disk full: the filler did not fill it")
	}
}

// TestOpenDiskFull (issue 16 item 2): a store whose disk is full when it
// opens opens read-only (it failed with "disk I/O error"): reads answer
// everything acknowledged before, Status says read-only and why, and
// every write is ErrStorageFull.
func TestOpenDiskFull(t *testing.T) {
	dir := smallDisk(t, 8<<20)
	dsn := "sqlite:" + filepath.Join(dir, "store.db")
	ctx := t.Context()
	s := openTest(t, dsn)
	for i := range 50 {
		if err := s.Set(ctx, fmt.Sprintf("k%02d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fill(t, filepath.Join(dir, "filler"), -1)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	defer s.Close()
	checkFullReadOnly(t, s, 50)
}

// checkFullReadOnly checks a store opened read-only on a full disk that
// holds keys k00 … k{n-1}.
func checkFullReadOnly(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := t.Context()
	st, err := s.Status(ctx)
	if err != nil || !st.Healthy || !st.ReadOnly || !strings.Contains(st.Degraded, "full") || st.Size != int64(n) {
		t.Errorf("Status = %+v, %v; want healthy, read-only, degraded saying the disk is full, size %d", st, err, n)
	}
	if e, err := s.Get(ctx, "k07"); err != nil || string(e.Value) != "7" {
		t.Errorf("Get = %s, %v", e.Value, err)
	}
	if c, err := s.Count(ctx); err != nil || c != int64(n) {
		t.Errorf("Count = %d, %v; want %d", c, err, n)
	}
	if res, err := s.List(ctx, storage.Limit(3)); err != nil || len(res.Keys) != 3 {
		t.Errorf("List = %v, %v", res, err)
	}
	ro, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Begin: %v", err)
	}
	if _, err := ro.Get(ctx, "k01"); err != nil {
		t.Errorf("Get in a read-only transaction: %v", err)
	}
	_ = ro.Rollback(ctx)
	for name, write := range map[string]func() error{
		"Set":             func() error { return s.Set(ctx, "new", 1) },
		"Delete":          func() error { return s.Delete(ctx, "k01") },
		"SetMany":         func() error { _, err := s.SetMany(ctx, []storage.Item{{Key: "a", Value: 1}}); return err },
		"Clear":           func() error { return s.Clear(ctx) },
		"CreateNamespace": func() error { return s.CreateNamespace(ctx, "fresh") },
		"Begin":           func() error { _, err := s.Begin(ctx, storage.TxOptions{}); return err },
	} {
		if err := write(); !errors.Is(err, storage.ErrStorageFull) {
			t.Errorf("%s on a store opened read-only: %v, want ErrStorageFull", name, err)
		}
	}
	if c, err := s.Count(ctx); err != nil || c != int64(n) {
		t.Errorf("Count after refused writes = %d, %v; want %d", c, err, n)
	}
}

// TestOpenDiskFullAfterCrash: the same with a WAL that still holds the
// last writes (the store did not close: its files are copied while it
// runs, as a crash leaves them); the read-only store reads them too.
func TestOpenDiskFullAfterCrash(t *testing.T) {
	dir := smallDisk(t, 8<<20)
	ctx := t.Context()
	s := openTest(t, "sqlite:"+filepath.Join(dir, "store.db"))
	for i := range 50 {
		if err := s.Set(ctx, fmt.Sprintf("k%02d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	crash := filepath.Join(dir, "crash")
	if err := os.Mkdir(crash, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, "store.db"+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if suffix == "-wal" && len(b) == 0 {
			t.Fatal("the WAL is empty: nothing to recover")
		}
		if err := os.WriteFile(filepath.Join(crash, "store.db"+suffix), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fill(t, filepath.Join(dir, "filler"), -1)
	s, err := Open(ctx, "sqlite:"+filepath.Join(crash, "store.db"))
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	defer s.Close()
	checkFullReadOnly(t, s, 50)
}
