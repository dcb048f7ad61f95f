package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/txmanager"
)

// faultLog collects the errors of a fault run and checks their shape.
type faultLog struct {
	mu     sync.Mutex
	counts map[string]int
	bad    []string
}

// typed records err (nil is fine). It must wrap exactly one documented
// sentinel, or, when ctxOK, be the context's error; its message must not
// carry driver text. allowed, when given, lists the sentinels that may
// occur at all.
func (l *faultLog) typed(what string, err error, ctxOK bool, allowed ...error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	var wrapped []error
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			wrapped = append(wrapped, s)
		}
	}
	isCtx := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	switch {
	case len(wrapped) == 0 && isCtx && ctxOK:
		l.counts["context"]++
		return
	case ctxOK && len(wrapped) == 1 && wrapped[0] == storage.ErrCommitUnknown: //nolint:errorlint // identity
		// The context ended while a COMMIT (or a single write) was on
		// the wire: its outcome is truly unknown.
		l.counts["commit unknown, context ended"]++
		return
	case len(wrapped) != 1:
		l.bad = append(l.bad, fmt.Sprintf("%s: %q wraps %d sentinels %v", what, err, len(wrapped), wrapped))
		return
	}
	l.counts[wrapped[0].Error()]++
	if len(allowed) > 0 && !slices.Contains(allowed, wrapped[0]) {
		ended := ""
		if ctxOK {
			ended = " (its context had ended)"
		}
		l.bad = append(l.bad, fmt.Sprintf("%s: unexpected %q%s", what, err, ended))
	}
	for _, leak := range []string{"SQLSTATE", "failed to connect", "sql: ", "(SQLITE_"} {
		if strings.Contains(err.Error(), leak) {
			l.bad = append(l.bad, fmt.Sprintf("%s: %q carries driver text %q", what, err, leak))
		}
	}
}

// wantFaultSeen fails t unless backends were terminated (killed) and
// calls saw it (ErrUnavailable or ErrCommitUnknown): a fault test whose
// fault never met the load tested nothing.
func (l *faultLog) wantFaultSeen(t *testing.T, killed int) {
	t.Helper()
	l.mu.Lock()
	saw := l.counts[storage.ErrUnavailable.Error()] + l.counts[storage.ErrCommitUnknown.Error()]
	l.mu.Unlock()
	if killed == 0 || saw == 0 {
		t.Errorf("%d backends terminated, %d calls saw it: the fault did not happen under load", killed, saw)
	}
}

func (l *faultLog) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("errors by sentinel: %v", l.counts)
	for i, b := range l.bad {
		if i == 20 {
			t.Errorf("... and %d more", len(l.bad)-20)
			break
		}
		t.Error(b)
	}
}

// acked remembers the last acknowledged value of each key a worker owns in
// the stable namespace (never deleted): at the end each must be there, or
// a value written after it whose outcome was unknown (its context ended
// while it ran, or ErrCommitUnknown).
type acked struct {
	mu    sync.Mutex
	m     map[string]int
	maybe map[string][]int
}

func (a *acked) set(k string, v int) {
	a.mu.Lock()
	a.m[k] = v
	delete(a.maybe, k)
	a.mu.Unlock()
}

// unknown records a write of k whose outcome is unknown.
func (a *acked) unknown(k string, v int) {
	a.mu.Lock()
	a.maybe[k] = append(a.maybe[k], v)
	a.mu.Unlock()
}

// outcomeUnknown reports whether a write that failed with err may have happened.
func outcomeUnknown(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, storage.ErrCommitUnknown)
}

