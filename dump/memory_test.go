package dump_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
)

// peakHeap samples the heap in use while fn runs and returns the peak
// above what was in use before.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// TestMemoryBounded exports and imports a file several times larger than
// the heap they may use: large values, so that pages and batches are bounded
// by bytes as well as by count.
func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	n, valueSize := 720, 96<<10 // ~70 MB of values
	small := testing.Short() || raceEnabled
	if small {
		n = 120
	}
	src := teststore.Open(t, backends[0].DSN(t))
	big := strings.Repeat("x", valueSize-64)
	for from := 0; from < n; from += 40 {
		items := make([]storage.Item, 0, 40)
		for i := from; i < from+40 && i < n; i++ {
			items = append(items, storage.Item{Key: fmt.Sprintf("k%05d", i), Value: map[string]any{"i": i, "pad": big}})
		}
		if res, err := src.SetMany(ctx, items); err != nil || !res.OK() {
			t.Fatal(err, res.Err())
		}
	}
	path := filepath.Join(t.TempDir(), "big.ndjson")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var st dump.Stats
	exportPeak := peakHeap(func() { st, err = dump.Export(ctx, src, f, dump.ExportOptions{}) })
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	dst := teststore.Open(t, backends[0].DSN(t))
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Close() }()
	var ist dump.ImportStats
	importPeak := peakHeap(func() { ist, err = dump.Import(ctx, dst, in, dump.ImportOptions{}) })
	if err != nil {
		t.Fatal(err)
	}
	if ist.Inserted != n {
		t.Fatalf("imported %d of %d", ist.Inserted, n)
	}
	t.Logf("file %d MB; peak heap above baseline: export %d MB, import %d MB",
		st.Bytes>>20, exportPeak>>20, importPeak>>20)
	// A page holds about 4 MiB of JSON and a batch as much, with their
	// statement and driver copies: the heap stays well under the file.
	const limit = 32 << 20
	if st.Bytes < 2*limit && !small {
		t.Fatalf("the file (%d bytes) is too small to show anything", st.Bytes)
	}
	if exportPeak > limit || importPeak > limit {
		t.Errorf("peak heap export %d, import %d bytes; want at most %d for a %d-byte file",
			exportPeak, importPeak, limit, st.Bytes)
	}
}
