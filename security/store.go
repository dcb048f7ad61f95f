package security

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// Option configures NewStore.
type Option func(*Store)

// AllowAnonymous lets calls without a principal through as the anonymous
// principal, with the permissions Policy.ApplyAnonymous granted (none by
// default). Without it such calls fail with storage.ErrUnauthenticated.
func AllowAnonymous() Option { return func(s *Store) { s.anonymous = true } }

// Store is an authorizing storage.Store: it reads the principal from each
// call's context (WithPrincipal), checks the call against its Policy, and
// passes permitted calls to the store it wraps. It is safe for concurrent
// use. See the package documentation for the rules.
type Store struct {
	inner     storage.Store
	policy    *Policy
	anonymous bool

	// maxNamespaces bounds the namespaces one principal owns (0 or less:
	// no bound); nsQuota makes each owner's creates take turns.
	maxNamespaces int
	nsQuota       nsQuota
	// nsKnown holds principals' namespace names known to exist (to a
	// string's empty struct), nsKnownN about how many: a write into one
	// creates no namespace (writeUnderQuota).
	nsKnown  sync.Map
	nsKnownN atomic.Int64
	// entries bounds the entries of each principal's namespaces
	// (MaxEntriesPerPrincipal).
	entries entryQuota

	// txs maps the ID of each transaction begun through the store to its
	// *txRecord: the public key of the principal that began it ("" for
	// anonymous) and its reservations under MaxEntriesPerPrincipal.
	// Commit, Rollback and a LookupTx that finds it gone remove it; the
	// transactions that the wrapped store ends by itself (an idle timeout,
	// a maximum lifetime) are removed by pruneTxs.
	txs sync.Map
	// txsN counts txs' entries; Begin prunes when it reaches pruneAt.
	txsN, pruneAt atomic.Int64
	pruning       sync.Mutex
}

// minPruneTxs is the fewest tracked transactions that make Begin prune.
const minPruneTxs = 64

var _ storage.Store = (*Store)(nil)

// NewStore wraps inner so that every call is authorized by policy.
func NewStore(inner storage.Store, policy *Policy, opts ...Option) *Store {
	s := &Store{inner: inner, policy: policy, maxNamespaces: DefaultMaxNamespacesPerPrincipal}
	s.pruneAt.Store(minPruneTxs)
	for _, o := range opts {
		o(s)
	}
	return s
}

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() storage.Store { return s.inner }

// allKinds accepts every option kind: the wrapped store decides which ones
// an operation takes.
const allKinds = driver.AllOptionKinds

func opErr(op, ns, key string, err error) error {
	return &storage.OpError{Op: op, Namespace: ns, Key: key, Err: err}
}

func denied(op, ns, key string) error { return opErr(op, ns, key, storage.ErrPermissionDenied) }

// subject returns the principal of ctx and its grants, and ctx naming that
// principal as the actor (so a caller cannot set another actor).
func (s *Store) subject(ctx context.Context, op string) (subject, context.Context, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		if !s.anonymous {
			return subject{}, ctx, opErr(op, "", "", storage.ErrUnauthenticated)
		}
		return subject{g: s.policy.view("")}, storage.ContextWithActor(ctx, ""), nil
	}
	if p.Validate() != nil {
		return subject{}, ctx, opErr(op, "", "", storage.ErrUnauthenticated)
	}
	return subject{pk: p.PublicKey, g: s.policy.view(p.PublicKey)}, storage.ContextWithActor(ctx, p.PublicKey), nil
}

func (s *Store) guard(ctx context.Context, op string) (guard, context.Context, error) {
	sub, ctx, err := s.subject(ctx, op)
	return guard{ops: s.inner, sub: sub, store: s}, ctx, err
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	g, ctx, err := s.guard(ctx, "get")
	if err != nil {
		return storage.Entry{}, err
	}
	return g.Get(ctx, key, opts)
}

