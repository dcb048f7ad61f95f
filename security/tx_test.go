package security_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// TestTx: inside a transaction the same rules hold, a denial leaves the
// transaction usable (on Postgres too: it is decided before any SQL), and
// the transaction belongs to the principal that began it.
func TestTx(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner, st := twoPrincipals(t, c)
			bob := security.WithPrincipal(t.Context(), mustPKR(t, pkBob))
			alice := security.WithPrincipal(t.Context(), mustPKR(t, pkAlice))
			in := storage.InNamespace("shared")

			tx, err := st.Begin(bob, storage.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(bob) }()
			if err := tx.Set(bob, "t1", 1, in); err != nil {
				t.Fatalf("Set t1: %v", err)
			}
			for what, err := range map[string]error{
				"Set alice's key":  tx.Set(bob, "principal://alice/data/secret", 1, in),
				"Set alice's ns":   tx.Set(bob, "s", 1, storage.InNamespace("principal://alice")),
				"Delete spoof":     tx.Delete(bob, "principal://bob/data/../x", in),
				"Clear alice's ns": tx.Clear(bob, storage.InNamespace("principal://alice")),
				"Clear all":        tx.Clear(bob),
			} {
				if !errors.Is(err, storage.ErrPermissionDenied) {
					t.Errorf("%s: got %v, want ErrPermissionDenied", what, err)
				}
			}
			if _, err := tx.Get(bob, "secret", storage.InNamespace("principal://alice")); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Errorf("Get in alice's ns: %v", err)
			}
			r, err := tx.DeleteMany(bob, []string{"principal://alice/data/secret", "plain"}, in)
			if err != nil || !errors.Is(r.Results[0].Err, storage.ErrPermissionDenied) || r.Results[1].Err != nil {
				t.Errorf("DeleteMany = %+v, %v; want alice's key denied, plain deleted", r, err)
			}
			// The transaction is still usable after the denials.
			if err := tx.Set(bob, "t2", 2, in); err != nil {
				t.Fatalf("Set t2 after denials: %v", err)
			}
			if n, err := tx.Count(bob, in); err != nil || n != 2 {
				t.Errorf("Count in tx = %d, %v; want 2 (t1, t2)", n, err)
			}

			// Another principal, or none, cannot use it.
			other, err := st.LookupTx(tx.ID())
			if err != nil {
				t.Fatalf("LookupTx: %v", err)
			}
			if err := other.Set(alice, "t3", 3, in); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Errorf("alice Set through bob's tx: %v", err)
			}
			if err := other.Commit(alice); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Errorf("alice Commit of bob's tx: %v", err)
			}
			if err := other.Rollback(alice); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Errorf("alice Rollback of bob's tx: %v", err)
			}
			if _, err := other.Get(t.Context(), "t1", in); !errors.Is(err, storage.ErrUnauthenticated) {
				t.Errorf("Get without principal through bob's tx: %v", err)
			}
			if err := other.Set(bob, "t4", 4, in); err != nil {
				t.Errorf("bob through LookupTx: %v", err)
			}
			if err := tx.Commit(bob); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			bg := context.Background()
			for _, k := range []string{"t1", "t2", "t4", "principal://alice/data/secret"} {
				if ok, _ := inner.Has(bg, k, in); !ok {
					t.Errorf("%s missing after commit", k)
				}
			}
			if ok, _ := inner.Has(bg, "plain", in); ok {
				t.Errorf("plain still there after commit")
			}
			if _, err := st.LookupTx(tx.ID()); !errors.Is(err, storage.ErrTxNotFound) {
				t.Errorf("LookupTx after commit: %v", err)
			}
			if _, err := st.Begin(t.Context(), storage.TxOptions{}); !errors.Is(err, storage.ErrUnauthenticated) {
				t.Errorf("Begin without principal: %v", err)
			}
		})
	}
}

