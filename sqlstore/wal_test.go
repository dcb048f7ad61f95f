package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestWALBounded: under continuous single writes with concurrent readers
// (gets, lists, read-only transactions), SQLite's WAL stays within a few MB: the store
// lets SQLite checkpoint while it is open (walhook.go). Before, single
// writes never checkpointed and the WAL grew with everything written.
func TestWALBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	s := openTest(t, "sqlite:"+path)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const (
		valueSize = 32 << 10
		writes    = 600 // about 20 MB written, 5x the WAL's checkpoint point
		keys      = 64
	)
	val := strings.Repeat("v", valueSize)
	var maxWAL atomic.Int64
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	var readers sync.WaitGroup
	var reads atomic.Int64
	for r := range 4 {
		readers.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				var err error
				switch (i + r) % 3 {
				case 0:
					_, err = s.Get(ctx, fmt.Sprintf("k%d", i%keys))
				case 1:
					_, err = s.List(ctx, storage.Limit(10))
				case 2:
					var tx storage.Tx
					if tx, err = s.Begin(ctx, storage.TxOptions{ReadOnly: true}); err == nil {
						_, err = tx.Count(ctx)
						_ = tx.Rollback(ctx)
					}
				}
				if err != nil && ctx.Err() == nil && !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("read: %v", err)
					return
				}
				reads.Add(1)
			}
		})
	}
	for i := range writes {
		// Single writes: a batch or a transaction ends with a COMMIT,
		// which always let SQLite checkpoint.
		var err error
		k := fmt.Sprintf("k%d", i%keys)
		if i%2 == 0 {
			err = s.Set(ctx, k, val)
		} else {
			err = s.Set(ctx, k, val, storage.WithMetadata(map[string]any{"i": i}))
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if w := walSize(); w > maxWAL.Load() {
			maxWAL.Store(w)
		}
	}
	cancel()
	readers.Wait()
	db, _ := os.Stat(path)
	t.Logf("%d writes of %d KiB, %d reads: largest WAL %.1f MB, database %.1f MB",
		writes, valueSize>>10, reads.Load(), float64(maxWAL.Load())/1e6, float64(db.Size())/1e6)
	if limit := int64(12 << 20); maxWAL.Load() > limit {
		t.Errorf("the WAL reached %d bytes, more than %d: it is not checkpointed", maxWAL.Load(), limit)
	}
}