// Set implements storage.Store.
func (s *Store) Set(ctx context.Context, key string, value any, opts ...storage.Option) error {
	g, ctx, err := s.guard(ctx, "set")
	if err != nil {
		return err
	}
	return g.Set(ctx, key, value, opts)
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string, opts ...storage.Option) error {
	g, ctx, err := s.guard(ctx, "delete")
	if err != nil {
		return err
	}
	return g.Delete(ctx, key, opts)
}

// Has implements storage.Store.
func (s *Store) Has(ctx context.Context, key string, opts ...storage.Option) (bool, error) {
	g, ctx, err := s.guard(ctx, "has")
	if err != nil {
		return false, err
	}
	return g.Has(ctx, key, opts)
}

// GetMany implements storage.Store.
func (s *Store) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.GetManyResult, error) {
	g, ctx, err := s.guard(ctx, "getMany")
	if err != nil {
		return storage.GetManyResult{}, err
	}
	return g.GetMany(ctx, keys, opts)
}

// SetMany implements storage.Store.
func (s *Store) SetMany(ctx context.Context, items []storage.Item, opts ...storage.Option) (storage.BatchResult, error) {
	g, ctx, err := s.guard(ctx, "setMany")
	if err != nil {
		return storage.BatchResult{}, err
	}
	return g.SetMany(ctx, items, opts)
}

// DeleteMany implements storage.Store.
func (s *Store) DeleteMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.BatchResult, error) {
	g, ctx, err := s.guard(ctx, "deleteMany")
	if err != nil {
		return storage.BatchResult{}, err
	}
	return g.DeleteMany(ctx, keys, opts)
}

// GetMetadata implements storage.Store.
func (s *Store) GetMetadata(ctx context.Context, key string, opts ...storage.Option) (storage.Metadata, error) {
	g, ctx, err := s.guard(ctx, "getMetadata")
	if err != nil {
		return storage.Metadata{}, err
	}
	return g.GetMetadata(ctx, key, opts)
}

// SetMetadata implements storage.Store.
func (s *Store) SetMetadata(ctx context.Context, key string, md any, opts ...storage.Option) error {
	g, ctx, err := s.guard(ctx, "setMetadata")
	if err != nil {
		return err
	}
	return g.SetMetadata(ctx, key, md, opts)
}

// Clear implements storage.Store.
func (s *Store) Clear(ctx context.Context, opts ...storage.Option) error {
	g, ctx, err := s.guard(ctx, "clear")
	if err != nil {
		return err
	}
	return g.Clear(ctx, opts)
}

// List implements storage.Store.
func (s *Store) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	g, ctx, err := s.guard(ctx, "list")
	if err != nil {
		return storage.ListResult{}, err
	}
	return g.List(ctx, opts)
}

// Query implements storage.Store.
func (s *Store) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	g, ctx, err := s.guard(ctx, "query")
	if err != nil {
		return storage.QueryResult{}, err
	}
	return g.Query(ctx, f, opts)
}

// Count implements storage.Store.
func (s *Store) Count(ctx context.Context, opts ...storage.Option) (int64, error) {
	g, ctx, err := s.guard(ctx, "count")
	if err != nil {
		return 0, err
	}
	return g.Count(ctx, opts)
}

// CreateNamespace implements storage.Store: it needs write on the
// namespace. A principal's namespace is refused with
// storage.ErrCapacityExceeded when its owner already owns its quota
// (MaxNamespacesPerPrincipal), unless the caller has write on
// principal://*.
func (s *Store) CreateNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	sub, ctx, err := s.subject(ctx, "createNamespace")
	if err != nil {
		return err
	}
	ns, err := storage.ParseNamespace(name)
	if err != nil {
		return opErr("createNamespace", "", "", err)
	}
	if !sub.namespace(ns).Has(Write) {
		return denied("createNamespace", name, "")
	}
	if ns.Owner != "" && s.maxNamespaces > 0 && !sub.g[scopeAllPrincipals].Has(Write) {
		return s.createUnderQuota(ctx, ns, opts)
	}
	return s.inner.CreateNamespace(ctx, name, opts...)
}

