package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/routes"
)

// Transport sends one message and returns the response envelope.
type Transport interface {
	Call(ctx context.Context, route string, body []byte) ([]byte, error)
}

var (
	_ Transport     = (*routes.Mux)(nil)
	_ storage.Store = (*Store)(nil)
	_ storage.Tx    = (*Tx)(nil)
)

// Store is a storage.Store whose every operation is a message sent over a
// Transport to routes served by another store. It is safe for concurrent
// use.
type Store struct {
	ops
	t      Transport
	caps   storage.Capabilities
	closed atomic.Bool
	// closing is closed by Close: running watches end.
	closing chan struct{}

	mu sync.Mutex // protects txs
	// txs are the transactions this client began or looked up and did not
	// end, by ID, held weakly: one the program drops is forgotten once
	// collected (forgetCollected), so that transactions abandoned, or
	// looked up and ended elsewhere, do not pile up. The server rolls back
	// an abandoned one when it idles.
	txs map[string]weak.Pointer[Tx]
}

// New returns a client over t. It fetches the server's capabilities once
// (storage://getCapabilities); a failure to do so is New's error.
func New(ctx context.Context, t Transport) (*Store, error) {
	if t == nil {
		return nil, errors.New("storage: client: nil Transport")
	}
	s := &Store{t: t, txs: map[string]weak.Pointer[Tx]{}, closing: make(chan struct{})}
	s.ops = ops{s: s}
	var resp routes.CapabilitiesResponse
	if err := s.call(ctx, routes.RouteGetCapabilities, routes.EmptyRequest{}, &resp); err != nil {
		return nil, err
	}
	c := resp.Capabilities
	s.caps = storage.Capabilities{Transactions: c.Transactions, Query: c.Query, Metadata: c.Metadata,
		Batches: c.Batches, Capacity: c.Capacity}
	return s, nil
}

// TransportError is the error of a message that got no envelope back: the
// transport failed, or answered something that is not an envelope. It
// wraps the transport's error and, as the engine does for a database it
// cannot reach, one storage sentinel: storage.ErrUnavailable when the call
// had no effect (nothing was sent, or the route only reads, or the call
// ran in a transaction, which commits nothing by itself), and
// storage.ErrCommitUnknown for a write outside a transaction that may
// have reached the server (the connection broke after the request was
// sent, or something else answered for the server). When the caller's
// context ended, it wraps that context's error and no sentinel.
type TransportError struct {
	Route string
	Err   error
	// sentinel is ErrUnavailable, ErrCommitUnknown or nil (see above).
	sentinel error
}

// transportError returns the TransportError of a message to route that
// failed with err while ctx was ctx.
func transportError(ctx context.Context, route string, err error) *TransportError {
	te := &TransportError{Route: route, Err: err}
	switch {
	case ctx.Err() != nil:
	case writeRoutes[route] && !notSent(err):
		te.sentinel = storage.ErrCommitUnknown
	default:
		te.sentinel = storage.ErrUnavailable
	}
	return te
}

// writeRoutes are the routes whose call may change what the store holds.
var writeRoutes = map[string]bool{
	routes.RouteSet: true, routes.RouteDelete: true, routes.RouteSetMany: true, routes.RouteDeleteMany: true,
	routes.RouteCreateNamespace: true, routes.RouteDeleteNamespace: true, routes.RouteSetMetadata: true,
	routes.RouteClear: true, routes.RouteCommit: true, routes.RouteCreateIndex: true, routes.RouteDropIndex: true,
}

// notSent reports whether err says that the message never left: no
// connection could be made.
func notSent(err error) bool {
	var oe *net.OpError
	var de *net.DNSError
	return (errors.As(err, &oe) && oe.Op == "dial") || errors.As(err, &de)
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("storage: client: %s: %v", e.Route, e.Err)
}

// Unwrap returns the transport's error and the sentinel, if any.
func (e *TransportError) Unwrap() []error {
	if e.sentinel == nil {
		return []error{e.Err}
	}
	return []error{e.sentinel, e.Err}
}

// enveloped is a response type of package routes.
type enveloped interface{ Head() *routes.Envelope }

