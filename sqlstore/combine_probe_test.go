package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/errprobe"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// combinedOutcome is what one probed Set (or Delete: del) reported: its
// error, and the revision Written gave when it succeeded. A Set's id is in
// its value.
type combinedOutcome struct {
	id  int64
	ns  string
	key string
	err error
	rev int64
	del bool
}

// TestCombinedWritesHostile drives Sets outside transactions from many
// goroutines, so that most go in combined batches (combine.go), with
// compare-and-swap conditions that fail for some members of a batch,
// NoOverwrite and MustExist, values over the size limit and invalid keys,
// and contexts that end at random points (queued, sent, after the
// answer), while other goroutines delete, clear, re-create and index the
// same namespaces. Every error must wrap one allowed sentinel (or be the
// context's, once it ended), and every reported outcome must be true: a
// Set that succeeded is in the change log at the revision Written gave,
// with its value; one that failed with anything but ErrCommitUnknown is
// not in it at all.
//
// Each runs with group commit (grouped), without it (alone) and under a
// capacity (capped: ErrCapacityExceeded besides). Before,
// alone or grouped, a Set whose caller cancelled it on the wire could be
// reported as "context canceled" and be committed (PostgreSQL: 2-16 per
// run alone; SQLite: 1-4 per run alone, under -race).
func TestCombinedWritesHostile(t *testing.T) {
	for _, c := range []testConfig{
		{name: "sqlite-file", dsn: testdb.SQLiteFile},
		{name: "postgres", dsn: newPGSchema},
	} {
		for _, v := range []struct {
			name string
			opt  Option
		}{
			{"grouped", WithMaxValueSize(256)},
			{"alone", WithoutWriteCombining()},
			// Unconditional Sets run in transactions under a capacity,
			// conditional ones are grouped.
			{"capped", WithCapacity(12)},
		} {
			name := c.name + "/" + v.name
			opts := []Option{WithSweepInterval(-1), WithMaxValueSize(256), v.opt}
			t.Run(name, func(t *testing.T) {
				s := openTest(t, c.dsn(t), opts...)
				t.Cleanup(func() { _ = s.Close() })
				combinedHostile(t, s, 2*time.Second, nil)
			})
		}
	}
}

// TestCombinedWritesDiskFull is TestCombinedWritesHostile on a SQLite
// file on a small disk that a filler fills and empties every 150 ms:
// ErrStorageFull besides, and every outcome still true (a batch whose
// COMMIT fails must not run its writes again alone after they committed).
func TestCombinedWritesDiskFull(t *testing.T) {
	dir := smallDisk(t, 16<<20)
	s := openTest(t, "sqlite:"+filepath.Join(dir, "store.db"), WithSweepInterval(-1), WithMaxValueSize(256))
	t.Cleanup(func() { _ = s.Close() })
	combinedHostile(t, s, 3*time.Second, func(stop <-chan struct{}) {
		filler := filepath.Join(dir, "filler")
		defer os.Remove(filler)
		for {
			fill(t, filler, -1)
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			_ = os.Remove(filler)
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
		}
	})
}

