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