// TestBatchPartial: permitted keys of a batch go ahead; with Atomic a
// denial writes nothing.
func TestBatchPartial(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner, st := twoPrincipals(t, c)
			bob := security.WithPrincipal(t.Context(), mustPKR(t, pkBob))
			in := storage.InNamespace("shared")
			items := []storage.Item{
				{Key: "b1", Value: 1},
				{Key: "principal://alice/data/secret", Value: 1},
				{Key: "principal://bob/data/b2", Value: 2},
				{Key: "b1", Value: 3},
			}
			r, err := st.SetMany(bob, items, in, storage.Atomic())
			if err != nil || len(r.Results) != 3 {
				t.Fatalf("SetMany atomic = %+v, %v", r, err)
			}
			if !errors.Is(r.Results[1].Err, storage.ErrPermissionDenied) ||
				!errors.Is(r.Results[0].Err, storage.ErrAborted) || !errors.Is(r.Results[2].Err, storage.ErrAborted) {
				t.Errorf("SetMany atomic results = %+v", r.Results)
			}
			if ok, _ := inner.Has(context.Background(), "b1", in); ok {
				t.Errorf("atomic batch with a denial wrote b1")
			}
			r, err = st.SetMany(bob, items, in)
			if err != nil || len(r.Results) != 3 {
				t.Fatalf("SetMany = %+v, %v", r, err)
			}
			if r.Results[0].Err != nil || r.Results[2].Err != nil || !errors.Is(r.Results[1].Err, storage.ErrPermissionDenied) {
				t.Errorf("SetMany results = %+v", r.Results)
			}
			if r.Results[0].Key != "b1" || r.Results[1].Key != "principal://alice/data/secret" || r.Results[2].Key != "principal://bob/data/b2" {
				t.Errorf("SetMany result order = %+v", r.Results)
			}
			e, err := inner.Get(context.Background(), "principal://alice/data/secret", in)
			if err != nil || string(e.Value) != `"alice's"` {
				t.Errorf("alice's key = %s, %v", e.Value, err)
			}
			g, err := st.GetMany(bob, []string{"b1", "principal://alice/data/secret", "nope"}, in)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := g.Entries["b1"]; !ok || !errors.Is(g.Errors["principal://alice/data/secret"], storage.ErrPermissionDenied) ||
				!errors.Is(g.Errors["nope"], storage.ErrNotFound) {
				t.Errorf("GetMany = %+v", g)
			}
		})
	}
}

// TestAnonymousAndActor: without AllowAnonymous no principal is
// ErrUnauthenticated; with it, the anonymous profile applies. WithPrincipal
// names the principal as the actor.
func TestAnonymousAndActor(t *testing.T) {
	inner := teststore.Open(t, configs[0].DSN(t))
	pol := security.NewPolicy()
	if err := pol.ApplyAnonymous(security.Profile{Name: "public", Scopes: map[string]string{"storage://namespace/public": "r"}}); err != nil {
		t.Fatal(err)
	}
	if err := inner.Set(context.Background(), "k", 1, storage.InNamespace("public")); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := security.NewStore(inner, pol).Get(ctx, "k", storage.InNamespace("public")); !errors.Is(err, storage.ErrUnauthenticated) {
		t.Errorf("no principal: %v", err)
	}
	anon := security.NewStore(inner, pol, security.AllowAnonymous())
	if _, err := anon.Get(ctx, "k", storage.InNamespace("public")); err != nil {
		t.Errorf("anonymous read: %v", err)
	}
	if err := anon.Set(ctx, "k", 2, storage.InNamespace("public")); !errors.Is(err, storage.ErrPermissionDenied) {
		t.Errorf("anonymous write: %v", err)
	}
	if _, err := anon.Get(security.WithPrincipal(ctx, security.PKR{PublicKey: "bad/key"}), "k", storage.InNamespace("public")); !errors.Is(err, storage.ErrUnauthenticated) {
		t.Errorf("invalid PKR: %v", err)
	}
	p := mustPKR(t, "alice")
	pctx := security.WithPrincipal(ctx, p)
	if got := storage.ActorFromContext(pctx); got != "alice" {
		t.Errorf("actor = %q, want alice", got)
	}
	if got, ok := security.PrincipalFrom(pctx); !ok || got.PublicKey != "alice" {
		t.Errorf("PrincipalFrom = %v, %v", got, ok)
	}
}