// call sends req to route and decodes the answer into resp. A failure
// envelope is returned as the error it encodes (resp still holds what came
// with it, such as a batch's per-key results).
func (s *Store) call(ctx context.Context, route string, req any, resp enveloped) error {
	body, err := routes.Marshal(req)
	if err != nil {
		return &TransportError{Route: route, Err: fmt.Errorf("encoding the request: %w", err), sentinel: storage.ErrInvalidValue}
	}
	out, err := s.t.Call(ctx, route, body)
	if err != nil {
		return transportError(ctx, route, err)
	}
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	if err := d.Decode(resp); err != nil {
		return transportError(ctx, route, fmt.Errorf("malformed response: %w", err))
	}
	h := resp.Head()
	switch {
	case h.Error != nil:
		return routes.ErrorFromBody(h.Error)
	case !h.Success:
		return routes.ErrorOf(routes.CodeInternal, "storage: client: "+route+": failure without an error")
	}
	return nil
}

// Capabilities returns the server's capabilities, as fetched by New.
func (s *Store) Capabilities() storage.Capabilities { return s.caps }

// Close makes every later call fail with storage.ErrClosed and rolls back
// the transactions this client began and did not finish (not those the
// program dropped and the garbage collector reclaimed before: the client
// forgets them, and the server rolls each back when it idles). Then, when the
// Transport has a CloseIdleConnections method (as httpapi.Transport and
// *http.Client do), it calls it, so that no idle connection outlives the
// client. It does not close the server's store. Close is safe to call more
// than once.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.closing)
	s.mu.Lock()
	open := make([]*Tx, 0, len(s.txs))
	var dropped []string
	for id, w := range s.txs {
		if t := w.Value(); t != nil {
			open = append(open, t)
		} else {
			dropped = append(dropped, id)
		}
	}
	s.mu.Unlock()
	for _, t := range open {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = t.Rollback(ctx)
		cancel()
	}
	for _, id := range dropped {
		// Collected but not yet forgotten: rolled back all the same.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.call(ctx, routes.RouteRollback, routes.TxRequest{TransactionID: &id}, &routes.Envelope{})
		cancel()
	}
	if ic, ok := s.t.(idleCloser); ok {
		ic.CloseIdleConnections()
	}
	return nil
}

// idleCloser is a Transport that keeps idle connections it can close.
type idleCloser interface{ CloseIdleConnections() }

func (s *Store) usable(op string) error {
	if s.closed.Load() {
		return &storage.OpError{Op: op, Err: storage.ErrClosed}
	}
	return nil
}

// start checks that the store is open and ctx alive.
func (s *Store) start(ctx context.Context, op string) error {
	if err := s.usable(op); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &storage.OpError{Op: op, Err: err}
	}
	return nil
}

// CreateNamespace implements storage.Store.
func (s *Store) CreateNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	return s.namespaceOp(ctx, "createNamespace", routes.RouteCreateNamespace, name, opts)
}

// DeleteNamespace implements storage.Store.
func (s *Store) DeleteNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	return s.namespaceOp(ctx, "deleteNamespace", routes.RouteDeleteNamespace, name, opts)
}

func (s *Store) namespaceOp(ctx context.Context, op, route, name string, opts []storage.NamespaceOption) error {
	if err := s.start(ctx, op); err != nil {
		return err
	}
	o, err := driver.ResolveNamespaceOptions(op, opts)
	if err != nil {
		return &storage.OpError{Op: op, Namespace: name, Err: err}
	}
	var w *routes.NamespaceOptions
	if len(opts) > 0 {
		w = &routes.NamespaceOptions{Metadata: o.Metadata}
		if o.Indexes != nil {
			idx := make([]string, len(o.Indexes))
			for i, f := range o.Indexes {
				idx[i] = f.Text
			}
			w.Indexes = &idx
		}
		if o.Recursive {
			w.Recursive = &o.Recursive
		}
	}
	return s.call(ctx, route, routes.NamespaceRequest{Name: &name, Options: w}, &routes.Envelope{})
}

var _ storage.Indexer = (*Store)(nil)

