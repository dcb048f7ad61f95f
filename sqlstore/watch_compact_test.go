package sqlstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// compactRaceWatch is one watcher of TestWatchCompactionRace: what it
// watches, how fast it consumes, and what it saw.
type compactRaceWatch struct {
	name string
	ns   string        // "": the whole store
	slow time.Duration // a pause per event
	log  []compactRaceItem
}

// compactRaceItem is an event (revision, namespace) or a cut
// (ErrCompacted: requested, oldest; ErrWatchLagged: last).
type compactRaceItem struct {
	rev       int64
	ns        string
	compacted *storage.CompactedError
	atStart   bool // the cut came before the resumed watch's first event
	lagged    *storage.LaggedError
	err       error // another error
}

// TestWatchCompactionRace: writers write while the change log is compacted
// to its last 10 changes every millisecond or so, and watches of one
// namespace (written, rarely written, never written) and of the whole
// store (keeping up, slow) resume after each cut. Each watch gets every
// change of what it watches that the writers committed, in order, with no
// gap and no duplicate, up to an ErrCompacted; and an ErrCompacted only
// when a change it watches was really removed after its position (the
// revisions in (Requested, Oldest) hold one of its changes): never when it
// lost nothing.
func TestWatchCompactionRace(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithRetention(Retention{Changes: 10}), WithSweepInterval(-1), WithWatchBuffer(64))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			for _, ns := range []string{"a", "b", "c", "i"} {
				if err := s.CreateNamespace(ctx, ns); err != nil {
					t.Fatal(err)
				}
			}
			r0 := head(t, s)
			watches := []*compactRaceWatch{
				{name: "a", ns: "a"}, {name: "a2", ns: "a"}, {name: "b", ns: "b"},
				{name: "idle", ns: "i"}, {name: "idle2", ns: "i"},
				{name: "all", ns: ""}, {name: "all-slow", ns: "", slow: 2 * time.Millisecond},
			}
			wctx, stopWatches := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for _, w := range watches {
				wg.Go(func() { w.run(wctx, s, r0) })
			}
			time.Sleep(200 * time.Millisecond) // the watches start, the scanner's first scan

			const run = 1500 * time.Millisecond
			var mu sync.Mutex
			committed := map[int64]string{}
			wctx2, stopWriters := context.WithTimeout(ctx, run)
			defer stopWriters()
			var writers sync.WaitGroup
			for i := range 3 {
				writers.Go(func() {
					for n := 0; wctx2.Err() == nil; n++ {
						ns := []string{"b", "c"}[n%2]
						if i == 0 && n%20 == 0 {
							ns = "a"
						}
						var wr storage.WriteResult
						if err := s.Set(ctx, "k"+strconv.Itoa(n%7), n, storage.InNamespace(ns), storage.Written(&wr)); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						committed[wr.Revision] = ns
						mu.Unlock()
					}
				})
			}
			var compactions, removed int
			writers.Go(func() {
				for wctx2.Err() == nil {
					n, err := s.Compact(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					compactions++
					removed += int(n)
					time.Sleep(time.Millisecond)
				}
			})
			writers.Wait()
			time.Sleep(500 * time.Millisecond) // the watches that keep up catch up
			stopWatches()
			wg.Wait()
			t.Logf("%d writes, %d compactions removed %d changes", len(committed), compactions, removed)

			var revs []int64
			for r := range committed {
				revs = append(revs, r)
			}
			slices.Sort(revs)
			for _, w := range watches {
				// theirs: the committed revisions of what w watches.
				var theirs []int64
				for _, r := range revs {
					if w.ns == "" || committed[r] == w.ns {
						theirs = append(theirs, r)
					}
				}
				// after is the first of theirs after p (-1: none).
				after := func(p int64) int64 {
					i, _ := slices.BinarySearch(theirs, p+1)
					if i == len(theirs) {
						return -1
					}
					return theirs[i]
				}
				last := r0
				if len(theirs) > 0 {
					last = theirs[len(theirs)-1]
				}
				pos := r0
				var events, cuts, starts, lags int
				for _, it := range w.log {
					switch {
					case it.err != nil:
						t.Fatalf("watch %s: %v", w.name, it.err)
					case it.compacted != nil:
						cuts++
						if it.atStart {
							starts++
						}
						ce := it.compacted
						if n := after(pos); n != -1 && n <= ce.Requested {
							t.Fatalf("watch %s: ErrCompacted %v at position %d, but its change %d before the requested revision was not delivered (a gap)", w.name, ce, pos, n)
						}
						if ce.Oldest <= ce.Requested+1 {
							t.Fatalf("watch %s: ErrCompacted %v at position %d, though the log holds every revision after it", w.name, ce, pos)
						}
						// A resume from a compacted revision fails whatever
						// it watches; a live watch only when it lost a change.
						if n := after(ce.Requested); !it.atStart && (n == -1 || n >= ce.Oldest) {
							t.Fatalf("watch %s: ErrCompacted %v at position %d, though none of its changes was removed after its position (first of its changes after %d: %d)", w.name, ce, pos, ce.Requested, n)
						}
						pos = ce.Oldest - 1
					case it.lagged != nil:
						lags++
						if it.lagged.Last != pos {
							t.Fatalf("watch %s: ErrWatchLagged at %d, its position %d", w.name, it.lagged.Last, pos)
						}
					default:
						events++
						if want := after(pos); it.rev != want {
							t.Fatalf("watch %s: event %d (%s) after %d, want %d (the next committed change it watches)", w.name, it.rev, it.ns, pos, want)
						}
						pos = it.rev
					}
				}
				t.Logf("watch %s: %d events, %d ErrCompacted (%d at a resume), %d ErrWatchLagged, at %d, its last change %d", w.name, events, cuts, starts, lags, pos, last)
				if w.slow == 0 && pos < last {
					t.Errorf("watch %s: at %d at the end, its last change is %d", w.name, pos, last)
				}
			}
		})
	}
}

// run watches from r0 until ctx ends, resuming after each cut.
func (w *compactRaceWatch) run(ctx context.Context, s *Store, from int64) {
	for ctx.Err() == nil {
		var opts []storage.Option
		if w.ns != "" {
			opts = append(opts, storage.InNamespace(w.ns))
		}
		first := true
		for ev, err := range s.Watch(ctx, append(opts, storage.FromRevision(from))...) {
			var ce *storage.CompactedError
			var le *storage.LaggedError
			switch {
			case err == nil:
				w.log = append(w.log, compactRaceItem{rev: ev.Revision, ns: ev.Namespace})
				from, first = ev.Revision, false
				if w.slow > 0 {
					time.Sleep(w.slow)
				}
				continue
			case errors.As(err, &ce):
				w.log = append(w.log, compactRaceItem{compacted: ce, atStart: first})
				from = ce.Oldest - 1
			case errors.As(err, &le):
				w.log = append(w.log, compactRaceItem{lagged: le})
				from = le.Last
			case ctx.Err() != nil:
				return
			default:
				w.log = append(w.log, compactRaceItem{err: err})
				return
			}
			break
		}
	}
}
