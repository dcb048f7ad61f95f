package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// raceExpected are the sentinels a race between well-formed calls may
// answer: anything else (ErrCorrupt, ErrUnavailable, an untyped error)
// is a misclassified race.
var raceExpected = []error{
	storage.ErrNotFound, storage.ErrAlreadyExists, storage.ErrNamespaceNotFound, storage.ErrNamespaceExists,
	storage.ErrNamespaceNotEmpty, storage.ErrIndexExists, storage.ErrIndexNotFound, storage.ErrConflict,
	storage.ErrAborted, storage.ErrTxConflict, storage.ErrWatchLagged,
}

// TestRaceEveryErrorTyped runs, for a bounded time, workers that each call
// a random mix of everything that writes, reads, declares or watches
// against two namespaces of few keys: single writes (plain, Merge,
// NoOverwrite, IfVersion, MustExist), deletes, metadata, batches (atomic or not),
// transactions at every isolation level, namespace creation (with indexes),
// recursive and plain deletes, clears, index builds (in small chunks) and
// drops, imports, queries on the indexed field and watches, a share of
// them with a context that ends while they run. Every error must wrap
// exactly one sentinel a race can cause (raceExpected), or be the
// context's, and carry no driver text.
func TestRaceEveryErrorTyped(t *testing.T) {
	defer func(c int) { indexBuildChunk = c }(indexBuildChunk)
	indexBuildChunk = 16
	d := 2500 * time.Millisecond
	if testing.Short() {
		d = 1500 * time.Millisecond
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			dsn := c.dsn(t)
			s := openTest(t, dsn)
			defer s.Close()
			// A second store on the same database (two servers on one
			// PostgreSQL, two processes on one SQLite file), whose
			// caches the first one's changes make stale.
			stores := []*Store{s}
			if c.name != "sqlite-memory" {
				s2 := openTest(t, dsn)
				defer s2.Close()
				stores = append(stores, s2)
			}
			log := &faultLog{}
			ctx, cancel := context.WithTimeout(t.Context(), d)
			defer cancel()
			var wg sync.WaitGroup
			var calls [raceOps]int
			var mu sync.Mutex
			for w := range 6 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
					for ctx.Err() == nil {
						op := r.IntN(raceOps)
						cctx, ccancel := ctx, context.CancelFunc(func() {})
						if r.IntN(8) == 0 {
							cctx, ccancel = context.WithTimeout(ctx, time.Duration(r.IntN(3000))*time.Microsecond)
						}
						raceOp(cctx, stores[r.IntN(len(stores))], r, op, func(what string, err error) {
							allowed := raceExpected
							if cctx.Err() != nil {
								// A transaction whose context ended was rolled back.
								allowed = append(slices.Clone(allowed), storage.ErrTxDone)
							}
							log.typed(what, err, cctx.Err() != nil, allowed...)
						})
						ccancel()
						mu.Lock()
						calls[op]++
						mu.Unlock()
					}
				})
			}
			if len(stores) > 1 {
				// Stores opened meanwhile: Open drops the index records
				// of fields no namespace declares (reconcileIndexes),
				// which an index being built is until its end.
				wg.Go(func() {
					for ctx.Err() == nil {
						s3, err := Open(ctx, dsn)
						log.typed("Open", err, ctx.Err() != nil, raceExpected...)
						if err == nil {
							_ = s3.Close()
						}
						time.Sleep(100 * time.Millisecond)
					}
				})
			}
			wg.Wait()
			t.Logf("calls by operation: %v", calls)
			log.report(t)
			checkIndexes(t, s)
			checkInvariants(t, s)
		})
	}
}

const raceOps = 20