// DeleteNamespace implements storage.Store: it needs write on the
// namespace, and is denied while the namespace holds principal-owned keys
// the caller may not write. On a store that is a driver.ProtectedClearer
// the store checks for them inside its own delete (DeleteNamespaceUnless),
// as Clear does.
func (s *Store) DeleteNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	const op = "deleteNamespace"
	sub, ctx, err := s.subject(ctx, op)
	if err != nil {
		return err
	}
	ns, err := storage.ParseNamespace(name)
	if err != nil {
		return opErr(op, "", "", err)
	}
	if !sub.namespace(ns).Has(Write) {
		return denied(op, name, "")
	}
	defer s.forgetNamespace(name)
	rs, ok := protectedRanges(sub)
	if !ok {
		return s.inner.DeleteNamespace(ctx, name, opts...)
	}
	if pc, ok := s.inner.(driver.ProtectedClearer); ok {
		if err, done := protectedAnswer(op, name, pc.DeleteNamespaceUnless(ctx, name, rs, opts...)); done {
			return err
		}
	}
	no, err := driver.ResolveNamespaceOptions(op, opts)
	if err != nil {
		return opErr(op, name, "", err)
	}
	if no.Recursive {
		// A store that cannot check inside its own delete: empty the
		// namespace under Clear's rule (the check for keys the
		// caller may not write and the clear run in one serializable
		// transaction), then delete it only if it is still empty: a key
		// written in between makes the delete fail with
		// ErrNamespaceNotEmpty instead of vanishing with it.
		g := guard{ops: s.inner, sub: sub, store: s}
		if err := g.Clear(ctx, []storage.Option{storage.InNamespace(name)}); err != nil {
			if errors.Is(err, storage.ErrPermissionDenied) {
				return denied(op, name, "")
			}
			return err
		}
		return s.inner.DeleteNamespace(ctx, name)
	}
	n, err := s.inner.Count(ctx, storage.InNamespace(name), storage.InKeyRanges(rs...))
	if err != nil {
		return err
	}
	if n > 0 {
		return denied(op, name, "")
	}
	return s.inner.DeleteNamespace(ctx, name, opts...)
}

// ListNamespaces implements storage.Store: it returns the namespaces the
// caller may read, paged by the options as the store pages (Limit, After,
// OmitValues). A page is filled after filtering: when the store's page
// held namespaces the caller may not read, the rest is read on after the
// store's last name, so that a page shorter than Limit is still the last
// one and After(last name) continues without a gap or a duplicate.
func (s *Store) ListNamespaces(ctx context.Context, opts ...storage.Option) ([]storage.Namespace, error) {
	const op = "listNamespaces"
	sub, ctx, err := s.subject(ctx, op)
	if err != nil {
		return nil, err
	}
	p, err := driver.ResolveNamespacePage(opts)
	if err != nil {
		return nil, opErr(op, "", "", err)
	}
	// The store reads only the namespaces the caller may read, not every
	// tenant's for this layer to drop.
	if rs, every := sub.readableNamespaces(); !every {
		ctx = driver.WithNamespaceScope(ctx, rs)
	}
	out := []storage.Namespace{}
	for {
		ask := p
		if p.Limit >= 0 {
			ask.Limit = p.Limit - len(out)
		}
		page, err := s.inner.ListNamespaces(ctx, ask.Options()...)
		if err != nil {
			return nil, err
		}
		for _, n := range page {
			ns, err := storage.ParseNamespace(n.Name)
			if err == nil && sub.namespace(ns).Has(Read) {
				out = append(out, n)
			}
		}
		// A short page is the store's last; a full one that filled the
		// caller's page is the caller's.
		if !ask.Full(len(page)) || p.Full(len(out)) {
			return out, nil
		}
		p.After = page[len(page)-1].Name
	}
}

