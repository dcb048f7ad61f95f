package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestCancelledCallsLeakNoHandles: reads and writes whose context ends
// while they run (on SQLite the driver interrupts the statement, and
// database/sql may then discard the connection) leave no SQLite handle
// behind: the
// files the store holds open stay bounded by its connections, and none is
// open after Close. A statement the engine kept prepared on a discarded
// connection outside database/sql's knowledge (driver statements cached
// per connection, tried for point reads and reverted) kept the connection
// a zombie: 573 handles after 3000 such reads, each with the database,
// WAL and shared-memory files open.
func TestCancelledCallsLeakNoHandles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts open files through /proc/self/fd")
	}
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "d.db")
	s := openTest(t, "sqlite:"+path+"?readers=2", WithSweepInterval(-1))
	defer s.Close()
	var items []storage.Item
	for i := range 2000 {
		items = append(items, storage.Item{Key: fmt.Sprintf("k%05d", i), Value: map[string]any{"n": i}})
	}
	if res, err := s.SetMany(ctx, items); err != nil || !res.OK() {
		t.Fatalf("SetMany: %v %v", err, res.Err())
	}
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%05d", i*7)
	}
	rounds := 3000
	if raceEnabled {
		rounds = 1000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range rounds {
		c, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(200))*time.Microsecond)
		switch i % 7 {
		case 0:
			_, _ = s.GetMany(c, keys)
		case 1:
			_, _ = s.Query(c, storage.All(), storage.Limit(500))
		case 2:
			_, _ = s.Has(c, "k00010")
		case 3:
			_, _ = s.Get(c, "k00010")
		case 4:
			_, _ = s.SetMany(c, items[:300])
		case 5:
			_ = s.Set(c, "a", i)
		default:
			if tx, err := s.Begin(c, storage.TxOptions{}); err == nil {
				_, _ = tx.Get(c, "a")
				_ = tx.Set(c, "b", i)
				_ = tx.Commit(c)
			}
		}
		cancel()
	}
	// The store still works.
	if err := s.Set(ctx, "final", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "final"); err != nil {
		t.Fatal(err)
	}
	// The writer and at most two readers, each with the database, WAL and
	// shared-memory files: 9, and a little room.
	if n := openFilesUnder(t, dir); n > 12 {
		t.Errorf("%d files of the store's directory open after %d cancelled calls, want at most 12", n, rounds)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkReadsReleased(t, s.eng.(*sqliteEngine))
	if n := openFilesUnder(t, dir); n != 0 {
		t.Errorf("%d files of the store's directory open after Close", n)
	}
}

// openFilesUnder counts this process's open files under dir.
func openFilesUnder(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}
