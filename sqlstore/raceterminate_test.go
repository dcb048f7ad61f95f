package sqlstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestRaceTerminateNewerPaths: imports (Restore, RestoreNamespace),
// Export, index changes, Compact, Sweep, History, Get at a revision and a
// Watch while another connection terminates the store's backends at random
// (pg_terminate_backend): every error is ErrUnavailable (ErrCommitUnknown
// for an import, whose COMMIT may have been lost), never pgx's text.
func TestRaceTerminateNewerPaths(t *testing.T) {
	var b [4]byte
	_, _ = crand.Read(b[:])
	app := "racenewer_" + hex.EncodeToString(b[:])
	s := openTest(t, testdb.Postgres(t, "t", "pool_max_conns", "8", "application_name", app), WithRetention(Retention{Changes: 20}),
		WithSweepInterval(-1))
	defer s.Close()
	const ns = "n"
	in := storage.InNamespace
	log := &faultLog{}
	ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
	defer cancel()
	down := []error{storage.ErrUnavailable, storage.ErrCommitUnknown, storage.ErrTxConflict}
	now := time.Now().UTC()
	var wg sync.WaitGroup
	wg.Go(func() { // imports
		for i := 0; ctx.Err() == nil; i++ {
			recs := make([]Record, 4)
			for j := range recs {
				recs[j] = Record{Namespace: ns, Key: fmt.Sprintf("r%d", (i*4+j)%40), Value: []byte(fmt.Sprintf(`{"v":%d}`, i)),
					Metadata: []byte(`{}`), Version: 1, CreatedAt: now, UpdatedAt: now}
			}
			_, err := s.Restore(ctx, recs, ConflictOverwrite)
			log.typed("Restore", err, ctx.Err() != nil, down...)
			_, err = s.RestoreNamespace(ctx, NamespaceRecord{Name: fmt.Sprintf("m%d", i%10), Metadata: []byte(`{}`), CreatedAt: now,
				Indexes: []string{"v"}}, ConflictOverwrite)
			log.typed("RestoreNamespace", err, ctx.Err() != nil, append(down, storage.ErrNamespaceExists)...)
		}
	})
	wg.Go(func() { // index changes, compaction, the sweeper
		for i := 0; ctx.Err() == nil; i++ {
			err := s.CreateIndex(ctx, ns, "v")
			log.typed("CreateIndex", err, ctx.Err() != nil, append(down, storage.ErrIndexExists, storage.ErrNamespaceNotFound)...)
			err = s.DropIndex(ctx, ns, "v")
			log.typed("DropIndex", err, ctx.Err() != nil, append(down, storage.ErrIndexNotFound, storage.ErrNamespaceNotFound)...)
			_, err = s.Compact(ctx)
			log.typed("Compact", err, ctx.Err() != nil, down...)
			_, err = s.Sweep(ctx)
			log.typed("Sweep", err, ctx.Err() != nil, down...)
		}
	})
	wg.Go(func() { // readers
		for i := 0; ctx.Err() == nil; i++ {
			err := s.Export(ctx, ExportOptions{PageSize: 5}, nil, func(Record) error { return nil })
			log.typed("Export", err, ctx.Err() != nil, down...)
			_, err = s.History(ctx, fmt.Sprintf("r%d", i%40), in(ns))
			log.typed("History", err, ctx.Err() != nil, down...)
			st, err := s.Status(ctx)
			log.typed("Status", err, ctx.Err() != nil, down...)
			if err == nil {
				_, err = s.Get(ctx, fmt.Sprintf("r%d", i%40), in(ns), storage.AtRevision(max(1, st.Revision-10)))
				log.typed("Get at", err, ctx.Err() != nil, append(down, storage.ErrNotFound, storage.ErrCompacted)...)
			}
		}
	})
	wg.Go(func() { // a watch, resumed after each error
		for ctx.Err() == nil {
			for _, err := range s.Watch(ctx, in(ns)) {
				if err != nil {
					log.typed("Watch", err, ctx.Err() != nil, append(down, storage.ErrCompacted)...)
					break
				}
			}
		}
	})
	killed := terminator(t, ctx, app)
	wg.Wait()
	// The backends killed last may still sit idle in the pool, where the
	// first use of each fails with ErrUnavailable (as after any server
	// restart; TestFaultsTerminateBackends keeps its load running past the
	// kills instead): start the checks below on fresh connections.
	s.eng.(*pgEngine).resetPools()
	t.Logf("%d backends terminated", killed)
	log.report(t)
	log.wantFaultSeen(t, killed)
	checkIndexes(t, s)
	checkInvariants(t, s)
}
