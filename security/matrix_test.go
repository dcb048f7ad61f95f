package security_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// The principals of the matrix.
const (
	pkOwner    = "owner-pk"
	pkRW       = "rw-pk"
	pkR        = "r-pk"
	pkWildcard = "wild-pk"
	pkNone     = "none-pk"
	sharedNS   = "shared"
)

// matrixStore builds the policy of the matrix over inner.
func matrixStore(t *testing.T, inner storage.Store) *security.Store {
	t.Helper()
	pol := security.NewPolicy()
	mustApply(t, pol, mustPKR(t, pkRW), map[string]string{"storage://namespace/" + sharedNS: "rw"})
	mustApply(t, pol, mustPKR(t, pkR), map[string]string{"storage://namespace/" + sharedNS: "r"})
	mustApply(t, pol, mustPKR(t, pkWildcard), map[string]string{"storage://namespace/*": "rw"})
	// Every subject may begin transactions: the matrix is about what
	// happens inside them (TestBeginNeedsPermission covers the grant).
	for _, pk := range []string{pkOwner, pkRW, pkR, pkWildcard, pkNone} {
		mustApply(t, pol, mustPKR(t, pk), map[string]string{"storage://transactions": "rw"})
	}
	return security.NewStore(inner, pol)
}

// seed resets inner to: the shared namespace and the owner's namespace,
// each holding k and k2.
func seed(t *testing.T, inner storage.Store) {
	t.Helper()
	ctx := context.Background()
	if err := inner.Clear(ctx); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	for _, ns := range []string{sharedNS, "principal://" + pkOwner} {
		for _, k := range []string{"k", "k2"} {
			if err := inner.Set(ctx, k, map[string]any{"v": 1}, storage.InNamespace(ns)); err != nil {
				t.Fatalf("seed %s %s: %v", ns, k, err)
			}
		}
	}
}

type matrixOp struct {
	name  string
	write bool
	// run calls the operation in namespace ns and returns its denial or
	// other error: for batches, the first per-key error.
	run func(ctx context.Context, st storage.Ops, ns string) error
}

func batchErr(r storage.BatchResult, err error) error {
	if err != nil {
		return err
	}
	for _, kr := range r.Results {
		if errors.Is(kr.Err, storage.ErrPermissionDenied) {
			return kr.Err
		}
	}
	return nil
}

