package observe_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/security"
)

func TestWrapNilIsIdentity(t *testing.T) {
	inner := teststore.Open(t, testdb.SQLiteMemory(t))
	if got := observe.Wrap(inner, nil); got != storage.Store(inner) {
		t.Fatalf("Wrap(s, nil) = %T, want s itself", got)
	}
	if got := observe.Wrap(inner, observe.Hooks(nil, nil)); got != storage.Store(inner) {
		t.Fatalf("Wrap(s, Hooks(nil, nil)) = %T, want s itself", got)
	}
	w := observe.Wrap(inner, &recorder{})
	if u := w.(interface{ Unwrap() storage.Store }).Unwrap(); u != storage.Store(inner) {
		t.Fatalf("Unwrap = %v, want the inner store", u)
	}
}

func TestHooksOrder(t *testing.T) {
	var trail []string
	mk := func(name string) observe.Hook {
		return hookFuncs{
			start: func(ctx context.Context, _ observe.Event) context.Context {
				trail = append(trail, "start "+name)
				return ctx
			},
			end: func(context.Context, observe.Event) { trail = append(trail, "end "+name) },
		}
	}
	a := mk("a")
	if observe.Hooks(nil, a) == nil {
		t.Fatal("Hooks(nil, a) is nil")
	}
	s := observe.Wrap(getOnly{}, observe.Hooks(a, nil, mk("b")))
	if _, err := s.Get(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "end b", "end a"}
	if len(trail) != len(want) {
		t.Fatalf("trail %v, want %v", trail, want)
	}
	for i := range want {
		if trail[i] != want[i] {
			t.Fatalf("trail %v, want %v", trail, want)
		}
	}
}

type hookFuncs struct {
	start func(context.Context, observe.Event) context.Context
	end   func(context.Context, observe.Event)
}

func (h hookFuncs) Start(ctx context.Context, ev observe.Event) context.Context {
	return h.start(ctx, ev)
}
func (h hookFuncs) End(ctx context.Context, ev observe.Event) { h.end(ctx, ev) }

// ctxSpy checks that Get runs with the context the hook's Start returned.
type ctxSpy struct {
	storage.Store
	saw any
}

func (c *ctxSpy) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	c.saw = ctx.Value(markKey{})
	return c.Store.Get(ctx, key, opts...)
}

func TestStoreSeesHookContext(t *testing.T) {
	spy := &ctxSpy{Store: teststore.Open(t, testdb.SQLiteMemory(t))}
	rec := &recorder{}
	_, err := observe.Wrap(spy, rec).Get(context.Background(), "k")
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get: %v, want ErrNotFound", err)
	}
	if spy.saw != observe.OpGet {
		t.Fatalf("the wrapped store saw mark %v, want %q", spy.saw, observe.OpGet)
	}
	if rec.unmarkedEnd != 0 {
		t.Fatalf("%d End calls without Start's context", rec.unmarkedEnd)
	}
}

// opCase is one call and the event it must produce.
type opCase struct {
	name string
	call func(ctx context.Context) error
	want fields
	// wantErr, when set, is the sentinel the call must fail with.
	wantErr error
	// inTx: the event carries the ID of the transaction tx.
	inTx bool
}

// TestEveryOperation calls each operation of a store and of its
// transactions once or more and checks the one event each produces: its
// fields, and an Err identical to the error the caller got.
func TestEveryOperation(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			testEveryOperation(t, teststore.Open(t, c.DSN(t)))
		})
	}
}

