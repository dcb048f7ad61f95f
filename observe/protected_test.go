package observe_test

import (
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/security"
)

// TestProtectedClearer: the wrapper passes driver.ProtectedClearer on,
// observed as the Clear or DeleteNamespace it is; over a store without it
// it answers ErrUnsupported, unobserved. Under the security layer (the
// server's order), a clear by a principal who may not write every key
// reaches the store's ClearUnless through the wrapper: one clear event, no
// count of the guard's own.
func TestProtectedClearer(t *testing.T) {
	rec := &recorder{}
	inner := teststore.Open(t, testdb.SQLiteMemory(t))
	s := observe.Wrap(inner, rec)
	pc, ok := s.(driver.ProtectedClearer)
	if !ok {
		t.Fatalf("%T is not a driver.ProtectedClearer", s)
	}
	ctx := t.Context()
	in := storage.InNamespace("shared")
	if err := inner.Set(ctx, "principal://alice/data/k", 1, in); err != nil {
		t.Fatal(err)
	}
	rs := []storage.KeyRange{storage.PrefixRange(storage.PrincipalScheme + "alice/")}
	err := pc.ClearUnless(ctx, "shared", rs)
	ev, n := rec.last()
	if !errors.Is(err, driver.ErrProtected) || n != 1 || ev.Op != observe.OpClear || ev.Namespace() != "shared" ||
		observe.ErrorType(ev.Err) != "permission_denied" {
		t.Errorf("ClearUnless: %v; %d events, last %+v (namespace %q)", err, n, ev, ev.Namespace())
	}
	err = pc.DeleteNamespaceUnless(ctx, "shared", nil, storage.Recursive())
	ev, n = rec.last()
	if err != nil || n != 2 || ev.Op != observe.OpDeleteNamespace || ev.Namespace() != "shared" || ev.Err != nil {
		t.Errorf("DeleteNamespaceUnless: %v; %d events, last %+v", err, n, ev)
	}

	plain := observe.Wrap(struct{ storage.Store }{inner}, rec).(driver.ProtectedClearer)
	if err := plain.ClearUnless(ctx, "shared", rs); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("ClearUnless over a store without it: %v, want ErrUnsupported", err)
	}
	if err := plain.DeleteNamespaceUnless(ctx, "shared", rs); !errors.Is(err, storage.ErrUnsupported) {
		t.Errorf("DeleteNamespaceUnless over a store without it: %v, want ErrUnsupported", err)
	}
	if _, n := rec.last(); n != 2 {
		t.Errorf("%d events after the unsupported calls, want 2", n)
	}

	rec2 := &recorder{}
	alice, err := security.NewPKR("alice-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	pol := security.NewPolicy()
	if err := pol.Apply(alice, security.Profile{Name: "alice", Scopes: map[string]string{"storage://namespace/*": "rw"}}); err != nil {
		t.Fatal(err)
	}
	sec := security.NewStore(observe.Wrap(inner, rec2), pol)
	actx := security.WithPrincipal(ctx, alice)
	if err := sec.Set(actx, "k", 1, in); err != nil {
		t.Fatal(err)
	}
	if err := sec.Clear(actx, in); err != nil {
		t.Fatalf("alice's Clear: %v", err)
	}
	rec2.mu.Lock()
	defer rec2.mu.Unlock()
	var ops []string
	for _, ev := range rec2.ends {
		ops = append(ops, ev.Op)
	}
	if len(ops) != 2 || ops[0] != observe.OpSet || ops[1] != observe.OpClear {
		t.Errorf("events under security: %v, want set, clear", ops)
	}
}