var matrixOps = []matrixOp{
	{"Get", false, func(ctx context.Context, st storage.Ops, ns string) error {
		_, err := st.Get(ctx, "k", storage.InNamespace(ns))
		return err
	}},
	{"GetMissing", false, func(ctx context.Context, st storage.Ops, ns string) error {
		_, err := st.Get(ctx, "missing", storage.InNamespace(ns))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}},
	{"Has", false, func(ctx context.Context, st storage.Ops, ns string) error {
		_, err := st.Has(ctx, "k", storage.InNamespace(ns))
		return err
	}},
	{"GetMetadata", false, func(ctx context.Context, st storage.Ops, ns string) error {
		_, err := st.GetMetadata(ctx, "k", storage.InNamespace(ns))
		return err
	}},
	{"GetMany", false, func(ctx context.Context, st storage.Ops, ns string) error {
		r, err := st.GetMany(ctx, []string{"k", "k2"}, storage.InNamespace(ns))
		if err != nil {
			return err
		}
		for _, e := range r.Errors {
			return e
		}
		return nil
	}},
	{"List", false, func(ctx context.Context, st storage.Ops, ns string) error {
		_, err := st.List(ctx, storage.InNamespace(ns))
		return err
	}},
	{"ListPattern", false, func(ctx context.Context, st storage.Ops, ns string) error {
		_, err := st.List(ctx, storage.InNamespace(ns), storage.Pattern("k*"), storage.Limit(1))
		return err
	}},
	{"Query", false, func(ctx context.Context, st storage.Ops, ns string) error {
		_, err := st.Query(ctx, storage.Eq("v", 1), storage.InNamespace(ns))
		return err
	}},
	{"Count", false, func(ctx context.Context, st storage.Ops, ns string) error {
		_, err := st.Count(ctx, storage.InNamespace(ns), storage.Where(storage.Eq("v", 1)))
		return err
	}},
	{"Set", true, func(ctx context.Context, st storage.Ops, ns string) error {
		return st.Set(ctx, "k", 2, storage.InNamespace(ns))
	}},
	{"SetNew", true, func(ctx context.Context, st storage.Ops, ns string) error {
		return st.Set(ctx, "new", 2, storage.InNamespace(ns))
	}},
	{"Delete", true, func(ctx context.Context, st storage.Ops, ns string) error {
		return st.Delete(ctx, "k", storage.InNamespace(ns))
	}},
	{"SetMetadata", true, func(ctx context.Context, st storage.Ops, ns string) error {
		return st.SetMetadata(ctx, "k", map[string]any{"m": 1}, storage.InNamespace(ns))
	}},
	{"SetMany", true, func(ctx context.Context, st storage.Ops, ns string) error {
		return batchErr(st.SetMany(ctx, []storage.Item{{Key: "k", Value: 3}, {Key: "n", Value: 3}}, storage.InNamespace(ns)))
	}},
	{"DeleteMany", true, func(ctx context.Context, st storage.Ops, ns string) error {
		return batchErr(st.DeleteMany(ctx, []string{"k", "k2"}, storage.InNamespace(ns)))
	}},
	{"Clear", true, func(ctx context.Context, st storage.Ops, ns string) error {
		return st.Clear(ctx, storage.InNamespace(ns))
	}},
	{"CreateNamespace", true, func(ctx context.Context, ops storage.Ops, ns string) error {
		st := ops.(storage.Store)
		err := st.CreateNamespace(ctx, ns)
		if errors.Is(err, storage.ErrNamespaceExists) {
			return nil
		}
		return err
	}},
	{"DeleteNamespace", true, func(ctx context.Context, ops storage.Ops, ns string) error {
		st := ops.(storage.Store)
		return st.DeleteNamespace(ctx, ns, storage.Recursive())
	}},
	{"ListNamespacesShows", false, func(ctx context.Context, ops storage.Ops, ns string) error {
		st := ops.(storage.Store)
		list, err := st.ListNamespaces(ctx)
		if err != nil {
			return err
		}
		for _, n := range list {
			if n.Name == ns {
				return nil
			}
		}
		return storage.ErrPermissionDenied // hidden: the matrix's "denied"
	}},
}

// matrixSubject is one caller of the matrix. allow reports whether it may
// read or write the target namespace ("shared" or "owned").
type matrixSubject struct {
	name  string
	pk    string // "" = no principal in the context
	read  map[string]bool
	write map[string]bool
}

var matrixSubjects = []matrixSubject{
	{"owner", pkOwner, map[string]bool{"owned": true}, map[string]bool{"owned": true}},
	{"rwGrant", pkRW, map[string]bool{"shared": true}, map[string]bool{"shared": true}},
	{"rGrant", pkR, map[string]bool{"shared": true}, map[string]bool{}},
	{"wildcardGrant", pkWildcard, map[string]bool{"shared": true}, map[string]bool{"shared": true}},
	{"noGrant", pkNone, map[string]bool{}, map[string]bool{}},
	{"noPrincipal", "", map[string]bool{}, map[string]bool{}},
}

// matrixTargets are the namespaces the matrix runs on: a shared one and a
// principal's own.
var matrixTargets = []struct{ name, ns string }{
	{"shared", sharedNS},
	{"owned", "principal://" + pkOwner},
}

