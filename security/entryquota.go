package security

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// MaxEntriesPerPrincipal sets how many entries the namespaces one
// principal owns (principal://{pkr} and the names under
// principal://{pkr}/namespace/) may hold together: a Set or SetMany (on
// the store or in a transaction) that could make them hold more fails
// with storage.ErrCapacityExceeded and writes nothing (over the wire 507
// capacity_exceeded). n <= 0, the default, sets no bound (the quota is
// opt-in). The entries count against the namespace's owner, whoever
// writes them; callers with write on principal://* (operators) are not
// bound. Keys under principal://{pkr}/data/ in namespaces the principal
// does not own are not its: they count against no principal.
//
// The count is cheap: the layer asks the store for the owner's count (an
// engine that is a driver.EntryCounter, sqlstore, sums its namespaces'
// stored counts in one statement) only when the count it holds would
// reach the quota, or every entryRecount entries written, and otherwise
// adds what each write may add. A write counts each item it sets as one
// more entry (an overwrite as well: the layer does not read the keys),
// unless it has MustExist; near the quota, where that would refuse
// overwrites, the owner's count is read again for each write, and a
// write the quota would refuse is checked again without its keys that
// exist already (counted, a few hundred keys a statement), so that a
// principal at its quota can still replace its entries. Deletes
// are seen at the next count. Expired entries count until the sweeper
// deletes them. Within one Store the quota is exact; Stores (servers)
// sharing one database see each other's writes at their next count: k of
// them writing for one owner can pass its quota by at most
// (k-1)*entryRecount entries, plus the items of their writes in flight.
// A transaction's possible adds count from its write until it ends
// (commit, rollback, or the engine ending it and the layer noticing), so
// that a transaction cannot pass the quota: its uncommitted entries are
// not in the store's count.
func MaxEntriesPerPrincipal(n int64) Option {
	return func(s *Store) { s.entries.max = n }
}

// entryRecount bounds the entries a Store lets be written for one owner
// between two counts, so that Stores sharing a database pass a quota by a
// bounded number of entries.
const entryRecount = 1024

// entryQuota holds, for each owner written for since the Store opened, an
// upper bound of its entries.
type entryQuota struct {
	max    int64
	mu     sync.Mutex
	owners map[string]*ownerEntries
}

// ownerEntries is one owner's count. turn (a channel of one, so that
// waiting for it follows the caller's context) serializes the reservations
// and counts; inflight is what the writes not ended yet (transactions
// open) may add, which the store's count does not hold.
type ownerEntries struct {
	turn     chan struct{}
	counted  bool
	known    int64 // the last count plus every reservation since
	fresh    int64 // the reservations since the last count
	inflight atomic.Int64
}

func (q *entryQuota) owner(owner string) *ownerEntries {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.owners == nil {
		q.owners = map[string]*ownerEntries{}
	}
	o := q.owners[owner]
	if o == nil {
		o = &ownerEntries{turn: make(chan struct{}, 1)}
		q.owners[owner] = o
	}
	return o
}

// release ends a reservation of n entries for owner.
func (q *entryQuota) release(owner string, n int64) {
	if n > 0 {
		q.owner(owner).inflight.Add(-n)
	}
}

// quotaOwner returns the owner of namespace ns whose entry quota a write
// of sub binds, or "" when none does.
func (s *Store) quotaOwner(sub subject, ns storage.NamespaceName) string {
	if s.entries.max <= 0 || ns.Owner == "" || sub.g[scopeAllPrincipals].Has(Write) {
		return ""
	}
	return ns.Owner
}