// combinedHostile runs the probe on s for d; fault, when set, runs beside
// it until stop is closed (and then ErrStorageFull is allowed).
func combinedHostile(t *testing.T, s *Store, d time.Duration, fault func(stop <-chan struct{})) {
	ctx := t.Context()
	nss := []string{"h0", "h1", "h2"}
	for _, ns := range nss {
		must(t, s.CreateNamespace(ctx, ns))
	}
	st, err := s.Status(ctx)
	must(t, err)
	r0 := st.Revision
	before := s.CombineStats()

	tally := &errprobe.Tally{Writes: func(op string) bool { return op == "set" || op == "delete" }}
	setAllowed := []error{storage.ErrConflict, storage.ErrNotFound, storage.ErrAlreadyExists,
		storage.ErrValueTooLarge, storage.ErrInvalidKey, storage.ErrTxConflict, storage.ErrCapacityExceeded}
	nsAllowed := []error{storage.ErrNamespaceNotFound, storage.ErrNamespaceExists, storage.ErrIndexExists,
		storage.ErrIndexNotFound, storage.ErrTxConflict}

	var ids atomic.Int64
	var lastRev atomic.Int64 // a recent revision, for IfRevision
	var mu sync.Mutex
	var outs []combinedOutcome
	endFault := func() {}
	if fault != nil {
		setAllowed = append(setAllowed, storage.ErrStorageFull)
		nsAllowed = append(nsAllowed, storage.ErrStorageFull)
		stopFault := make(chan struct{})
		faulted := make(chan struct{})
		go func() { defer close(faulted); fault(stopFault) }()
		var once sync.Once
		endFault = func() { once.Do(func() { close(stopFault); <-faulted }) }
		defer endFault()
	}
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	const writers = 24
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for time.Now().Before(stop) {
				id := ids.Add(1)
				ns := nss[rng.IntN(len(nss))]
				key := fmt.Sprintf("k%d", rng.IntN(6))
				val := map[string]any{"id": id, "f": rng.IntN(3)}
				opts := []storage.Option{storage.InNamespace(ns)}
				switch p := rng.IntN(100); {
				case p < 15:
					opts = append(opts, storage.IfVersion(int64(1+rng.IntN(3))))
				case p < 30:
					opts = append(opts, storage.IfRevision(max(1, lastRev.Load()-int64(rng.IntN(3)))))
				case p < 40:
					opts = append(opts, storage.NoOverwrite())
				case p < 45:
					opts = append(opts, storage.MustExist())
				case p < 50:
					val["pad"] = strings.Repeat("x", 300)
				case p < 53:
					key = []string{"", "a\x00b", strings.Repeat("k", 2000)}[rng.IntN(3)]
				}
				var w storage.WriteResult
				opts = append(opts, storage.Written(&w))
				cctx, cancel := context.WithCancel(ctx)
				switch rng.IntN(4) {
				case 0:
					cctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(30))*time.Millisecond)
				case 1:
					time.AfterFunc(time.Duration(rng.IntN(8000))*time.Microsecond, cancel)
				}
				op := "set"
				var err error
				if rng.IntN(8) == 0 {
					// A Delete, perhaps conditional: its outcome is checked
					// against the log's delete events.
					op = "delete"
					opts = append(opts[:1], storage.Written(&w))
					if rng.IntN(3) == 0 {
						opts = append(opts, storage.IfVersion(int64(1+rng.IntN(3))))
					}
					err = s.Delete(cctx, key, opts...)
				} else {
					err = s.Set(cctx, key, val, opts...)
				}
				tally.Classify(cctx, op, err, setAllowed, 0)
				cancel()
				if err == nil && w.Revision > lastRev.Load() {
					lastRev.Store(w.Revision)
				}
				mu.Lock()
				outs = append(outs, combinedOutcome{id: id, ns: ns, key: key, err: err, rev: w.Revision, del: op == "delete"})
				mu.Unlock()
			}
		}()
	}
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(100+g), uint64(time.Now().UnixNano())))
			for time.Now().Before(stop) {
				ns := nss[rng.IntN(len(nss))]
				var op string
				var err error
				switch rng.IntN(5) {
				case 0:
					op, err = "deleteNamespace", s.DeleteNamespace(ctx, ns, storage.Recursive())
				case 1:
					op, err = "clear", s.Clear(ctx, storage.InNamespace(ns))
				case 2:
					op, err = "createIndex", s.CreateIndex(ctx, ns, "f")
				case 3:
					op, err = "dropIndex", s.DropIndex(ctx, ns, "f")
				case 4:
					op, err = "createNamespace", s.CreateNamespace(ctx, ns)
				}
				tally.Classify(ctx, op, err, nsAllowed, 0)
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	endFault() // room again for the checks
	tally.Report(t, "combined writes")
	st2 := s.CombineStats()
	t.Logf("%d Sets; %d batches carried %d writes", len(outs), st2.Batches-before.Batches, st2.Writes-before.Writes)

	checkLogged(t, s, r0, outs)
}

