package security_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

const (
	pkAlice = "alice"
	pkBob   = "bob"
)

// twoPrincipals returns a store where alice and bob both hold rw on every
// plain namespace, and alice has a namespace and a data key in "shared".
func twoPrincipals(t *testing.T, c testdb.Config) (inner storage.Store, st *security.Store) {
	t.Helper()
	in := teststore.Open(t, c.DSN(t))
	pol := security.NewPolicy()
	for _, pk := range []string{pkAlice, pkBob} {
		mustApply(t, pol, mustPKR(t, pk), map[string]string{"storage://namespace/*": "rw", "storage://transactions": "rw"})
	}
	ctx := context.Background()
	for _, s := range []struct{ ns, key string }{
		{"shared", "principal://alice/data/secret"},
		{"shared", "plain"},
		{"principal://alice", "s"},
		{"principal://alice/namespace/x", "s"},
	} {
		if err := in.Set(ctx, s.key, "alice's", storage.InNamespace(s.ns)); err != nil {
			t.Fatal(err)
		}
	}
	return in, security.NewStore(in, pol)
}

// TestSpoofing: bob tries to reach alice's keys and namespaces through
// look-alike names; every attempt is denied and changes nothing.
func TestSpoofing(t *testing.T) {
	keys := []string{
		"principal://alice/data/secret",
		"PRINCIPAL://alice/data/secret",
		"Principal://alice/data/secret",
		"principal://Alice/data/secret",
		"principal://ALICE/data/secret",
		"principal://аlice/data/secret", // Cyrillic а
		"principal://alice\u200b/data/secret",
		"principal://bob/data/../../alice/data/secret",
		"principal://bob/data/./x",
		"principal://bob%2F..%2Falice/data/secret",
		"principal://bob/data/x%2F..%2F..%2Falice",
		"principal://bob/data/x%5c..",
		`principal://bob/data/x\..`,
		"principal://bob/data/x/",
		"principal://bob/data//x",
		"principal://bob/data/",
		"principal://bob//data/x",
		"principal:///data/x",
		"principal://alice/data/secret/",
		"principal://alice/x",
		"principal://../data/x",
	}
	namespaces := []string{
		"principal://alice",
		"principal://alice/namespace/x",
		"principal://Alice",
		"principal://аlice",
		"principal://alice/",
		"principal://alice/namespace/",
		"principal://alice/namespace/../x",
		"principal://alice%2Fnamespace%2Fx",
		"principal://bob/../alice",
		"principal://bob/namespace/../../alice",
		"principal://alice//namespace/x",
		"principal:///alice",
		"PRINCIPAL://alice",
		"principal:/alice",
	}
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner, st := twoPrincipals(t, c)
			ctx := security.WithPrincipal(t.Context(), mustPKR(t, pkBob))
			names, entries := snapshot(t, inner)
			wantDenied := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, storage.ErrPermissionDenied) {
					t.Errorf("%s: got %v, want ErrPermissionDenied", what, err)
				}
			}
			for _, k := range keys {
				in := storage.InNamespace("shared")
				_, err := st.Get(ctx, k, in)
				wantDenied("Get "+k, err)
				_, err = st.Has(ctx, k, in)
				wantDenied("Has "+k, err)
				wantDenied("Set "+k, st.Set(ctx, k, "bob's", in))
				wantDenied("Delete "+k, st.Delete(ctx, k, in))
				wantDenied("SetMetadata "+k, st.SetMetadata(ctx, k, nil, in))
				r, err := st.SetMany(ctx, []storage.Item{{Key: k, Value: 1}}, in)
				if err != nil {
					t.Errorf("SetMany %s: %v", k, err)
				} else {
					wantDenied("SetMany "+k, r.Results[0].Err)
				}
			}
			// Namespaces: denied, or refused as invalid; never reached.
			for _, n := range namespaces {
				in := storage.InNamespace(n)
				for what, err := range map[string]error{
					"Set":             st.Set(ctx, "s", "bob's", in),
					"Clear":           st.Clear(ctx, in),
					"CreateNamespace": st.CreateNamespace(ctx, n),
					"DeleteNamespace": st.DeleteNamespace(ctx, n, storage.Recursive()),
				} {
					if !errors.Is(err, storage.ErrPermissionDenied) && !errors.Is(err, storage.ErrInvalidNamespace) {
						t.Errorf("%s in %q: got %v, want ErrPermissionDenied or ErrInvalidNamespace", what, n, err)
					}
				}
				if _, err := st.Get(ctx, "s", in); !errors.Is(err, storage.ErrPermissionDenied) && !errors.Is(err, storage.ErrInvalidNamespace) {
					t.Errorf("Get in %q: got %v", n, err)
				}
			}
			n2, e2 := snapshot(t, inner)
			if !reflect.DeepEqual(names, n2) || !reflect.DeepEqual(entries, e2) {
				t.Errorf("spoofing changed the store:\nbefore %v %v\nafter  %v %v", names, entries, n2, e2)
			}
			// A key that only looks like the scheme is an ordinary key:
			// writing it reaches nobody's data.
			look := "рrincipal://alice/data/secret" // Cyrillic р
			if err := st.Set(ctx, look, "bob's", storage.InNamespace("shared")); err != nil {
				t.Fatalf("Set look-alike: %v", err)
			}
			e, err := inner.Get(context.Background(), "principal://alice/data/secret", storage.InNamespace("shared"))
			if err != nil || string(e.Value) != `"alice's"` {
				t.Errorf("alice's key after look-alike write: %s, %v", e.Value, err)
			}
		})
	}
}

