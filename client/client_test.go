package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

var contractSentinels = storage.Sentinels()

// faultyTransport passes calls to a Mux until fail is set, then fails them
// with errNetwork (or answers garbage when garbage is set).
type faultyTransport struct {
	mux     *routes.Mux
	fail    atomic.Bool
	garbage atomic.Bool
}

var errNetwork = errors.New("connection reset by peer")

func (f *faultyTransport) Call(ctx context.Context, route string, body []byte) ([]byte, error) {
	switch {
	case f.fail.Load():
		return nil, errNetwork
	case f.garbage.Load():
		return []byte("<html>502 Bad Gateway</html>"), nil
	}
	return f.mux.Call(ctx, route, body)
}

func fileEngine(t *testing.T) *sqlstore.Store {
	t.Helper()
	return teststore.Open(t, testdb.SQLiteFile(t))
}

// faultyClient returns a client over a faultyTransport to a fresh engine.
func faultyClient(t *testing.T) (*faultyTransport, *client.Store) {
	t.Helper()
	mux := routes.NewMux()
	routes.Register(mux, fileEngine(t))
	ft := &faultyTransport{mux: mux}
	c, err := client.New(t.Context(), ft)
	if err != nil {
		t.Fatal(err)
	}
	return ft, c
}

// TestTransportErrorSentinels: a transport failure wraps the network's
// error and one sentinel: ErrCommitUnknown for a write that may have been
// sent, ErrUnavailable for a read (TestClientOutageErrors in httpapi
// covers the rest over HTTP).
func TestTransportErrorSentinels(t *testing.T) {
	ft, c := faultyClient(t)
	ft.fail.Store(true)
	for name, tc := range map[string]struct {
		err  error
		want error
	}{
		"Set": {c.Set(t.Context(), "k", 1), storage.ErrCommitUnknown},
		"New": {func() error { _, err := client.New(t.Context(), ft); return err }(), storage.ErrUnavailable},
	} {
		err := tc.err
		var te *client.TransportError
		if !errors.Is(err, errNetwork) || !errors.As(err, &te) || !strings.HasPrefix(err.Error(), "storage: ") {
			t.Errorf("%s: error %v, want a TransportError wrapping the network's", name, err)
		}
		for _, s := range contractSentinels {
			if errors.Is(err, s) != errors.Is(s, tc.want) {
				t.Errorf("%s: transport error %v: errors.Is(%v) = %v", name, err, s, errors.Is(err, s))
			}
		}
	}
	ft.fail.Store(false)
	ft.garbage.Store(true)
	var te *client.TransportError
	if _, err := c.Get(t.Context(), "k"); !errors.As(err, &te) {
		t.Errorf("garbage answer: %v, want a TransportError", err)
	}
}

