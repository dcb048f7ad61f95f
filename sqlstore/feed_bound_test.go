package sqlstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestFeedGoneBounded: the record of what compaction removed
// (feed.gone) stays bounded while compactions remove the changes of ever
// new namespaces. It merged its oldest two ranges' namespaces into one
// map that kept every namespace ever compacted (a store whose namespaces
// come and go, with the sweeper compacting every few seconds, grew it
// without end and cloned it at each compaction; the hour-long soak,
// bench/results/2026-12-05-soak3.md). A merged range that names too many
// namespaces names the whole store instead: a watch behind it is told it
// may have lost a change (ErrCompacted), never the reverse.
func TestFeedGoneBounded(t *testing.T) {
	f := newFeed(nil)
	const compactions = 3000
	for i := range compactions {
		from := int64(i * 10)
		f.removing(from, from+10, map[string]int64{fmt.Sprintf("tmp-%d", i): from + 5})
	}
	total := 0
	for _, g := range f.gone {
		total += len(g.last)
	}
	if total > 1000 {
		t.Fatalf("the record of compactions names %d namespaces over %d ranges after %d compactions of one namespace each; want it bounded (<= 1000)",
			total, len(f.gone), compactions)
	}
	end := int64(compactions * 10)
	watches := func(name string) func(string) bool { return func(ns string) bool { return ns == name } }
	// A watch of a namespace whose change the oldest (merged) range
	// removed lost it; so may, for all the record knows, one of a
	// namespace it never saw.
	if f.lostNone(f.gone[0].from, end, watches("tmp-0")) {
		t.Fatal("lostNone: a watch of tmp-0 from the record's start lost none of its changes; want false")
	}
	// A watch whose position is in the last range, of a namespace whose
	// change is before it, lost none.
	last := f.gone[len(f.gone)-1].from
	if !f.lostNone(last, end, watches("tmp-0")) {
		t.Fatal("lostNone: a watch of tmp-0 positioned in the last range lost a change; want true")
	}
	if f.lostNone(last, end, watches(fmt.Sprintf("tmp-%d", compactions-1))) {
		t.Fatal("lostNone: a watch of the last range's namespace lost none; want false")
	}
}

// TestFeedNamespacesBounded: what the scanner keeps of the namespaces it
// saw change (feed.nsRev) stays bounded while ever new namespaces change.
// It was cleared only when a compaction passed the scanner's position:
// with the default retention (a day) a store whose namespaces come and go
// kept every name changed since its last compaction, for as long as it
// had a watch. Past feedNamespaces names the scanner starts over, as after
// a compaction: the watches of one namespace read the log at their next
// wake instead of moving past it without reading.
func TestFeedNamespacesBounded(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testdb.SQLiteMemory(t))
	defer s.Close()
	s.feed.scan() // the first scan takes the position
	n := 0
	for range 3 {
		tx, err := s.Begin(ctx, storage.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for range 600 {
			if err := tx.Set(ctx, "k", n, storage.InNamespace(fmt.Sprintf("tmp-%d", n))); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		s.feed.scan()
	}
	s.feed.mu.Lock()
	got := len(s.feed.nsRev)
	s.feed.mu.Unlock()
	if got > 1500 {
		t.Fatalf("the scanner keeps %d namespaces after %d changed; want it bounded (<= 1500)", got, n)
	}
	// After a start over, a watch of one namespace reads: none moves past
	// a change of its namespace.
	if through, _ := s.feed.quietThrough("tmp-0", 1, nil); through != 1 {
		t.Fatalf("quietThrough(tmp-0, 1) = %d; want 1 (read the log)", through)
	}
}

// TestFeedWaitsBounded: the channels the watches of one namespace wait on
// (feed.byNS) stay bounded while watches of ever new namespaces come and
// go. A namespace's channel went only when a change of that namespace, or
// a signal to every watcher while one was open (a sweep, a compaction that
// passed the scanner), closed it: a watch of a namespace that never
// changed left its channel behind when it ended, so with the sweeper off,
// or no watch open at a sweep, a store kept one per namespace ever watched
// (3000 here). A channel now goes with the last watch waiting on it.
func TestFeedWaitsBounded(t *testing.T) {
	f := newFeed(nil)
	early := f.wait(wakes{}, "early", false, nil)
	for i := range 3000 {
		f.drop(f.wait(wakes{}, fmt.Sprintf("quiet-%d", i), false, nil)) // a watch that waited once and ended
	}
	f.mu.Lock()
	n := len(f.byNS)
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("after 3000 watches of quiet namespaces ended, %d channels kept; want 1 (the watch still waiting)", n)
	}
	// The watch still waiting on a channel let go is woken, not left
	// waiting on a channel no change of its namespace closes.
	f.watchers.Add(1)
	f.signalIn("early")
	select {
	case <-early.mine:
	default:
		t.Fatal("a change of the namespace did not wake the watch that waited on it before the bound")
	}
	late := f.wait(wakes{}, "late", false, nil)
	f.signalIn("late")
	select {
	case <-late.mine:
	default:
		t.Fatal("a change of the namespace did not wake its watch")
	}
}

// TestFeedManyNamespacesQuiet: more watches of distinct namespaces waiting
// at once than feedNamespaces are not woken while nothing changes. A bound
// on feed.byNS that closed every channel once it was full woke them all
// whenever one more began to wait, and each woken watch waited again:
// with more namespaces watched at once than the bound, every watch woke
// and read the log over and over, for as long as they were open.
func TestFeedManyNamespacesQuiet(t *testing.T) {
	f := newFeed(nil)
	n := feedNamespaces + feedNamespaces/2
	ws := make([]wakes, n)
	for i := range ws {
		ws[i] = f.wait(wakes{}, fmt.Sprintf("ns-%d", i), false, nil)
	}
	// Each waits again (as a watch does after each read), twice.
	for range 2 {
		for i := range ws {
			ws[i] = f.wait(ws[i], fmt.Sprintf("ns-%d", i), false, nil)
		}
	}
	woken := 0
	for _, w := range ws {
		select {
		case <-w.mine:
			woken++
		default:
		}
	}
	if woken > 0 {
		t.Fatalf("%d of %d watches of quiet namespaces were woken with nothing changed", woken, n)
	}
	f.mu.Lock()
	kept := len(f.byNS)
	f.mu.Unlock()
	if kept != n {
		t.Fatalf("%d channels for %d namespaces waited on", kept, n)
	}
	// A change of one wakes its watch alone; the watches that stop take
	// their channels with them.
	f.watchers.Add(1)
	f.signalIn("ns-7")
	for i, w := range ws {
		select {
		case <-w.mine:
			if i != 7 {
				t.Fatalf("a change of ns-7 woke the watch of ns-%d", i)
			}
		default:
			if i == 7 {
				t.Fatal("a change of ns-7 did not wake its watch")
			}
		}
	}
	for _, w := range ws {
		f.drop(w)
	}
	f.mu.Lock()
	kept = len(f.byNS)
	f.mu.Unlock()
	if kept != 0 {
		t.Fatalf("%d channels kept after every watch stopped", kept)
	}
}