// CreateIndex implements storage.Indexer over storage://createIndex. The
// client sets no timeout of its own: ctx bounds the call, and the build
// over a large namespace may take minutes (cmd/storeserver allows it
// --index-timeout, 10 minutes by default, against --timeout for other
// requests). A call cut short by ctx (or by the server, answering 504
// deadline_exceeded, or 503 unavailable when it shuts down) leaves no
// index: the server deletes what the build wrote.
func (s *Store) CreateIndex(ctx context.Context, namespace, field string) error {
	return s.indexOp(ctx, "createIndex", routes.RouteCreateIndex, namespace, field)
}

// DropIndex implements storage.Indexer over storage://dropIndex.
func (s *Store) DropIndex(ctx context.Context, namespace, field string) error {
	return s.indexOp(ctx, "dropIndex", routes.RouteDropIndex, namespace, field)
}

func (s *Store) indexOp(ctx context.Context, op, route, namespace, field string) error {
	if err := s.start(ctx, op); err != nil {
		return err
	}
	return s.call(ctx, route, routes.IndexRequest{Name: &namespace, Field: &field}, &routes.Envelope{})
}

// ListNamespaces implements storage.Store. It takes the options the
// store's does (Limit, After, OmitValues) and follows the server's cursor
// (each answer is a bounded page, routes.NamespacesLimit) until it has
// them all, or Limit of them: without options it returns every namespace,
// as the store's would, one bounded answer at a time.
func (s *Store) ListNamespaces(ctx context.Context, opts ...storage.Option) ([]storage.Namespace, error) {
	const op = "listNamespaces"
	if err := s.start(ctx, op); err != nil {
		return nil, err
	}
	p, err := driver.ResolveNamespacePage(opts)
	if err != nil {
		return nil, &storage.OpError{Op: op, Err: err}
	}
	out := []storage.Namespace{}
	if p.Limit == 0 {
		return out, nil
	}
	after := p.After
	for {
		o := &routes.Options{}
		if p.Limit >= 0 {
			o.Limit = new(int)
			*o.Limit = min(p.Limit-len(out), routes.MaxNamespacesLimit)
		}
		if after != "" {
			o.After = &after
		}
		if p.OmitMetadata {
			o.IncludeMetadata = new(bool)
		}
		var resp routes.NamespacesResponse
		if err := s.call(ctx, routes.RouteListNamespaces, routes.OptionsRequest{Options: o}, &resp); err != nil {
			return nil, err
		}
		for _, n := range resp.Details {
			out = append(out, storage.Namespace{Name: n.Name, Owner: n.Owner, Metadata: n.Metadata, CreatedAt: n.CreatedAt, Indexes: n.Indexes})
		}
		// An answer without a cursor is the last; one that holds nothing
		// (from a server that gives a cursor all the same) too.
		if resp.Cursor == "" || len(resp.Details) == 0 || p.Full(len(out)) {
			return out, nil
		}
		after = resp.Cursor
	}
}

// Status implements storage.Store.
func (s *Store) Status(ctx context.Context) (storage.Status, error) {
	const op = "status"
	if err := s.start(ctx, op); err != nil {
		return storage.Status{}, err
	}
	// The server's database unreachable is an error with the status
	// beside it (healthy false), as the engine's Status returns them.
	var resp struct {
		routes.Envelope
		Status *routes.StatusJSON `json:"status"`
	}
	err := s.call(ctx, routes.RouteGetStatus, routes.EmptyRequest{}, &resp)
	st := resp.Status
	if st == nil {
		if err == nil {
			err = routes.ErrorOf(routes.CodeInternal, "storage: client: "+routes.RouteGetStatus+": an answer without a status")
		}
		return storage.Status{}, err
	}
	return storage.Status{Healthy: st.Healthy && err == nil, Size: st.Size, Capacity: st.Capacity, Namespaces: st.Namespaces,
		Dialect: st.Dialect, SchemaVersion: st.SchemaVersion, Revision: st.Revision, OldestRevision: st.OldestRevision,
		ReadOnly: st.ReadOnly, Degraded: st.Degraded}, err
}