// reserveEntries lets a write of op add n entries to the namespaces of
// owner, or refuses it with ErrCapacityExceeded. The reservation counts
// until release is called, once the write ended (committed or not).
// When the quota would refuse it, stored (nil for none) counts the keys
// of the write that exist already, which it does not add, and the quota
// is checked again for the others.
func (s *Store) reserveEntries(ctx context.Context, op, ns, key, owner string, n int64,
	stored func() (int64, error)) (release func(), err error) {
	if owner == "" || n == 0 {
		return func() {}, nil
	}
	q := &s.entries
	o := q.owner(owner)
	select {
	case o.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, opErr(op, ns, key, ctx.Err())
	}
	defer func() { <-o.turn }()
	if !o.counted || o.known+n > q.max || o.fresh+n > entryRecount {
		// What is in flight now is either in the count read next
		// (written) or not: counting it apart may count it twice, never
		// not at all.
		in := o.inflight.Load()
		c, err := s.countEntries(ctx, owner)
		if err != nil {
			return nil, err
		}
		o.counted, o.known, o.fresh = true, c+in, 0
	}
	if o.known+n > q.max && stored != nil {
		had, err := stored()
		if err != nil {
			return nil, err
		}
		n = max(n-had, 0)
	}
	if o.known+n > q.max {
		return nil, opErr(op, ns, key, fmt.Errorf("%w: principal %s's namespaces hold %d entries, %d more would pass its quota of %d",
			storage.ErrCapacityExceeded, owner, o.known, n, q.max))
	}
	o.known += n
	o.fresh += n
	o.inflight.Add(n)
	var once sync.Once
	return func() { once.Do(func() { q.release(owner, n) }) }, nil
}

// countEntries counts the entries of owner's namespaces: with the first
// store in the chain of wrapped stores that is a driver.EntryCounter,
// else by listing the namespaces and counting each.
func (s *Store) countEntries(ctx context.Context, owner string) (int64, error) {
	rs := ownerRanges(owner)
	if c, ok := inChain[driver.EntryCounter](s.inner); ok {
		return c.CountEntries(ctx, rs)
	}
	var total int64
	p := driver.NamespacePage{Limit: 1000, OmitMetadata: true}
	for {
		list, err := s.inner.ListNamespaces(driver.WithNamespaceScope(ctx, rs), p.Options()...)
		if err != nil {
			return 0, err
		}
		for _, ns := range list {
			if ns.Owner != owner {
				continue
			}
			n, err := s.inner.Count(ctx, storage.InNamespace(ns.Name))
			if err != nil {
				return 0, err
			}
			total += n
		}
		if !p.Full(len(list)) {
			return total, nil
		}
		p.After = list[len(list)-1].Name
	}
}

// storedKeys counts the keys of keys that ops holds in namespace ns, a
// few hundred at a time, each a range of one key; it leaves out keys that
// are not valid.
func storedKeys(ctx context.Context, ops storage.Ops, ns string, keys []string) (int64, error) {
	const chunk = 256
	uniq := make(map[string]bool, len(keys))
	var total int64
	rs := make([]storage.KeyRange, 0, min(len(keys), chunk))
	flush := func() error {
		if len(rs) == 0 {
			return nil
		}
		n, err := ops.Count(ctx, storage.InNamespace(ns), storage.InKeyRanges(rs...))
		total += n
		rs = rs[:0]
		return err
	}
	for _, k := range keys {
		if uniq[k] || storage.ValidateKey(k) != nil {
			continue // an invalid key is refused by the write
		}
		uniq[k] = true
		// No key holds a NUL: k is the one key in [k, k+"\x01").
		if rs = append(rs, storage.KeyRange{From: k, To: k + "\x01"}); len(rs) == chunk {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return total, nil
}

// adds is how many entries a write of items with options co may add.
func adds(co driver.CallOptions, items int) int64 {
	if co.MustExist {
		return 0
	}
	return int64(items)
}

// txEntries are the reservations of one transaction begun through the
// store, by owner: released when it ends.
type txEntries struct {
	mu     sync.Mutex
	owners map[string]int64
}

func (t *txEntries) add(owner string, n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.owners == nil {
		t.owners = map[string]int64{}
	}
	t.owners[owner] += n
}

// releaseAll ends the transaction's reservations.
func (t *txEntries) releaseAll(q *entryQuota) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for o, n := range t.owners {
		q.release(o, n)
	}
	t.owners = nil
}
