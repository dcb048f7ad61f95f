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
// storage.ErrCapacityExceeded and creates nothing. n <= 0 removes the
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
	rs := ownerRanges(owner)
	for st := s.inner; st != nil; {
		if c, ok := st.(driver.NamespaceCounter); ok {
			return c.CountNamespaces(ctx, rs)
		}
		u, ok := st.(interface{ Unwrap() storage.Store })
		if !ok {
			break
		}
		st = u.Unwrap()
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