func TestCommitTransportFailureIsCommitUnknown(t *testing.T) {
	ft, c := faultyClient(t)
	tx, err := c.Begin(t.Context(), storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Set(t.Context(), "k", 1); err != nil {
		t.Fatal(err)
	}
	ft.fail.Store(true)
	err = tx.Commit(t.Context())
	if !errors.Is(err, storage.ErrCommitUnknown) || !errors.Is(err, errNetwork) {
		t.Errorf("Commit over a failed transport = %v, want ErrCommitUnknown", err)
	}
}

func TestCloseDoesNotCloseServer(t *testing.T) {
	eng := fileEngine(t)
	mux, c := serve(t, eng)
	tx, err := c.Begin(t.Context(), storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(t.Context(), "k", 1); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Set after Close = %v", err)
	}
	if _, err := c.LookupTx(tx.ID()); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("LookupTx after Close = %v", err)
	}
	if err := tx.Set(t.Context(), "k", 1); !errors.Is(err, storage.ErrTxDone) {
		t.Errorf("tx.Set after Close = %v, want ErrTxDone (Close rolled it back)", err)
	}
	if _, err := eng.LookupTx(tx.ID()); !errors.Is(err, storage.ErrTxNotFound) {
		t.Errorf("the server still holds the transaction: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
	c2, err := client.New(t.Context(), mux)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Set(t.Context(), "k", 1); err != nil {
		t.Errorf("the server stopped serving: %v", err)
	}
}

// idleTransport is a Transport with idle connections: it records, in
// order, the routes called and its CloseIdleConnections calls.
type idleTransport struct {
	mux *routes.Mux
	mu  sync.Mutex
	log []string
}

func (it *idleTransport) Call(ctx context.Context, route string, body []byte) ([]byte, error) {
	it.mu.Lock()
	it.log = append(it.log, route)
	it.mu.Unlock()
	return it.mux.Call(ctx, route, body)
}

func (it *idleTransport) CloseIdleConnections() {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.log = append(it.log, "CloseIdleConnections")
}

func (it *idleTransport) calls() []string {
	it.mu.Lock()
	defer it.mu.Unlock()
	return slices.Clone(it.log)
}

// TestCloseClosesIdleConnections checks that Close closes the transport's
// idle connections once, after rolling back the open transactions over it.
func TestCloseClosesIdleConnections(t *testing.T) {
	mux := routes.NewMux()
	routes.Register(mux, fileEngine(t))
	it := &idleTransport{mux: mux}
	c, err := client.New(t.Context(), it)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Begin(t.Context(), storage.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
	calls := it.calls()
	if n := len(calls); n < 2 || calls[n-2] != routes.RouteRollback || calls[n-1] != "CloseIdleConnections" {
		t.Errorf("calls = %q, want a rollback then one CloseIdleConnections last", calls)
	}
	if n := slices.Index(calls, "CloseIdleConnections"); n != len(calls)-1 {
		t.Errorf("CloseIdleConnections called more than once: %q", calls)
	}
}

func TestTransactions(t *testing.T) {
	eng := fileEngine(t)
	mux, c := serve(t, eng)
	ctx := t.Context()
	tx, err := c.Begin(ctx, storage.TxOptions{Isolation: storage.LevelSerializable})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Isolation() != storage.LevelSerializable || tx.ReadOnly() || tx.ID() == "" {
		t.Errorf("tx = %v %v %q", tx.Isolation(), tx.ReadOnly(), tx.ID())
	}
	if got, err := c.LookupTx(tx.ID()); err != nil || got != tx {
		t.Errorf("LookupTx = %v, %v", got, err)
	}
	// Another client finds it through the server.
	c2, err := client.New(ctx, mux)
	if err != nil {
		t.Fatal(err)
	}
	other, err := c2.LookupTx(tx.ID())
	if err != nil {
		t.Fatalf("LookupTx from another client: %v", err)
	}
	if err := other.Set(ctx, "k", json.RawMessage(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if e, err := tx.Get(ctx, "k"); err != nil || string(e.Value) != `{"n":1}` {
		t.Errorf("tx.Get = %s, %v", e.Value, err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("uncommitted write visible: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Errorf("Commit again = %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("Rollback after Commit = %v", err)
	}
	if err := tx.Set(ctx, "x", 1); !errors.Is(err, storage.ErrTxDone) {
		t.Errorf("Set after Commit = %v", err)
	}
	// The other client's handle learns that the transaction is gone.
	if err := other.Set(ctx, "y", 1); !errors.Is(err, storage.ErrTxDone) {
		t.Errorf("Set on a transaction committed elsewhere = %v, want ErrTxDone", err)
	}
	if err := other.Commit(ctx); !errors.Is(err, storage.ErrTxDone) {
		t.Errorf("Commit of a transaction ended elsewhere = %v, want ErrTxDone", err)
	}
	if _, err := c.LookupTx("tx_nope"); !errors.Is(err, storage.ErrTxNotFound) {
		t.Errorf("LookupTx(unknown) = %v", err)
	}
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Errorf("committed write missing: %v", err)
	}

	ro, err := c.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !ro.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	if err := ro.Set(ctx, "z", 1); !errors.Is(err, storage.ErrReadOnly) {
		t.Errorf("write in a read-only tx = %v", err)
	}
	if err := ro.Rollback(ctx); err != nil {
		t.Error(err)
	}
	if _, err := c.Begin(ctx, storage.TxOptions{Isolation: 42}); !errors.Is(err, storage.ErrInvalidOption) {
		t.Errorf("Begin(isolation 42) = %v", err)
	}

	// An operation whose context is done ends the transaction, on the
	// server too.
	tx3, err := c.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if err := tx3.Set(dead, "w", 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Set with a cancelled context = %v", err)
	}
	if _, err := eng.LookupTx(tx3.ID()); !errors.Is(err, storage.ErrTxNotFound) {
		t.Errorf("the server still holds a transaction whose operation was cancelled: %v", err)
	}
	if err := tx3.Commit(ctx); !errors.Is(err, storage.ErrTxDone) {
		t.Errorf("Commit after a cancelled operation = %v", err)
	}
}

// TestSecurity runs the routes over an authorizing store: a call without a
// principal is unauthenticated, a denied one permission_denied, and neither
// writes anything.
func TestSecurity(t *testing.T) {
	eng := fileEngine(t)
	pol := security.NewPolicy()
	alice, err := security.NewPKR("alice-pk", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pol.Apply(alice, security.Profile{Name: "users", Scopes: map[string]string{"storage://namespace/users": "rw", "storage://transactions": "rw"}}); err != nil {
		t.Fatal(err)
	}
	mux, c := serve(t, security.NewStore(eng, pol))
	anon := t.Context()
	asAlice := security.WithPrincipal(t.Context(), alice)
	users := storage.InNamespace("users")

	if err := c.Set(anon, "k", 1, users); !errors.Is(err, storage.ErrUnauthenticated) {
		t.Errorf("Set without a principal = %v", err)
	}
	out, _ := mux.Call(anon, routes.RouteSet, []byte(`{"key":"k","value":1,"options":{"namespace":"users"}}`))
	if code := routes.EnvelopeCode(out); code != routes.CodeUnauthenticated || routes.HTTPStatus(code) != 401 {
		t.Errorf("raw set without a principal: %s", out)
	}
	if err := c.Set(asAlice, "k", 1, storage.InNamespace("secret")); !errors.Is(err, storage.ErrPermissionDenied) {
		t.Errorf("denied Set = %v", err)
	}
	out, _ = mux.Call(asAlice, routes.RouteGet, []byte(`{"key":"k","options":{"namespace":"secret"}}`))
	if code := routes.EnvelopeCode(out); code != routes.CodePermissionDenied || routes.HTTPStatus(code) != 403 {
		t.Errorf("raw denied get: %s", out)
	}
	if _, err := c.Begin(anon, storage.TxOptions{}); !errors.Is(err, storage.ErrUnauthenticated) {
		t.Errorf("Begin without a principal = %v", err)
	}
	st, err := eng.Status(t.Context())
	if err != nil || st.Size != 0 {
		t.Fatalf("something was written: %+v %v", st, err)
	}

	if err := c.Set(asAlice, "k", 1, users); err != nil {
		t.Fatalf("allowed Set: %v", err)
	}
	md, err := c.GetMetadata(asAlice, "k", users)
	if err != nil || md.CreatedBy != "alice-pk" || md.UpdatedBy != "alice-pk" {
		t.Errorf("GetMetadata = %+v, %v (the actor is lost)", md, err)
	}
	// A transaction begun by alice is alice's: anonymous calls on it fail.
	tx, err := c.Begin(asAlice, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Set(anon, "k2", 1, users); !errors.Is(err, storage.ErrUnauthenticated) {
		t.Errorf("anonymous Set in alice's tx = %v", err)
	}
	_ = tx.Rollback(asAlice)
}

// TestKeyRangesRefused: InKeyRanges cannot be sent over the wire, so the
// client refuses it rather than dropping it and answering for every key.
func TestKeyRangesRefused(t *testing.T) {
	_, c := serve(t, fileEngine(t))
	if err := c.Set(t.Context(), "zz", 1); err != nil {
		t.Fatal(err)
	}
	kr := storage.InKeyRanges(storage.KeyRange{To: "m"})
	if _, err := c.List(t.Context(), kr); !errors.Is(err, storage.ErrInvalidOption) {
		t.Errorf("List with InKeyRanges = %v, want ErrInvalidOption", err)
	}
	if _, err := c.Query(t.Context(), storage.All(), kr); !errors.Is(err, storage.ErrInvalidOption) {
		t.Errorf("Query with InKeyRanges = %v, want ErrInvalidOption", err)
	}
	if _, err := c.Count(t.Context(), kr); !errors.Is(err, storage.ErrInvalidOption) {
		t.Errorf("Count with InKeyRanges = %v, want ErrInvalidOption", err)
	}
}