// TestMatrix runs every operation as every subject on a shared namespace
// and on a principal's own namespace, and checks each cell is allowed or
// denied as specified, and that a denial writes nothing.
func TestMatrix(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t))
			st := matrixStore(t, inner)
			cells, denials := 0, 0
			for _, tg := range matrixTargets {
				for _, sub := range matrixSubjects {
					for _, op := range matrixOps {
						t.Run(fmt.Sprintf("%s/%s/%s", tg.name, sub.name, op.name), func(t *testing.T) {
							seed(t, inner)
							ctx := t.Context()
							if sub.pk != "" {
								ctx = security.WithPrincipal(ctx, mustPKR(t, sub.pk))
							}
							allowed := sub.read[tg.name]
							if op.write {
								allowed = sub.write[tg.name]
							}
							names, entries := snapshot(t, inner)
							err := op.run(ctx, st, tg.ns)
							cells++
							switch {
							case sub.pk == "":
								if !errors.Is(err, storage.ErrUnauthenticated) {
									t.Errorf("got %v, want ErrUnauthenticated", err)
								}
							case allowed:
								if err != nil {
									t.Errorf("got %v, want success", err)
								}
								return
							default:
								if !errors.Is(err, storage.ErrPermissionDenied) {
									t.Errorf("got %v, want ErrPermissionDenied", err)
								}
							}
							denials++
							n2, e2 := snapshot(t, inner)
							if !reflect.DeepEqual(names, n2) || !reflect.DeepEqual(entries, e2) {
								t.Errorf("denied call changed the store:\nbefore %v %v\nafter  %v %v", names, entries, n2, e2)
							}
						})
					}
				}
			}
			t.Logf("%d cells, %d denied", cells, denials)
		})
	}
}

// TestMatrixTx runs the data operations of the matrix inside a
// transaction begun by the subject (by the owner, for the subject without
// a principal): the same cells are allowed or denied, a denial leaves the
// transaction able to commit (on Postgres a failed statement would abort
// it), and nothing denied is written.
func TestMatrixTx(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t))
			st := matrixStore(t, inner)
			cells := 0
			for _, tg := range matrixTargets {
				for _, sub := range matrixSubjects {
					for _, op := range matrixOps {
						if _, isStoreOp := map[string]bool{"CreateNamespace": true, "DeleteNamespace": true, "ListNamespacesShows": true}[op.name]; isStoreOp {
							continue
						}
						t.Run(fmt.Sprintf("%s/%s/%s", tg.name, sub.name, op.name), func(t *testing.T) {
							seed(t, inner)
							names, entries := snapshot(t, inner)
							beginner := sub.pk
							if beginner == "" {
								beginner = pkOwner
							}
							bctx := security.WithPrincipal(t.Context(), mustPKR(t, beginner))
							tx, err := st.Begin(bctx, storage.TxOptions{})
							if err != nil {
								t.Fatalf("Begin: %v", err)
							}
							defer func() { _ = tx.Rollback(bctx) }()
							ctx := t.Context()
							if sub.pk != "" {
								ctx = bctx
							}
							allowed := sub.read[tg.name]
							if op.write {
								allowed = sub.write[tg.name]
							}
							err = op.run(ctx, tx, tg.ns)
							cells++
							switch {
							case sub.pk == "":
								if !errors.Is(err, storage.ErrUnauthenticated) {
									t.Errorf("got %v, want ErrUnauthenticated", err)
								}
							case allowed:
								if err != nil {
									t.Errorf("got %v, want success", err)
								}
							default:
								if !errors.Is(err, storage.ErrPermissionDenied) {
									t.Errorf("got %v, want ErrPermissionDenied", err)
								}
							}
							if err := tx.Commit(bctx); err != nil {
								t.Fatalf("Commit after the call: %v", err)
							}
							if allowed && sub.pk != "" {
								return
							}
							n2, e2 := snapshot(t, inner)
							if !reflect.DeepEqual(names, n2) || !reflect.DeepEqual(entries, e2) {
								t.Errorf("denied call changed the store:\nbefore %v %v\nafter  %v %v", names, entries, n2, e2)
							}
						})
					}
				}
			}
			t.Logf("%d cells", cells)
		})
	}
}
