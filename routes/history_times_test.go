package routes_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestHistoryTimesOnTheWire: storage://history's events carry the key's
// createdAt and expiresAt after a put (absent when none), and the Go form
// of a wire event gets them back.
func TestHistoryTimesOnTheWire(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	clock := storetest.NewClock(t0)
	m, s := newMux(t, sqlstore.WithClock(clock.Now), sqlstore.WithSweepInterval(-1))
	ctx := context.Background()
	if err := s.Set(ctx, "k", 1, storage.WithTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := s.Set(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	v := call(t, m, "storage://history", `{"key":"k"}`)
	wantOK(t, v, "history")
	evs, _ := v["events"].([]any)
	if len(evs) != 2 {
		t.Fatalf("history: %v", v)
	}
	first, second := evs[0].(map[string]any), evs[1].(map[string]any)
	if first["createdAt"] != t0.Format(time.RFC3339) || first["expiresAt"] != t0.Add(time.Hour).Format(time.RFC3339) {
		t.Errorf("first put: %v", first)
	}
	if second["createdAt"] != t0.Format(time.RFC3339) || second["expiresAt"] != nil {
		t.Errorf("second put (no expiry): %v", second)
	}
	ev := routes.StorageEvent(routes.Event{Type: "put", Revision: 1, CreatedAt: &t0})
	if !ev.CreatedAt.Equal(t0) || !ev.ExpiresAt.IsZero() {
		t.Errorf("StorageEvent: %+v", ev)
	}
}

// TestGetAtRevisionCreateRevisionOnTheWire: get with atRevision answers
// the createRevision and revision the entry had at that revision (a
// re-created key's earlier life reports its own creation).
func TestGetAtRevisionCreateRevisionOnTheWire(t *testing.T) {
	m, s := newMux(t, sqlstore.WithSweepInterval(-1))
	ctx := context.Background()
	var w1, w2, w3 storage.WriteResult
	for _, step := range []struct {
		v any
		w *storage.WriteResult
	}{{1, &w1}, {2, &w2}, {nil, nil}, {3, &w3}} {
		var err error
		if step.w == nil {
			err = s.Delete(ctx, "k")
		} else {
			err = s.Set(ctx, "k", step.v, storage.Written(step.w))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(ctx, "k", 4); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at, rev, create int64
	}{{w1.Revision, w1.Revision, w1.Revision}, {w2.Revision, w2.Revision, w1.Revision}, {w3.Revision, w3.Revision, w3.Revision}} {
		v := call(t, m, "storage://get", fmt.Sprintf(`{"key":"k","options":{"atRevision":%d}}`, c.at))
		wantOK(t, v, "get")
		if fmt.Sprint(v["revision"]) != fmt.Sprint(c.rev) || fmt.Sprint(v["createRevision"]) != fmt.Sprint(c.create) {
			t.Errorf("get at %d: revision %v createRevision %v; want %d, %d (%v)", c.at, v["revision"], v["createRevision"], c.rev, c.create, v)
		}
	}
}
