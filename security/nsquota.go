package security

import (
	"context"
	"fmt"
	"sync"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// DefaultMaxNamespacesPerPrincipal is the number of namespaces a principal
// may own (principal://{pkr} and principal://{pkr}/namespace/…) unless
// MaxNamespacesPerPrincipal sets another.
const DefaultMaxNamespacesPerPrincipal = 10000

// MaxNamespacesPerPrincipal sets how many namespaces one principal may own
// (principal://{pkr} and the names under principal://{pkr}/namespace/):
// a CreateNamespace that would make it more fails with
// storage.ErrCapacityExceeded and creates nothing, and so does a Set or
// SetMany (on the store or in a transaction) into a missing namespace,
// which would create it. n <= 0 removes the
// bound. Without this option the bound is DefaultMaxNamespacesPerPrincipal.
// Callers with write on principal://* (operators) are not bound: they may
// create any principal's namespaces beyond its quota.
func MaxNamespacesPerPrincipal(n int) Option {
	return func(s *Store) { s.maxNamespaces = n }
}

// nsQuota serializes the creates of each owner's namespaces, so that the
// count one create reads is the count it adds to: within one Store the
// quota is exact. Stores (servers) sharing one database see each other's
// creates once committed: k of them racing on one owner can exceed its
// quota by at most k-1.
type nsQuota struct {
	mu     sync.Mutex
	owners map[string]*ownerTurn
}

// ownerTurn is one owner's turn to create (a channel of one, so that
// waiting for it follows the caller's context), with the number of
// creates holding or waiting for it; the last one removes it.
type ownerTurn struct {
	turn chan struct{}
	refs int
}

// acquire waits for owner's turn; release gives it back.
func (q *nsQuota) acquire(ctx context.Context, owner string) (release func(), err error) {
	q.mu.Lock()
	if q.owners == nil {
		q.owners = map[string]*ownerTurn{}
	}
	t := q.owners[owner]
	if t == nil {
		t = &ownerTurn{turn: make(chan struct{}, 1)}
		q.owners[owner] = t
	}
	t.refs++
	q.mu.Unlock()
	done := func() {
		q.mu.Lock()
		if t.refs--; t.refs == 0 {
			delete(q.owners, owner)
		}
		q.mu.Unlock()
	}
	select {
	case t.turn <- struct{}{}:
		return func() { <-t.turn; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// ownerRanges are the names of owner's namespaces: principal://{pkr} and
// the names under principal://{pkr}/namespace/.
func ownerRanges(owner string) []storage.KeyRange {
	base := storage.PrincipalScheme + owner
	return []storage.KeyRange{{From: base, To: base + "\x00"}, storage.PrefixRange(base + "/namespace/")}
}

// countNamespaces counts owner's namespaces: with the first store in the
// chain of wrapped stores that is a driver.NamespaceCounter (sqlstore,
// under observe's wrapper), else by listing them.
func (s *Store) countNamespaces(ctx context.Context, owner string) (int64, error) {
	return s.countNamespacesIn(ctx, owner, ownerRanges(owner))
}

// countNamespacesIn counts owner's namespaces whose names lie in rs.
func (s *Store) countNamespacesIn(ctx context.Context, owner string, rs []storage.KeyRange) (int64, error) {
	if c, ok := inChain[driver.NamespaceCounter](s.inner); ok {
		return c.CountNamespaces(ctx, rs)
	}
	list, err := s.inner.ListNamespaces(driver.WithNamespaceScope(ctx, rs), storage.OmitValues())
	if err != nil {
		return 0, err
	}
	var n int64
	for _, ns := range list {
		if ns.Owner == owner {
			n++
		}
	}
	return n, nil
}

// createUnderQuota creates ns, owned by a principal, if its owner holds
// fewer than s.maxNamespaces namespaces. Creates of one owner take turns,
// so that concurrent ones cannot pass the quota together.
func (s *Store) createUnderQuota(ctx context.Context, ns storage.NamespaceName, opts []storage.NamespaceOption) error {
	const op = "createNamespace"
	release, err := s.nsQuota.acquire(ctx, ns.Owner)
	if err != nil {
		return opErr(op, ns.Name, "", err)
	}
	defer release()
	n, err := s.countNamespaces(ctx, ns.Owner)
	if err != nil {
		return err
	}
	if n >= int64(s.maxNamespaces) {
		return opErr(op, ns.Name, "", fmt.Errorf("%w: principal %s owns %d namespaces, the most it may own",
			storage.ErrCapacityExceeded, ns.Owner, n))
	}
	return s.inner.CreateNamespace(ctx, ns.Name, opts...)
}

// inChain returns the first store in the chain of wrapped stores from st
// (observe's wrapper, …) that is a T.
func inChain[T any](st storage.Store) (T, bool) {
	for st != nil {
		if c, ok := st.(T); ok {
			return c, true
		}
		u, ok := st.(interface{ Unwrap() storage.Store })
		if !ok {
			break
		}
		st = u.Unwrap()
	}
	var zero T
	return zero, false
}

// maxKnownNamespaces bounds the names nsKnown remembers: beyond, it is
// emptied and fills again.
const maxKnownNamespaces = 1 << 16

// writeUnderQuota runs write, a write of sub into namespace ns that
// creates ns when it is missing (every write does, as CreateNamespace),
// under ns's owner's quota of namespaces (MaxNamespacesPerPrincipal): when
// ns is a principal's, the quota binds sub and ns is not known to exist,
// the write waits for the owner's turn to create, and is refused with
// storage.ErrCapacityExceeded, nothing written, when ns is missing and its
// owner owns its quota already. Names known to exist (nsKnown) cost
// nothing; a namespace deleted through this store is forgotten, one
// deleted through another store (another server) is created again by a
// write here without the check, as a create racing on another server
// passes it.
//
// write reports whether it wrote anything: only then is ns known to exist.
// A write in a transaction (inTx) may be rolled back: it is checked, but
// ns is not remembered.
func (s *Store) writeUnderQuota(ctx context.Context, sub subject, inTx bool, op, key string, ns storage.NamespaceName, write func() (bool, error)) error {
	if ns.Owner == "" || s.maxNamespaces <= 0 || sub.g[scopeAllPrincipals].Has(Write) {
		_, err := write()
		return err
	}
	if _, ok := s.nsKnown.Load(ns.Name); ok {
		_, err := write()
		return err
	}
	release, err := s.nsQuota.acquire(ctx, ns.Owner)
	if err != nil {
		return opErr(op, ns.Name, key, err)
	}
	defer release()
	exists, err := s.countNamespacesIn(ctx, ns.Owner, []storage.KeyRange{{From: ns.Name, To: ns.Name + "\x00"}})
	if err != nil {
		return err
	}
	if exists == 0 {
		n, err := s.countNamespaces(ctx, ns.Owner)
		if err != nil {
			return err
		}
		if n >= int64(s.maxNamespaces) {
			return opErr(op, ns.Name, key, fmt.Errorf("%w: principal %s owns %d namespaces, the most it may own, and the write would create another",
				storage.ErrCapacityExceeded, ns.Owner, n))
		}
	}
	if wrote, err := write(); err != nil || !wrote || inTx {
		return err
	}
	if s.nsKnownN.Add(1) > maxKnownNamespaces {
		s.nsKnown.Clear()
		s.nsKnownN.Store(1)
	}
	s.nsKnown.Store(ns.Name, struct{}{})
	return nil
}

// forgetNamespace removes name from nsKnown.
func (s *Store) forgetNamespace(name string) { s.nsKnown.Delete(name) }
