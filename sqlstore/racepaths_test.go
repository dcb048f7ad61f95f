package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// The tests of this file race the paths the fault tests (fault_test.go)
// do not drive (imports, exports, the change log's readers, the sweeper)
// against namespace deletes, clears, compaction and cancelled contexts,
// and check that every error they return wraps exactly one documented
// sentinel (faultLog.typed).

// deleter deletes (recursively) and clears namespace ns until ctx ends.
func deleter(ctx context.Context, s *Store, log *faultLog, ns string) {
	in := storage.InNamespace
	for i := 0; ctx.Err() == nil; i++ {
		var err error
		if i%3 == 2 {
			err = s.Clear(ctx, in(ns))
		} else {
			err = s.DeleteNamespace(ctx, ns, storage.Recursive())
			if errors.Is(err, storage.ErrNamespaceNotFound) {
				err = nil
			}
		}
		log.typed("delete/clear", err, ctx.Err() != nil, storage.ErrTxConflict)
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
	}
}

// TestRaceRestoreNamespaceDelete races imports (Restore, RestoreNamespace)
// into a namespace against its recursive deletes and clears: an import
// that lost its namespace is ErrTxConflict (RunInTx's retry recreates
// it), never an internal error.
func TestRaceRestoreNamespaceDelete(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			const victim = "victim"
			log := &faultLog{}
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			now := time.Now().UTC()
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					for i := 0; ctx.Err() == nil; i++ {
						recs := make([]Record, 4)
						for j := range recs {
							recs[j] = Record{Namespace: victim, Key: fmt.Sprintf("k%d", (i+j)%8), Value: []byte(fmt.Sprint(i)), Metadata: []byte(`{}`),
								Version: 1, CreatedAt: now, UpdatedAt: now}
						}
						mode := ConflictOverwrite
						if (i+w)%2 == 1 {
							mode = ConflictSkip
						}
						_, err := s.Restore(ctx, recs, mode)
						log.typed("Restore", err, ctx.Err() != nil, storage.ErrTxConflict)
					}
				})
			}
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					_, err := s.RestoreNamespace(ctx, NamespaceRecord{Name: victim, Metadata: []byte(`{}`), CreatedAt: now,
						Indexes: []string{"v"}}, ConflictOverwrite)
					log.typed("RestoreNamespace", err, ctx.Err() != nil, storage.ErrTxConflict, storage.ErrNamespaceExists, storage.ErrNamespaceNotFound)
				}
			})
			wg.Go(func() { deleter(ctx, s, log, victim) })
			wg.Wait()
			log.report(t)
			checkInvariants(t, s)
		})
	}
}