// Begin implements storage.Store. Beginning a read-only transaction needs
// read on storage://transactions, a read-write one write on it (holders of
// read or write on everything have it). The transaction is bound to the
// caller: every call on it, and its Commit and Rollback, must come from the
// same principal.
func (s *Store) Begin(ctx context.Context, opts storage.TxOptions) (storage.Tx, error) {
	sub, ctx, err := s.subject(ctx, "begin")
	if err != nil {
		return nil, err
	}
	need := Write
	if opts.ReadOnly {
		need = Read
	}
	if !sub.transactions().Has(need) {
		return nil, denied("begin", "", "")
	}
	tx, err := s.inner.Begin(ctx, opts)
	if err != nil {
		return nil, err
	}
	rec := &txRecord{owner: sub.pk}
	s.txs.Store(tx.ID(), rec)
	if s.txsN.Add(1) >= s.pruneAt.Load() {
		s.pruneTxs()
	}
	return &Tx{inner: tx, store: s, owner: sub.pk, rec: rec}, nil
}

// txRecord is what the store remembers of a transaction begun through it.
type txRecord struct {
	owner   string // the public key of the principal that began it
	entries txEntries
}

// forgetTx removes transaction id from txs and ends its reservations
// under MaxEntriesPerPrincipal.
func (s *Store) forgetTx(id string) {
	if v, ok := s.txs.LoadAndDelete(id); ok {
		s.txsN.Add(-1)
		v.(*txRecord).entries.releaseAll(&s.entries)
	}
}

// pruneTxs forgets the transactions that the wrapped store no longer has
// (it rolled them back by itself: a client that abandons its transactions
// never commits or rolls them back here), and sets the next prune at twice
// the transactions left, so that each Begin costs a bounded number of
// lookups on average and txs holds at most about twice the open ones.
func (s *Store) pruneTxs() {
	if !s.pruning.TryLock() {
		return // another Begin prunes
	}
	defer s.pruning.Unlock()
	s.txs.Range(func(id, _ any) bool {
		if _, err := s.inner.LookupTx(id.(string)); errors.Is(err, storage.ErrTxNotFound) {
			s.forgetTx(id.(string))
		}
		return true
	})
	s.pruneAt.Store(max(minPruneTxs, 2*s.txsN.Load()))
}

// LookupTx implements storage.Store. It finds only transactions begun
// through this store; using one is limited to the principal that began it.
func (s *Store) LookupTx(id string) (storage.Tx, error) {
	v, ok := s.txs.Load(id)
	if !ok {
		return nil, opErr("lookupTx", "", "", storage.ErrTxNotFound)
	}
	tx, err := s.inner.LookupTx(id)
	if err != nil {
		if errors.Is(err, storage.ErrTxNotFound) {
			s.forgetTx(id)
		}
		return nil, err
	}
	rec := v.(*txRecord)
	return &Tx{inner: tx, store: s, owner: rec.owner, rec: rec}, nil
}

// Status implements storage.Store. Any authenticated principal may call
// it; Size and Namespaces count what the caller may not see, and Revision
// and OldestRevision move with changes the caller may not see, so they are
// reported as 0 unless the caller may read everything (read on both
// storage://namespace/* and principal://*).
func (s *Store) Status(ctx context.Context) (storage.Status, error) {
	sub, ctx, err := s.subject(ctx, "status")
	if err != nil {
		return storage.Status{}, err
	}
	st, err := s.inner.Status(ctx)
	if err != nil {
		return st, err
	}
	if !sub.everything().Has(Read) {
		st.Size, st.Namespaces, st.Revision, st.OldestRevision = 0, 0, 0, 0
	}
	return st, nil
}

// Capabilities implements storage.Store; it needs no principal.
func (s *Store) Capabilities() storage.Capabilities { return s.inner.Capabilities() }

// Close implements storage.Store; it needs no principal: whoever holds the
// store owns its lifetime.
func (s *Store) Close() error { return s.inner.Close() }