// TestScopes checks the profile grammar.
func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		name, scope string
		ok          bool
	}{
		{"namespace", "storage://namespace/users", true},
		{"wildcard", "storage://namespace/*", true},
		{"principalNS", "principal://pk", true},
		{"principalSub", "principal://pk/namespace/notes", true},
		{"principalSubAll", "principal://pk/namespace/*", true},
		{"principalData", "principal://pk/data/*", true},
		{"principalAll", "principal://pk/*", true},
		{"allPrincipals", "principal://*", true},
		{"badNamespace", "storage://namespace/a/b", false},
		{"badScheme", "storage://other/x", false},
		{"emptyPKR", "principal:///data/*", false},
		{"dotdot", "principal://../data/*", false},
		{"dataKey", "principal://pk/data/x", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := security.ValidateScope(tc.scope); (err == nil) != tc.ok {
				t.Errorf("ValidateScope(%q) = %v, want ok=%v", tc.scope, err, tc.ok)
			}
		})
	}
	for _, s := range []string{"r", "w", "rw"} {
		if p, err := security.ParsePermission(s); err != nil || p.String() != s {
			t.Errorf("ParsePermission(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := security.ParsePermission("x"); err == nil {
		t.Error("ParsePermission(x): no error")
	}
}

// TestBeginNeedsPermission: beginning a transaction needs
// storage://transactions, r for a read-only one and w for a read-write one;
// holders of everything have it; a principal with no grant has none, even
// though it owns its principal namespace.
func TestBeginNeedsPermission(t *testing.T) {
	inner := teststore.Open(t, "sqlite::memory:")
	pol := security.NewPolicy()
	mustApply(t, pol, mustPKR(t, "ro-pk"), map[string]string{"storage://transactions": "r", "storage://namespace/*": "rw"})
	mustApply(t, pol, mustPKR(t, "rw-pk"), map[string]string{"storage://transactions": "rw"})
	mustApply(t, pol, mustPKR(t, "w-pk"), map[string]string{"storage://transactions": "w"})
	mustApply(t, pol, mustPKR(t, "admin-pk"), map[string]string{"storage://namespace/*": "rw", "principal://*": "rw"})
	mustApply(t, pol, mustPKR(t, "ns-pk"), map[string]string{"storage://namespace/*": "rw", "principal://x/*": "rw"})
	st := security.NewStore(inner, pol)
	for _, c := range []struct {
		pk       string
		readOnly bool
		ok       bool
	}{
		{"ro-pk", true, true}, {"ro-pk", false, false},
		{"rw-pk", true, true}, {"rw-pk", false, true},
		{"w-pk", true, false}, {"w-pk", false, true},
		{"admin-pk", true, true}, {"admin-pk", false, true},
		{"ns-pk", true, false}, {"ns-pk", false, false},
		{"nobody-pk", true, false}, {"nobody-pk", false, false},
	} {
		ctx := security.WithPrincipal(t.Context(), mustPKR(t, c.pk))
		tx, err := st.Begin(ctx, storage.TxOptions{ReadOnly: c.readOnly})
		switch {
		case c.ok && err != nil:
			t.Errorf("%s readOnly=%v: %v", c.pk, c.readOnly, err)
		case !c.ok && !errors.Is(err, storage.ErrPermissionDenied):
			t.Errorf("%s readOnly=%v: got %v, want ErrPermissionDenied", c.pk, c.readOnly, err)
		}
		if err == nil {
			_ = tx.Rollback(ctx)
		}
	}
	if err := security.ValidateScope("storage://transactions"); err != nil {
		t.Error(err)
	}
}