// raceOp runs operation op of TestRaceEveryErrorTyped and passes each
// error it meets to check.
func raceOp(ctx context.Context, s *Store, r *rand.Rand, op int, check func(string, error)) {
	nss := []string{"ra", "rb"}
	ns := nss[r.IntN(len(nss))]
	in := storage.InNamespace(ns)
	key := func() string { return fmt.Sprintf("k%d", r.IntN(40)) }
	batch := func(err error, res storage.BatchResult, what string) {
		check(what, err)
		for _, kr := range res.Results {
			check(what+" key", kr.Err)
		}
	}
	switch op {
	case 0:
		if r.IntN(2) == 0 {
			check("Set Merge", s.Set(ctx, key(), map[string]int{"w": r.IntN(5)}, in, storage.Merge()))
			return
		}
		check("Set", s.Set(ctx, key(), map[string]int{"v": r.IntN(5)}, in))
	case 1:
		check("Set NoOverwrite", s.Set(ctx, key(), map[string]int{"v": r.IntN(5)}, in, storage.NoOverwrite()))
	case 2:
		check("Set IfVersion", s.Set(ctx, key(), map[string]int{"v": r.IntN(5)}, in, storage.IfVersion(int64(1+r.IntN(3)))))
	case 3:
		check("Set MustExist", s.Set(ctx, key(), map[string]int{"v": r.IntN(5)}, in, storage.MustExist()))
	case 4:
		check("Delete", s.Delete(ctx, key(), in))
	case 5:
		check("SetMetadata", s.SetMetadata(ctx, key(), map[string]int{"m": r.IntN(5)}, in))
	case 6:
		_, err := s.Get(ctx, key(), in)
		check("Get", err)
		_, err = s.GetMetadata(ctx, key(), in)
		check("GetMetadata", err)
		_, err = s.GetMany(ctx, []string{key(), key()}, in)
		check("GetMany", err)
	case 7:
		items := make([]storage.Item, 1+r.IntN(4))
		for i := range items {
			items[i] = storage.Item{Key: key(), Value: map[string]int{"v": r.IntN(5)}}
		}
		opts := []storage.Option{in}
		if r.IntN(2) == 0 {
			opts = append(opts, storage.Atomic())
		}
		if r.IntN(3) == 0 {
			opts = append(opts, storage.NoOverwrite())
		}
		res, err := s.SetMany(ctx, items, opts...)
		batch(err, res, "SetMany")
	case 8:
		opts := []storage.Option{in}
		if r.IntN(2) == 0 {
			opts = append(opts, storage.Atomic())
		}
		res, err := s.DeleteMany(ctx, []string{key(), key()}, opts...)
		batch(err, res, "DeleteMany")
	case 9:
		level := storage.IsolationLevel(r.IntN(int(storage.LevelSerializable) + 1))
		what := "tx " + level.String()
		tx, err := s.Begin(ctx, storage.TxOptions{Isolation: level})
		check(what+" Begin", err)
		if err != nil {
			return
		}
		k1, k2 := key(), key()
		_, err = tx.Get(ctx, k1, in)
		if errors.Is(err, storage.ErrNotFound) {
			err = nil
		}
		if err == nil {
			err = tx.Set(ctx, k2, map[string]int{"v": r.IntN(5)}, in)
		}
		if err == nil && r.IntN(2) == 0 {
			err = tx.Set(ctx, k1, map[string]int{"v": r.IntN(5)}, storage.InNamespace(nss[r.IntN(len(nss))]), storage.NoOverwrite())
		}
		if err == nil && r.IntN(3) == 0 {
			_, err = tx.Count(ctx, in, storage.Where(storage.Eq("v", r.IntN(5))))
		}
		check(what+" op", err)
		if err != nil {
			check(what+" Rollback", tx.Rollback(context.Background()))
			return
		}
		check(what+" Commit", tx.Commit(ctx))
	case 10:
		var opts []storage.NamespaceOption
		if r.IntN(2) == 0 {
			opts = append(opts, storage.WithIndexes("v"))
		}
		check("CreateNamespace", s.CreateNamespace(ctx, ns, opts...))
	case 11:
		var opts []storage.NamespaceOption
		if r.IntN(2) == 0 {
			opts = append(opts, storage.Recursive())
		}
		check("DeleteNamespace", s.DeleteNamespace(ctx, ns, opts...))
	case 12:
		check("Clear", s.Clear(ctx, in))
	case 13:
		check("CreateIndex", s.CreateIndex(ctx, ns, "v"))
	case 14:
		check("DropIndex", s.DropIndex(ctx, ns, "v"))
	case 15:
		var idx []string
		if r.IntN(2) == 0 {
			idx = []string{"v"}
		}
		_, err := s.RestoreNamespace(ctx, NamespaceRecord{Name: ns, Metadata: []byte(`{}`), CreatedAt: time.Now().UTC(), Indexes: idx},
			ConflictMode(r.IntN(3)))
		check("RestoreNamespace", err)
	case 16:
		now := time.Now().UTC()
		recs := make([]Record, 1+r.IntN(20))
		perm := r.Perm(40)
		for i := range recs {
			recs[i] = Record{Namespace: ns, Key: fmt.Sprintf("k%d", perm[i]), Value: fmt.Appendf(nil, `{"v":%d}`, r.IntN(5)), Metadata: []byte(`{}`),
				Version: 1, CreatedAt: now, UpdatedAt: now}
		}
		_, err := s.Restore(ctx, recs, ConflictMode(r.IntN(3)))
		check("Restore", err)
	case 17:
		_, err := s.Query(ctx, storage.Eq("v", r.IntN(5)), in, storage.Limit(5))
		check("Query", err)
		_, err = s.Count(ctx, in, storage.Where(storage.Eq("v", r.IntN(5))))
		check("Count", err)
	case 18:
		wctx, cancel := context.WithTimeout(ctx, time.Duration(1+r.IntN(20))*time.Millisecond)
		defer cancel()
		for _, err := range s.Watch(wctx, in) {
			if err != nil {
				if wctx.Err() == nil || !errors.Is(err, wctx.Err()) {
					check("Watch", err)
				}
				break
			}
		}
	case 19:
		_, err := s.ListNamespaces(ctx)
		check("ListNamespaces", err)
		_, err = s.List(ctx, in, storage.Limit(10))
		check("List", err)
	}
}