func testEveryOperation(t *testing.T, inner storage.Store) {
	rec := &recorder{}
	s := observe.Wrap(inner, rec)
	in := storage.InNamespace
	var tx, tx2 storage.Tx
	ev := func(op, ns, key string, keys int, rows int64) fields {
		return fields{Op: op, Namespace: ns, Key: key, Keys: keys, Rows: rows}
	}
	err0 := func(_ any, err error) error { return err }
	const def = storage.DefaultNamespace
	cases := []opCase{
		{"set", func(ctx context.Context) error { return s.Set(ctx, "a", 1) }, ev("set", def, "a", 0, 1), nil, false},
		{"set ns", func(ctx context.Context) error { return s.Set(ctx, "b", 2, in("n1")) }, ev("set", "n1", "b", 0, 1), nil, false},
		{"set invalid key", func(ctx context.Context) error { return s.Set(ctx, "", 1) }, ev("set", def, "", 0, 0), storage.ErrInvalidKey, false},
		{"get", func(ctx context.Context) error { return err0(s.Get(ctx, "a")) }, ev("get", def, "a", 0, 1), nil, false},
		{"get missing", func(ctx context.Context) error { return err0(s.Get(ctx, "zz")) }, ev("get", def, "zz", 0, 0), storage.ErrNotFound, false},
		{"get invalid ns", func(ctx context.Context) error { return err0(s.Get(ctx, "a", in("no such!"))) }, ev("get", "", "a", 0, 0), storage.ErrInvalidNamespace, false},
		{"has", func(ctx context.Context) error { return err0(s.Has(ctx, "a")) }, ev("has", def, "a", 0, 1), nil, false},
		{"has missing", func(ctx context.Context) error { return err0(s.Has(ctx, "zz")) }, ev("has", def, "zz", 0, 0), nil, false},
		{"getMany", func(ctx context.Context) error { return err0(s.GetMany(ctx, []string{"a", "zz", "a"})) }, ev("getMany", def, "", 3, 1), nil, false},
		{"setMany", func(ctx context.Context) error {
			return err0(s.SetMany(ctx, []storage.Item{{Key: "x", Value: 1}, {Key: "y", Value: 2}, {Key: "", Value: 3}}))
		}, ev("setMany", def, "", 3, 2), nil, false},
		{"deleteMany", func(ctx context.Context) error { return err0(s.DeleteMany(ctx, []string{"x", "nope"})) }, ev("deleteMany", def, "", 2, 1), nil, false},
		{"getMetadata", func(ctx context.Context) error { return err0(s.GetMetadata(ctx, "b", in("n1"))) }, ev("getMetadata", "n1", "b", 0, 1), nil, false},
		{"setMetadata", func(ctx context.Context) error {
			return s.SetMetadata(ctx, "b", map[string]any{"m": 1}, in("n1"))
		}, ev("setMetadata", "n1", "b", 0, 1), nil, false},
		{"setMetadata missing", func(ctx context.Context) error {
			return s.SetMetadata(ctx, "zz", map[string]any{"m": 1})
		}, ev("setMetadata", def, "zz", 0, 0), storage.ErrNotFound, false},
		{"list", func(ctx context.Context) error { return err0(s.List(ctx)) }, ev("list", def, "", 0, 2), nil, false},
		{"query", func(ctx context.Context) error { return err0(s.Query(ctx, storage.All(), in("n1"))) }, ev("query", "n1", "", 0, 1), nil, false},
		{"query invalid", func(ctx context.Context) error {
			return err0(s.Query(ctx, storage.Filter{Field: "a", Op: "nope"}))
		}, ev("query", def, "", 0, 0), storage.ErrInvalidFilter, false},
		{"count", func(ctx context.Context) error { return err0(s.Count(ctx)) }, ev("count", def, "", 0, 2), nil, false},
		{"delete", func(ctx context.Context) error { return s.Delete(ctx, "a") }, ev("delete", def, "a", 0, 1), nil, false},
		{"delete missing", func(ctx context.Context) error { return s.Delete(ctx, "a") }, ev("delete", def, "a", 0, 0), storage.ErrNotFound, false},
		{"createNamespace", func(ctx context.Context) error { return s.CreateNamespace(ctx, "n2") }, ev("createNamespace", "n2", "", 0, 1), nil, false},
		{"createNamespace again", func(ctx context.Context) error { return s.CreateNamespace(ctx, "n2") }, ev("createNamespace", "n2", "", 0, 0), storage.ErrNamespaceExists, false},
		{"createNamespace invalid", func(ctx context.Context) error { return s.CreateNamespace(ctx, "bad name") }, ev("createNamespace", "", "", 0, 0), storage.ErrInvalidNamespace, false},
		{"listNamespaces", func(ctx context.Context) error { return err0(s.ListNamespaces(ctx)) }, ev("listNamespaces", "", "", 0, 3), nil, false},
		{"createIndex", func(ctx context.Context) error { return s.(storage.Indexer).CreateIndex(ctx, "n1", "age") }, ev("createIndex", "n1", "", 0, 1), nil, false},
		{"createIndex again", func(ctx context.Context) error { return s.(storage.Indexer).CreateIndex(ctx, "n1", "age") }, ev("createIndex", "n1", "", 0, 0), storage.ErrIndexExists, false},
		{"dropIndex", func(ctx context.Context) error { return s.(storage.Indexer).DropIndex(ctx, "n1", "age") }, ev("dropIndex", "n1", "", 0, 1), nil, false},
		{"dropIndex missing", func(ctx context.Context) error { return s.(storage.Indexer).DropIndex(ctx, "n1", "age") }, ev("dropIndex", "n1", "", 0, 0), storage.ErrIndexNotFound, false},
		{"deleteNamespace", func(ctx context.Context) error { return s.DeleteNamespace(ctx, "n2") }, ev("deleteNamespace", "n2", "", 0, -1), nil, false},
		{"deleteNamespace missing", func(ctx context.Context) error { return s.DeleteNamespace(ctx, "n2") }, ev("deleteNamespace", "n2", "", 0, 0), storage.ErrNamespaceNotFound, false},
		{"clear ns", func(ctx context.Context) error { return s.Clear(ctx, in("n1")) }, ev("clear", "n1", "", 0, -1), nil, false},
		{"status", func(ctx context.Context) error { return err0(s.Status(ctx)) }, ev("status", "", "", 0, 0), nil, false},
		{"history", func(ctx context.Context) error { return err0(s.(storage.Historian).History(ctx, "h")) }, ev("history", def, "h", 0, 0), nil, false},
		{"watch ahead", func(ctx context.Context) error {
			for _, err := range s.(storage.Watcher).Watch(ctx, storage.FromRevision(1<<40)) {
				return err
			}
			return nil
		}, ev("watch", "", "", 0, 0), storage.ErrInvalidOption, false},
		{"begin", func(ctx context.Context) error {
			var err error
			tx, err = s.Begin(ctx, storage.TxOptions{})
			return err
		}, ev("begin", "", "", 0, 0), nil, true},
		{"tx set", func(ctx context.Context) error { return tx.Set(ctx, "t", 1, in("n3")) }, ev("set", "n3", "t", 0, 1), nil, true},
		{"tx get", func(ctx context.Context) error { return err0(tx.Get(ctx, "t", in("n3"))) }, ev("get", "n3", "t", 0, 1), nil, true},
		{"lookupTx get", func(ctx context.Context) error {
			var err error
			if tx2, err = s.LookupTx(tx.ID()); err != nil {
				return err
			}
			return err0(tx2.Count(ctx, in("n3")))
		}, ev("count", "n3", "", 0, 1), nil, true},
		{"commit", func(ctx context.Context) error { return tx.Commit(ctx) }, ev("commit", "", "", 0, 0), nil, true},
		{"rollback after commit", func(ctx context.Context) error { return tx.Rollback(ctx) }, ev("rollback", "", "", 0, 0), nil, true},
		{"tx get after commit", func(ctx context.Context) error { return err0(tx.Get(ctx, "t", in("n3"))) }, ev("get", "n3", "t", 0, 0), storage.ErrTxDone, true},
		{"clear all", func(ctx context.Context) error { return s.Clear(ctx) }, ev("clear", "", "", 0, -1), nil, false},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, n0 := rec.last()
			err := tc.call(t.Context())
			if tc.wantErr == nil && err != nil || !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			got, n := rec.last()
			if n != n0+1 {
				t.Fatalf("%d events, want exactly 1", n-n0)
			}
			want := tc.want
			if tc.inTx {
				want.TxID = tx.ID()
			}
			checkEvent(t, got)
			if got.Err != err { //nolint:errorlint // identity: the error must pass through unchanged
				t.Errorf("Event.Err = %v, want the very error returned, %v", got.Err, err)
			}
			if f := fieldsOf(got); f != want {
				t.Errorf("event\n got %+v\nwant %+v", f, want)
			}
			seen[got.Op] = true
		})
	}
	for _, op := range observe.Ops() {
		if !seen[op] {
			t.Errorf("no case produced an event for %q", op)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.starts) != len(rec.ends) || rec.unmarkedEnd != 0 {
		t.Errorf("%d starts, %d ends, %d ends without Start's context", len(rec.starts), len(rec.ends), rec.unmarkedEnd)
	}
}

// TestOverSecurity: the wrapper composes with an authorizing store; a call
// it refuses is reported with its error.
func TestOverSecurity(t *testing.T) {
	rec := &recorder{}
	s := observe.Wrap(security.NewStore(teststore.Open(t, testdb.SQLiteMemory(t)), security.NewPolicy()), rec)
	_, err := s.Get(t.Context(), "k", storage.InNamespace("ns"))
	if !errors.Is(err, storage.ErrUnauthenticated) {
		t.Fatalf("Get without a principal: %v, want ErrUnauthenticated", err)
	}
	ev, n := rec.last()
	if n != 1 || ev.Err != err || observe.ErrorType(ev.Err) != "unauthenticated" || ev.Namespace() != "ns" { //nolint:errorlint // identity
		t.Fatalf("%d events, last %+v (namespace %q)", n, ev, ev.Namespace())
	}
}
