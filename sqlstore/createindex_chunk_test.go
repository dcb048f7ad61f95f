package sqlstore

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestIndexBuildChunkTimeBounded: a build over entries with large values
// holds SQLite's one writer a chunk at a time, each chunk about
// indexChunkTarget (2 ms here, so that a build of a test's size has many),
// whatever the values' size: a set in another namespace waits for one
// short chunk at most. Before, a chunk was 2000 entries whatever their
// size, and over entries of 200 KB (here 480 of them, one chunk) the set
// waited for the whole build (2000 of them are 400 MB of JSON to read:
// about 0.4 s of the writer held, 1.5 s under the race detector).
func TestIndexBuildChunkTimeBounded(t *testing.T) {
	defer func(d time.Duration) { indexChunkTarget = d }(indexChunkTarget)
	indexChunkTarget = 2 * time.Millisecond
	ctx := t.Context()
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "chunk.db"), WithSweepInterval(-1))
	defer s.Close()
	must(t, s.CreateNamespace(ctx, "big"))
	must(t, s.CreateNamespace(ctx, "other"))
	pad := strings.Repeat("x", 200<<10)
	for i := range 480 {
		must(t, s.Set(ctx, fmt.Sprintf("k%03d", i), map[string]any{"pad": pad, "n": i}, storage.InNamespace("big")))
	}
	start := time.Now()
	must(t, s.CreateIndex(ctx, "big", "n"))
	alone := time.Since(start)
	must(t, s.DropIndex(ctx, "big", "n"))
	must(t, s.Set(ctx, "b", 0, storage.InNamespace("other")))

	var wg sync.WaitGroup
	built := make(chan error, 1)
	wg.Go(func() { built <- s.CreateIndex(ctx, "big", "n") })
	var longest time.Duration
	sets := 0
	for running := true; running; sets++ {
		t0 := time.Now()
		must(t, s.Set(ctx, "b", sets, storage.InNamespace("other")))
		longest = max(longest, time.Since(t0))
		select {
		case err := <-built:
			must(t, err)
			running = false
		case <-time.After(5 * time.Millisecond):
		}
	}
	wg.Wait()
	t.Logf("a build over 480 entries of 200 KB: %v alone; beside it %d sets, the longest %v", alone.Round(time.Millisecond), sets, longest.Round(time.Millisecond))
	if limit := alone / 2; sets < 2 || longest > limit {
		t.Errorf("a set beside the build took %v (%d sets), more than %v: it waited for a chunk of the build as long as the build (%v alone)", longest, sets, limit, alone)
	}
	n, err := s.Count(ctx, storage.InNamespace("big"), storage.Where(storage.Eq("n", 7)))
	if err != nil || n != 1 {
		t.Fatalf("Count(n = 7) = %d, %v; want 1", n, err)
	}
}
