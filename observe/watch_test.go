package observe_test

import (
	"context"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/observe"
)

// TestWatchObserved: a watch is one observed operation, from the call to
// the end of the iteration, counting the events delivered; History is
// observed as any read.
func TestWatchObserved(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t))
			rec := &recorder{}
			s := observe.Wrap(inner, rec)
			ctx := context.Background()
			st, err := s.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := s.Set(ctx, "k", i, storage.InNamespace("w")); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			for _, err := range s.(storage.Watcher).Watch(ctx, storage.FromRevision(st.Revision), storage.InNamespace("w"), storage.Pattern("k")) {
				if err != nil {
					t.Fatal(err)
				}
				if n++; n == 3 {
					break
				}
			}
			ev, _ := rec.last()
			checkEvent(t, ev)
			if ev.Op != observe.OpWatch || ev.Rows != 3 || ev.Err != nil || ev.Namespace() != "w" {
				t.Fatalf("watch event %+v (namespace %q), want watch, 3 rows", ev, ev.Namespace())
			}
			evs, err := s.(storage.Historian).History(ctx, "k", storage.InNamespace("w"))
			if err != nil || len(evs) != 3 {
				t.Fatalf("History: %v, %v", evs, err)
			}
			if ev, _ := rec.last(); ev.Op != observe.OpHistory || ev.Rows != 3 || ev.Key != "k" {
				t.Fatalf("history event %+v", ev)
			}
		})
	}
}