// runFaults runs writers (single, batch, transactions, cancelled calls)
// against recursive deletes and clears of their namespace, and index
// creations and drops on it and on the stable namespace, for d, then
// checks: every error typed, nothing acknowledged lost, counts equal to a
// scan. extra, if set, runs beside them (a fault of the configuration: a
// server restart, a full disk) until ctx ends.
func runFaults(t *testing.T, s *Store, d time.Duration, allowed []error, extra func(ctx context.Context)) *faultLog {
	t.Helper()
	log := &faultLog{}
	ack := &acked{m: map[string]int{}, maybe: map[string][]int{}}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	const victim, stable = "victim", "stable"
	in := storage.InNamespace
	var wg sync.WaitGroup
	var writes atomic.Int64
	wg.Go(func() { // single writes
		for i := 0; ctx.Err() == nil; i++ {
			err := s.Set(ctx, fmt.Sprintf("s%d", i%50), i, in(victim))
			log.typed("Set victim", err, ctx.Err() != nil, allowed...)
			k := fmt.Sprintf("single/%d", i%20)
			if err := s.Set(ctx, k, i, in(stable)); err == nil {
				ack.set(k, i)
				writes.Add(1)
			} else {
				if outcomeUnknown(ctx, err) {
					ack.unknown(k, i)
				}
				log.typed("Set stable", err, ctx.Err() != nil, allowed...)
			}
		}
	})
	wg.Go(func() { // batches
		for i := 0; ctx.Err() == nil; i++ {
			items := []storage.Item{{Key: fmt.Sprintf("b%d", i%30), Value: i}, {Key: fmt.Sprintf("b%d", (i+1)%30), Value: i}}
			res, err := s.SetMany(ctx, items, in(victim), storage.Atomic())
			if err == nil {
				err = res.Err()
			}
			log.typed("SetMany", err, ctx.Err() != nil, allowed...)
			if err == nil {
				writes.Add(1)
			}
		}
	})
	wg.Go(func() { // transactions
		for i := 0; ctx.Err() == nil; i++ {
			k := fmt.Sprintf("tx/%d", i%20)
			attempts := 0
			err := txmanager.RunInTx(ctx, s, storage.TxOptions{}, func(tx storage.Tx) error {
				attempts++
				if err := tx.Set(ctx, fmt.Sprintf("t%d", i%40), i, in(victim)); err != nil {
					return err
				}
				return tx.Set(ctx, k, i, in(stable))
			})
			switch {
			case err == nil:
				ack.set(k, i)
				writes.Add(1)
			case txmanager.Retryable(err) && ctx.Err() == nil:
				var re *txmanager.RetryError
				if !errors.As(err, &re) {
					log.typed("RunInTx", fmt.Errorf("storage: RunInTx returned the retryable %w after %d attempts without retrying", err, attempts), false)
				}
			default:
				if outcomeUnknown(ctx, err) {
					ack.unknown(k, i)
				}
				log.typed("RunInTx", err, ctx.Err() != nil, allowed...)
			}
		}
	})
	wg.Go(func() { // calls whose context ends while they run
		for i := 0; ctx.Err() == nil; i++ {
			cctx, ccancel := context.WithTimeout(ctx, time.Duration(rand.IntN(2000))*time.Microsecond)
			var err error
			if i%2 == 0 {
				err = s.Set(cctx, fmt.Sprintf("c%d", i%10), i, in(victim))
			} else {
				err = txmanager.RunInTx(cctx, s, storage.TxOptions{}, func(tx storage.Tx) error {
					return tx.Set(cctx, fmt.Sprintf("c%d", i%10), i, in(victim))
				})
			}
			ccancel()
			log.typed("cancelled call", err, true, allowed...)
		}
	})
	wg.Go(func() { // the deleter
		for i := 0; ctx.Err() == nil; i++ {
			var err error
			if i%3 == 2 {
				err = s.Clear(ctx, in(victim))
			} else {
				err = s.DeleteNamespace(ctx, victim, storage.Recursive())
				if errors.Is(err, storage.ErrNamespaceNotFound) {
					err = nil
				}
			}
			log.typed("delete/clear", err, ctx.Err() != nil, allowed...)
			time.Sleep(time.Millisecond)
		}
	})
	// Index creations and drops, two workers on the same fields so they
	// race each other too, against the writers and the deleter: besides
	// what the configuration allows, an index may already exist, be gone,
	// or lose its namespace.
	idxAllowed := append(slices.Clone(allowed), storage.ErrIndexExists, storage.ErrIndexNotFound, storage.ErrNamespaceNotFound)
	var indexOps atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				ns, field := victim, "v"
				if (i+w)%3 == 0 {
					ns, field = stable, "n"
				}
				err := s.CreateIndex(ctx, ns, field)
				log.typed("CreateIndex "+ns, err, ctx.Err() != nil, idxAllowed...)
				err = s.DropIndex(ctx, ns, field)
				log.typed("DropIndex "+ns, err, ctx.Err() != nil, idxAllowed...)
				indexOps.Add(2)
			}
		})
	}
	if extra != nil {
		wg.Go(func() { extra(ctx) })
	}
	wg.Wait()
	t.Logf("%d index creations and drops", indexOps.Load())
	checkIndexes(t, s)

	// Nothing acknowledged is lost.
	bg := context.Background()
	for k, v := range ack.m {
		e, err := s.Get(bg, k, in(stable))
		if err != nil {
			t.Errorf("acknowledged %s=%d: %v", k, v, err)
			continue
		}
		if string(e.Value) != fmt.Sprint(v) && !slices.ContainsFunc(ack.maybe[k], func(m int) bool { return string(e.Value) == fmt.Sprint(m) }) {
			t.Errorf("acknowledged %s=%d, found %s (in doubt: %v)", k, v, e.Value, ack.maybe[k])
		}
	}
	// Counts equal what a scan finds. A write whose caller gave up (its
	// context ended, or the server went away with it on the wire) may still
	// be running in a server backend and commit a moment after the workers
	// stopped: the counts must agree once such stragglers settle, so a
	// mismatch is checked again for a few seconds before it fails.
	var scanned int64
	var mismatch, seen []string
	for try := 0; ; try++ {
		scanned, mismatch = scanCounts(t, s)
		if len(mismatch) == 0 || try == 20 {
			if try > 0 && len(mismatch) == 0 {
				t.Logf("counts settled after %d rechecks (first mismatch: %v)", try, seen)
			}
			break
		}
		if seen == nil {
			seen = mismatch
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, m := range mismatch {
		t.Error(m)
	}
	checkInvariants(t, s)
	t.Logf("%d acknowledged writes, %d entries at the end", writes.Load(), scanned)
	return log
}

// checkIndexes checks that each namespace's declared indexes and the
// recorded ones (index_fields) agree, and that index_entries holds exactly
// one row per entry and declared field, with the entry's values
// (physicalIndexes checks that).
func checkIndexes(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	nss, err := s.ListNamespaces(ctx)
	if err != nil {
		t.Fatalf("ListNamespaces: %v", err)
	}
	var want []string
	for _, n := range nss {
		want = append(want, wantIndexes(t, s, n.Name, n.Indexes...)...)
	}
	slices.Sort(want)
	if have := physicalIndexes(t, s); !slices.Equal(have, want) {
		t.Errorf("recorded indexes %v, declared %v", have, want)
	}
}

// scanCounts lists every namespace page by page and compares the entries
// found with Count and Status.Size; it returns the total and the mismatches.
func scanCounts(t *testing.T, s *Store) (int64, []string) {
	t.Helper()
	bg := context.Background()
	in := storage.InNamespace
	var bad []string
	nss, err := s.ListNamespaces(bg)
	if err != nil {
		t.Fatalf("ListNamespaces: %v", err)
	}
	var scanned int64
	for _, n := range nss {
		keys := 0
		after := ""
		for {
			opts := []storage.Option{in(n.Name), storage.Limit(100)}
			if after != "" {
				opts = append(opts, storage.After(after))
			}
			res, err := s.List(bg, opts...)
			if err != nil {
				t.Fatalf("List %s: %v", n.Name, err)
			}
			keys += len(res.Keys)
			if after = res.Cursor; after == "" {
				break
			}
		}
		c, err := s.Count(bg, in(n.Name))
		if err != nil || c != int64(keys) {
			bad = append(bad, fmt.Sprintf("Count(%s) = %d, %v; a scan finds %d", n.Name, c, err, keys))
		}
		scanned += int64(keys)
	}
	st, err := s.Status(bg)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Size != scanned {
		bad = append(bad, fmt.Sprintf("Status.Size = %d, a scan finds %d", st.Size, scanned))
	}
	return scanned, bad
}

// TestFaultsNamespaceRace: writers of every kind against recursive
// DeleteNamespace and Clear of their namespace, on every configuration.
// PostgreSQL once answered raw foreign-key violations (23503), "current
// transaction is aborted" (25P02) and a Commit ErrCommitUnknown although the
// transaction had rolled back.
func TestFaultsNamespaceRace(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			allowed := []error{storage.ErrTxConflict, storage.ErrNotFound}
			log := runFaults(t, s, 1500*time.Millisecond, allowed, nil)
			log.report(t)
		})
	}
}
