package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestPGWatchThroughCuts: a watch that resumes from the last revision it
// saw after each error, while the store's connections to the server are
// cut again and again (what a primary that goes and comes back, or a
// failover, does to them), misses no acknowledged write, repeats none,
// and sees the revisions in increasing order; every error of the writes
// and of the watch is typed.
func TestPGWatchThroughCuts(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	s, p := openProxied(t, WithSweepInterval(-1))
	defer s.Close()
	ctx := context.Background()
	in := storage.InNamespace("g")
	must(t, s.Set(ctx, "start", 0, in))
	var mu sync.Mutex
	seen := map[string]int64{}
	var last int64
	var problems []string
	problem := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(f, a...))
		}
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var wg sync.WaitGroup
	wg.Go(func() {
		from := int64(0)
		for wctx.Err() == nil {
			for ev, err := range s.Watch(wctx, in, storage.FromRevision(from)) {
				if err != nil {
					if wctx.Err() == nil && !errors.Is(err, storage.ErrUnavailable) {
						problem("Watch: %v", err)
					}
					break
				}
				mu.Lock()
				if ev.Revision <= last {
					problems = append(problems, fmt.Sprintf("Watch: revision %d (%s) after %d", ev.Revision, ev.Key, last))
				}
				if r, dup := seen[ev.Key]; dup {
					problems = append(problems, fmt.Sprintf("Watch: %s again at %d (first at %d)", ev.Key, ev.Revision, r))
				}
				seen[ev.Key], last, from = ev.Revision, ev.Revision, ev.Revision
				mu.Unlock()
			}
		}
	})
	cctx, stopCuts := context.WithCancel(ctx)
	wg.Go(func() {
		for cctx.Err() == nil {
			time.Sleep(40 * time.Millisecond)
			p.cut()
		}
	})
	var acked []string
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		k := fmt.Sprintf("k%05d", i)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.Set(wctx, k, i, in)
		cancel()
		switch {
		case err == nil:
			acked = append(acked, k)
		case errors.Is(err, storage.ErrUnavailable), errors.Is(err, storage.ErrCommitUnknown):
		default:
			problem("Set %s: %v", k, err)
		}
	}
	stopCuts()
	ok := waitUntil(15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range acked {
			if _, ok := seen[k]; !ok {
				return false
			}
		}
		return true
	})
	stopWatch()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if !ok {
		var missing []string
		for _, k := range acked {
			if _, ok := seen[k]; !ok {
				missing = append(missing, k)
			}
		}
		t.Errorf("the watch missed %d of %d acknowledged writes: %v", len(missing), len(acked), missing[:min(len(missing), 10)])
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d writes acknowledged, %d events", len(acked), len(seen))
	if len(acked) < 10 {
		t.Errorf("only %d writes acknowledged under the cuts", len(acked))
	}
}