// TestVisibility: in a shared namespace List, Query and Count show bob his
// own data keys and plain keys, never alice's, across pages; and
// ListNamespaces and Status hide what bob may not see.
func TestVisibility(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner, st := twoPrincipals(t, c)
			bg := context.Background()
			for _, k := range []string{"a", "principal://alice/data/a", "principal://alice/data/b",
				"principal://bob/data/mine", "principal://carol/data/c", "z"} {
				if err := inner.Set(bg, k, map[string]any{"n": 1}, storage.InNamespace("shared")); err != nil {
					t.Fatal(err)
				}
			}
			ctx := security.WithPrincipal(t.Context(), mustPKR(t, pkBob))
			in := storage.InNamespace("shared")
			want := []string{"a", "plain", "principal://bob/data/mine", "z"}

			res, err := st.List(ctx, in)
			if err != nil || !slices.Equal(res.Keys, want) {
				t.Errorf("List = %v, %v; want %v", res.Keys, err, want)
			}
			for _, pageSize := range []int{1, 2, 3} {
				var got []string
				opts := []storage.Option{in, storage.Limit(pageSize)}
				for range 20 {
					res, err := st.List(ctx, opts...)
					if err != nil {
						t.Fatalf("List page: %v", err)
					}
					got = append(got, res.Keys...)
					if res.Cursor == "" {
						break
					}
					opts = []storage.Option{in, storage.Limit(pageSize), storage.After(res.Cursor)}
				}
				if !slices.Equal(got, want) {
					t.Errorf("List by %d = %v, want %v", pageSize, got, want)
				}
			}
			res, err = st.List(ctx, in, storage.Offset(1), storage.Limit(2))
			if err != nil || !slices.Equal(res.Keys, want[1:3]) {
				t.Errorf("List offset 1 limit 2 = %v, %v; want %v", res.Keys, err, want[1:3])
			}
			res, err = st.List(ctx, in, storage.Pattern("principal://*"))
			if err != nil || !slices.Equal(res.Keys, []string{"principal://bob/data/mine"}) {
				t.Errorf("List pattern = %v, %v", res.Keys, err)
			}

			var qkeys []string
			opts := []storage.Option{in, storage.Limit(1)}
			for range 20 {
				q, err := st.Query(ctx, storage.All(), opts...)
				if err != nil {
					t.Fatalf("Query: %v", err)
				}
				for _, e := range q.Entries {
					qkeys = append(qkeys, e.Key)
				}
				if q.Cursor == "" {
					break
				}
				opts = []storage.Option{in, storage.Limit(1), storage.After(q.Cursor)}
			}
			if !slices.Equal(qkeys, want) {
				t.Errorf("Query pages = %v, want %v", qkeys, want)
			}
			n, err := st.Count(ctx, in)
			if err != nil || n != 4 {
				t.Errorf("Count = %d, %v; want 4", n, err)
			}
			n, err = st.Count(ctx, in, storage.Where(storage.Eq("n", 1)))
			if err != nil || n != 3 {
				t.Errorf("Count where n=1 = %d, %v; want 3", n, err)
			}

			nss, err := st.ListNamespaces(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nss {
				if n.Owner != "" {
					t.Errorf("bob sees namespace %q", n.Name)
				}
			}
			s, err := st.Status(ctx)
			if err != nil || s.Size != 0 || s.Namespaces != 0 || !s.Healthy {
				t.Errorf("Status = %+v, %v; want healthy, Size and Namespaces hidden", s, err)
			}

			// Clear and DeleteNamespace would remove alice's keys: denied.
			if err := st.Clear(ctx, in); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Errorf("Clear shared: %v, want ErrPermissionDenied", err)
			}
			if err := st.DeleteNamespace(ctx, "shared", storage.Recursive()); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Errorf("DeleteNamespace shared: %v, want ErrPermissionDenied", err)
			}
			if err := st.Clear(ctx); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Errorf("Clear all: %v, want ErrPermissionDenied", err)
			}
			if n, _ := inner.Count(bg, in); n != 8 {
				t.Errorf("inner Count = %d, want 8", n)
			}
		})
	}
}
