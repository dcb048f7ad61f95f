package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestRaceDiskFullNewerPaths: on a SQLite disk that fills and empties
// again, imports (Restore, RestoreNamespace with indexes), Compact, Sweep,
// expiring writes and the change log's readers fail with ErrStorageFull
// (or a conflict), never with SQLite's "database or disk is full" text or
// an untyped error, and the indexes stay whole.
func TestRaceDiskFullNewerPaths(t *testing.T) {
	dir := smallDisk(t, 16<<20)
	s := openTest(t, "sqlite:"+filepath.Join(dir, "store.db"), WithRetention(Retention{Changes: 50}), WithSweepInterval(-1))
	defer s.Close()
	const ns = "n"
	in := storage.InNamespace
	log := &faultLog{}
	// The calls run for 2 s, and on until one has seen the disk full (30 s
	// at most): a write that does not grow a file needs no space (the WAL
	// is written again from its start after a checkpoint), so on a loaded
	// machine, where few calls run, the filler's full spells could pass
	// without one (the test failed so, about 1 in 20, with GOMAXPROCS=1
	// beside a load of 20).
	ctx, cancel := context.WithTimeout(t.Context(), 32*time.Second)
	defer cancel()
	sawFull := func() int {
		log.mu.Lock()
		defer log.mu.Unlock()
		return log.counts[storage.ErrStorageFull.Error()]
	}
	full := []error{storage.ErrStorageFull, storage.ErrTxConflict}
	now := time.Now().UTC()
	big := make([]byte, 1000)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	var wg sync.WaitGroup
	wg.Go(func() { // imports
		for i := 0; ctx.Err() == nil; i++ {
			recs := make([]Record, 8)
			for j := range recs {
				recs[j] = Record{Namespace: ns, Key: fmt.Sprintf("r%d", (i*8+j)%400), Value: []byte(fmt.Sprintf(`{"v":%d,"s":%q}`, i, big)),
					Metadata: []byte(`{}`), Version: 1, CreatedAt: now, UpdatedAt: now}
			}
			_, err := s.Restore(ctx, recs, ConflictOverwrite)
			log.typed("Restore", err, ctx.Err() != nil, full...)
			_, err = s.RestoreNamespace(ctx, NamespaceRecord{Name: fmt.Sprintf("m%d", i%20), Metadata: []byte(`{}`), CreatedAt: now,
				Indexes: []string{"v", "s"}}, ConflictOverwrite)
			log.typed("RestoreNamespace", err, ctx.Err() != nil, full...)
		}
	})
	wg.Go(func() { // expiring writes, the sweeper and compaction
		for i := 0; ctx.Err() == nil; i++ {
			err := s.Set(ctx, fmt.Sprintf("m%d/%d", i%20, i%100), map[string]any{"v": i, "s": string(big[:300])},
				in(fmt.Sprintf("m%d", i%20)), storage.WithTTL(time.Millisecond))
			log.typed("Set", err, ctx.Err() != nil, full...)
			if i%10 == 0 {
				_, err = s.Sweep(ctx)
				log.typed("Sweep", err, ctx.Err() != nil, full...)
				_, err = s.Compact(ctx)
				log.typed("Compact", err, ctx.Err() != nil, full...)
			}
		}
	})
	wg.Go(func() { // the change log's readers and Export
		for i := 0; ctx.Err() == nil; i++ {
			_, err := s.History(ctx, fmt.Sprintf("r%d", i%400), in(ns))
			log.typed("History", err, ctx.Err() != nil, full...)
			err = s.Export(ctx, ExportOptions{Namespace: ns, PageSize: 50}, nil, func(Record) error { return nil })
			log.typed("Export", err, ctx.Err() != nil, append(full, storage.ErrNamespaceNotFound)...)
		}
	})
	wg.Go(func() { // the clock
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
		}
		for ctx.Err() == nil && sawFull() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	})
	wg.Go(func() { // the filler
		filler := filepath.Join(dir, "filler")
		for ctx.Err() == nil {
			fill(t, filler, -1)
			time.Sleep(150 * time.Millisecond)
			_ = os.Remove(filler)
			time.Sleep(150 * time.Millisecond)
		}
		_ = os.Remove(filler)
	})
	wg.Wait()
	log.report(t)
	if out, err := exec.Command("du", "-a", dir).CombinedOutput(); err == nil {
		t.Logf("at the end:\n%s", out)
	}
	if sawFull() == 0 {
		t.Errorf("no call saw the disk full: the filler did not fill it")
	}
	// Readers back to back starve the passive checkpoints, and the WAL
	// can take what the filler left (see the package doc, "WAL"; the
	// TRUNCATE checkpoint comes at 64 MiB, more than this disk): give its
	// space back before the checks, which write.
	if _, err := s.eng.writer().exec(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Logf("checkpoint: %v", err)
	}
	checkIndexes(t, s)
	checkInvariants(t, s)
	if err := s.Set(context.Background(), "after", 1); err != nil && !errors.Is(err, storage.ErrStorageFull) {
		t.Errorf("Set after the fills: %v", err)
	}
}