// Begin implements storage.Store: storage://beginTransaction.
func (s *Store) Begin(ctx context.Context, opts storage.TxOptions) (storage.Tx, error) {
	const op = "begin"
	if err := s.start(ctx, op); err != nil {
		return nil, err
	}
	if opts.Isolation < storage.LevelDefault || opts.Isolation > storage.LevelSerializable {
		return nil, &storage.OpError{Op: op, Err: driver.Invalidf(storage.ErrInvalidOption,
			"unknown isolation level %d", int(opts.Isolation))}
	}
	bo := &routes.BeginOptions{}
	if opts.Isolation != storage.LevelDefault {
		iso := opts.Isolation.String()
		bo.Isolation = &iso
	}
	if opts.ReadOnly {
		bo.ReadOnly = &opts.ReadOnly
	}
	// The request does not end with ctx: the server may have begun the
	// transaction when the caller leaves, and nobody would learn its ID
	// to end it before its idle timeout. It runs on for beginGrace (an
	// answer on the way arrives), then is cancelled (a Begin still
	// waiting on the server gives up), and a transaction it answers once
	// the caller has left is rolled back.
	done := make(chan beginAnswer, 1)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), beginTimeout)
	go func() {
		defer cancel()
		var a beginAnswer
		a.err = s.call(cctx, routes.RouteBeginTransaction, routes.BeginRequest{Options: bo}, &a.resp)
		done <- a
	}()
	select {
	case a := <-done:
		if a.err != nil {
			return nil, a.err
		}
		return s.adopt(a.resp)
	case <-ctx.Done():
		time.AfterFunc(beginGrace, cancel)
		go s.abandonBegin(done)
		return nil, &storage.OpError{Op: op, Err: ctx.Err()}
	}
}

// beginTimeout bounds the rollback of a Begin whose caller left, and
// beginGrace how long its request runs on after the caller left.
const (
	beginTimeout = 30 * time.Second
	beginGrace   = time.Second
)

// beginAnswer is the server's answer to a Begin.
type beginAnswer struct {
	resp routes.TxResponse
	err  error
}

// abandonBegin rolls back the transaction of a Begin whose caller left,
// once (and if) the server's answer comes.
func (s *Store) abandonBegin(done <-chan beginAnswer) {
	a := <-done
	if a.err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), beginTimeout)
	defer cancel()
	id := a.resp.TransactionID
	_ = s.call(ctx, routes.RouteRollback, routes.TxRequest{TransactionID: &id}, &routes.Envelope{})
}

// adopt registers the transaction a TxResponse describes.
func (s *Store) adopt(resp routes.TxResponse) (*Tx, error) {
	iso, err := storage.ParseIsolationLevel(resp.Isolation)
	if err != nil {
		return nil, transportError(context.Background(), routes.RouteBeginTransaction, err)
	}
	t := &Tx{s: s, id: resp.TransactionID, iso: iso, ro: resp.ReadOnly}
	t.ops = ops{s: s, tx: t}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.txs[t.id].Value(); old != nil {
		return old, nil
	}
	s.txs[t.id] = weak.Make(t)
	runtime.AddCleanup(t, s.forgetCollected, t.id)
	return t, nil
}

func (s *Store) forget(id string) {
	s.mu.Lock()
	delete(s.txs, id)
	s.mu.Unlock()
}

// forgetCollected forgets transaction id once its Tx was collected (and
// not adopted again since, under a new Tx).
func (s *Store) forgetCollected(id string) {
	s.mu.Lock()
	if w, ok := s.txs[id]; ok && w.Value() == nil {
		delete(s.txs, id)
	}
	s.mu.Unlock()
}

// lookupTimeout bounds LookupTx's round trip, which has no context.
const lookupTimeout = 30 * time.Second

// LookupTx implements storage.Store: a transaction this client began, or
// else one the server knows (storage://lookupTransaction, bounded by a
// 30-second timeout as LookupTx takes no context).
func (s *Store) LookupTx(id string) (storage.Tx, error) {
	const op = "lookupTx"
	if err := s.usable(op); err != nil {
		return nil, err
	}
	s.mu.Lock()
	t := s.txs[id].Value()
	s.mu.Unlock()
	if t != nil {
		return t, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	var resp routes.TxResponse
	if err := s.call(ctx, routes.RouteLookupTransaction, routes.TxRequest{TransactionID: &id}, &resp); err != nil {
		return nil, err
	}
	return s.adopt(resp)
}