// checkLogged checks outs, the outcomes of Sets and Deletes made on s
// after revision r0, against s's change log: a Set that succeeded is in it
// at the revision Written gave (with its value, which carries its id); one
// that failed with anything but ErrCommitUnknown is not in it; none is in
// it twice. A Delete that succeeded is a delete event of its key at its
// revision, and every delete event is one that succeeded (or one of those
// whose outcome is unknown).
func checkLogged(t *testing.T, s *Store, r0 int64, outs []combinedOutcome) {
	t.Helper()
	ctx := t.Context()
	st, err := s.Status(ctx)
	must(t, err)
	puts := map[int64]int64{}  // id → revision
	dels := map[int64]string{} // revision → namespace/key
	if st.Revision > r0 {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for ev, err := range s.Watch(wctx, storage.FromRevision(r0)) {
			must(t, err)
			switch ev.Type {
			case storage.EventPut:
				var v struct{ ID int64 }
				must(t, json.Unmarshal(ev.Value, &v))
				if r, dup := puts[v.ID]; dup {
					t.Errorf("write %d in the log twice, at %d and %d", v.ID, r, ev.Revision)
				}
				puts[v.ID] = ev.Revision
			case storage.EventDelete:
				dels[ev.Revision] = ev.Namespace + "/" + ev.Key
			}
			if ev.Revision >= st.Revision {
				break
			}
		}
	}
	unknownDels := 0
	for _, o := range outs {
		unknown := errors.Is(o.err, storage.ErrCommitUnknown)
		if o.del {
			switch {
			case unknown:
				unknownDels++
			case o.err == nil:
				if dels[o.rev] != o.ns+"/"+o.key {
					t.Errorf("Delete %s/%s succeeded at revision %d; the log has %q there", o.ns, o.key, o.rev, dels[o.rev])
				}
				delete(dels, o.rev)
			}
			continue
		}
		r, logged := puts[o.id]
		switch {
		case o.err == nil && (!logged || r != o.rev):
			t.Errorf("Set %d (%s/%s) succeeded at revision %d; the log has it: %v at %d", o.id, o.ns, o.key, o.rev, logged, r)
		case o.err != nil && !unknown && logged:
			t.Errorf("Set %d (%s/%s) failed (%v) but is in the log at %d", o.id, o.ns, o.key, o.err, r)
		}
	}
	if len(dels) > unknownDels {
		t.Errorf("%d delete events no Delete reported (%d outcomes unknown): %v", len(dels), unknownDels, dels)
	}
}

// TestCombinedWritesClose: Close while writers Set at once (most of them
// queued for group commit, some in a batch on the wire): every Set returns
// (no goroutine waits for a batch that never runs), each with nil or
// ErrClosed, and each outcome is true (checked on the store opened again).
func TestCombinedWritesClose(t *testing.T) {
	for _, c := range []testConfig{
		{name: "sqlite-file", dsn: testdb.SQLiteFile},
		{name: "postgres", dsn: newPGSchema},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := c.dsn(t)
			s := openTest(t, dsn, WithSweepInterval(-1))
			must(t, s.CreateNamespace(ctx, "cl"))
			st, err := s.Status(ctx)
			must(t, err)
			in := storage.InNamespace("cl")
			tally := &errprobe.Tally{Writes: func(op string) bool { return op == "set" }}
			var ids atomic.Int64
			var mu sync.Mutex
			var outs []combinedOutcome
			var wg sync.WaitGroup
			for g := range 24 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						id := ids.Add(1)
						var w storage.WriteResult
						key := fmt.Sprintf("k%d", g)
						err := s.Set(ctx, key, map[string]any{"id": id}, in, storage.Written(&w))
						tally.Classify(ctx, "set", err, []error{storage.ErrClosed}, 0)
						mu.Lock()
						outs = append(outs, combinedOutcome{id: id, ns: "cl", key: key, err: err, rev: w.Revision})
						mu.Unlock()
						if err != nil {
							return
						}
					}
				}()
			}
			time.Sleep(300 * time.Millisecond)
			must(t, s.Close())
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Sets still running 10 s after Close")
			}
			tally.Report(t, "close")
			if tally.Count(storage.ErrClosed) == 0 {
				t.Fatal("no Set met the Close")
			}
			again := openTest(t, dsn, WithSweepInterval(-1))
			t.Cleanup(func() { _ = again.Close() })
			checkLogged(t, again, st.Revision, outs)
		})
	}
}
