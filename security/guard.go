package security

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// guard authorizes the data operations of one call, on the store or on a
// transaction (ops), for one subject.
type guard struct {
	ops   storage.Ops
	sub   subject
	store *Store
	inTx  bool
	// tx holds the transaction's reservations under
	// MaxEntriesPerPrincipal (inTx).
	tx *txEntries
}

// visibleRanges are the key ranges sub may read in a namespace it may
// read: the keys outside the principal scheme, and the data keys of the
// owners sub may read. ok is false when sub may read every key. They are
// exact because storage.KeyOwner is the one rule for such keys: no store
// holds a key in the scheme that is not canonical (lower-case
// "principal://", a {pkr} without "/", "/data/", a clean path), so a key
// starting "principal://{pkr}/data/" is {pkr}'s and every other key in the
// scheme starts "principal://". Passed down with storage.InKeyRanges, they
// make the wrapped store filter and page in its own query.
func visibleRanges(sub subject) ([]storage.KeyRange, bool) {
	owners, all := sub.dataOwners(Read)
	if all {
		return nil, false
	}
	scheme := storage.PrefixRange(storage.PrincipalScheme)
	rs := []storage.KeyRange{{To: scheme.From}, {From: scheme.To}}
	for _, o := range owners {
		rs = append(rs, storage.PrefixRange(storage.PrincipalScheme+o+"/data/"))
	}
	return rs, true
}

// visibleOpts returns opts restricted to the keys sub may read: the
// caller's own InKeyRanges, if any, intersected with visibleRanges.
func visibleOpts(sub subject, co driver.CallOptions, opts []storage.Option) []storage.Option {
	vis, ok := visibleRanges(sub)
	if !ok {
		return opts
	}
	if co.Set&driver.KindKeyRanges != 0 {
		vis = intersectRanges(co.KeyRanges, vis)
	}
	return append(without(opts, driver.KindKeyRanges), storage.InKeyRanges(vis...))
}

// intersectRanges returns the non-empty intersections of a range of a with
// a range of b.
func intersectRanges(a, b []storage.KeyRange) []storage.KeyRange {
	out := []storage.KeyRange{}
	for _, x := range a {
		for _, y := range b {
			r := storage.KeyRange{From: max(x.From, y.From), To: x.To}
			if r.To == "" || (y.To != "" && y.To < r.To) {
				r.To = y.To
			}
			if r.To == "" || r.From < r.To {
				out = append(out, r)
			}
		}
	}
	return out
}

// protectedRanges are the key ranges of the principal-scheme keys sub may
// not write: the scheme's range without the data keys of the owners sub
// may write. ok is false when sub may write every key. They are exact for
// the reason visibleRanges is: every key in the scheme that is not
// "principal://{pkr}/data/…" of an owner sub may write is protected.
func protectedRanges(sub subject) ([]storage.KeyRange, bool) {
	owners, all := sub.dataOwners(Write)
	if all {
		return nil, false
	}
	mine := make([]storage.KeyRange, 0, len(owners))
	for _, o := range owners {
		mine = append(mine, storage.PrefixRange(storage.PrincipalScheme+o+"/data/"))
	}
	// By From, not by owner: "principal://ab-c/data/" sorts before
	// "principal://ab/data/".
	slices.SortFunc(mine, func(a, b storage.KeyRange) int { return strings.Compare(a.From, b.From) })
	scheme := storage.PrefixRange(storage.PrincipalScheme)
	out := []storage.KeyRange{}
	from := scheme.From
	for _, r := range mine {
		if r.From > from {
			out = append(out, storage.KeyRange{From: from, To: r.From})
		}
		from = max(from, r.To)
	}
	if from < scheme.To {
		out = append(out, storage.KeyRange{From: from, To: scheme.To})
	}
	return out, true
}

// resolve reads the options of op on key ("" for an operation on many or
// none); the wrapped store still checks which kinds op accepts. An
// option's error names the namespace and key as the engine's does.
func resolve(op, key string, opts []storage.Option) (driver.CallOptions, error) {
	co, err := driver.ResolveOptions(op, allKinds, opts)
	if err != nil {
		ns := ""
		if !errors.Is(err, storage.ErrInvalidNamespace) { // the message names it
			ns = driver.NamespaceOf(opts)
		}
		return co, opErr(op, ns, key, err)
	}
	return co, nil
}

// allowKey reports whether sub holds need on key in namespace ns.
func (g guard) allowKey(ns storage.NamespaceName, key string, need Permission) bool {
	owner, ok := keyOwner(key)
	p := g.sub.namespace(ns)
	if !ok {
		// Reserved: only principal://* reaches a non-canonical key.
		p &= g.sub.g[scopeAllPrincipals]
	} else if owner != "" {
		p &= g.sub.data(owner)
	}
	return p.Has(need)
}

// check resolves opts and authorizes need on key.
func (g guard) check(op, key string, need Permission, opts []storage.Option) error {
	co, err := resolve(op, key, opts)
	if err != nil {
		return err
	}
	if !g.allowKey(co.Namespace, key, need) {
		return denied(op, co.Namespace.Name, key)
	}
	return nil
}

func (g guard) Get(ctx context.Context, key string, opts []storage.Option) (storage.Entry, error) {
	if err := g.check("get", key, Read, opts); err != nil {
		return storage.Entry{}, err
	}
	return g.ops.Get(ctx, key, opts...)
}

func (g guard) Set(ctx context.Context, key string, value any, opts []storage.Option) error {
	const op = "set"
	co, err := resolve(op, key, opts)
	if err != nil {
		return err
	}
	if !g.allowKey(co.Namespace, key, Write) {
		return denied(op, co.Namespace.Name, key)
	}
	release, err := g.reserve(ctx, op, key, co, []string{key})
	if err != nil {
		return err
	}
	defer release()
	return g.store.writeUnderQuota(ctx, g.sub, g.inTx, op, key, co.Namespace, func() (bool, error) {
		err := g.ops.Set(ctx, key, value, opts...)
		return err == nil, err
	})
}

// reserve reserves, under MaxEntriesPerPrincipal, the entries a write of
// keys with options co may add to its namespace. In a transaction the
// reservation holds until the transaction ends: release then does
// nothing.
func (g guard) reserve(ctx context.Context, op, key string, co driver.CallOptions, keys []string) (release func(), err error) {
	owner := g.store.quotaOwner(g.sub, co.Namespace)
	n := adds(co, len(keys))
	stored := func() (int64, error) { return storedKeys(ctx, g.ops, co.Namespace.Name, keys) }
	release, err = g.store.reserveEntries(ctx, op, co.Namespace.Name, key, owner, n, stored)
	if err != nil || g.tx == nil || owner == "" || n == 0 {
		return release, err
	}
	g.tx.add(owner, n)
	return func() {}, nil
}

func (g guard) Delete(ctx context.Context, key string, opts []storage.Option) error {
	if err := g.check("delete", key, Write, opts); err != nil {
		return err
	}
	return g.ops.Delete(ctx, key, opts...)
}

func (g guard) Has(ctx context.Context, key string, opts []storage.Option) (bool, error) {
	if err := g.check("has", key, Read, opts); err != nil {
		return false, err
	}
	return g.ops.Has(ctx, key, opts...)
}

func (g guard) GetMetadata(ctx context.Context, key string, opts []storage.Option) (storage.Metadata, error) {
	if err := g.check("getMetadata", key, Read, opts); err != nil {
		return storage.Metadata{}, err
	}
	return g.ops.GetMetadata(ctx, key, opts...)
}

func (g guard) SetMetadata(ctx context.Context, key string, md any, opts []storage.Option) error {
	if err := g.check("setMetadata", key, Write, opts); err != nil {
		return err
	}
	return g.ops.SetMetadata(ctx, key, md, opts...)
}

func (g guard) GetMany(ctx context.Context, keys []string, opts []storage.Option) (storage.GetManyResult, error) {
	const op = "getMany"
	co, err := resolve(op, "", opts)
	if err != nil {
		return storage.GetManyResult{}, err
	}
	var allowed []string
	deniedKeys := map[string]error{}
	for _, k := range keys {
		if g.allowKey(co.Namespace, k, Read) {
			allowed = append(allowed, k)
		} else {
			deniedKeys[k] = denied(op, co.Namespace.Name, k)
		}
	}
	if len(deniedKeys) == 0 {
		return g.ops.GetMany(ctx, keys, opts...)
	}
	res := storage.GetManyResult{Entries: map[string]storage.Entry{}, Errors: map[string]error{}}
	if len(allowed) > 0 {
		res, err = g.ops.GetMany(ctx, allowed, opts...)
		if err != nil {
			return res, err
		}
		if res.Errors == nil {
			res.Errors = map[string]error{}
		}
		if res.Entries == nil {
			res.Entries = map[string]storage.Entry{}
		}
	}
	for k, e := range deniedKeys {
		res.Errors[k] = e
	}
	return res, nil
}

// batch authorizes the keys of a batch write and runs the permitted ones:
// denied keys get ErrPermissionDenied; with Atomic, any denial writes
// nothing and the other keys get ErrAborted.
func (g guard) batch(op string, keys []string, opts []storage.Option,
	run func(keep []int) (storage.BatchResult, error)) (storage.BatchResult, error) {
	co, err := resolve(op, "", opts)
	if err != nil {
		return storage.BatchResult{}, err
	}
	var keep []int
	deniedKeys := map[string]bool{}
	for i, k := range keys {
		if g.allowKey(co.Namespace, k, Write) {
			keep = append(keep, i)
		} else {
			deniedKeys[k] = true
		}
	}
	if len(deniedKeys) == 0 {
		return run(nil)
	}
	byKey := map[string]storage.KeyResult{}
	if len(keep) > 0 && !co.Atomic {
		res, err := run(keep)
		if err != nil {
			return res, err
		}
		for _, kr := range res.Results {
			byKey[kr.Key] = kr
		}
	}
	var out storage.BatchResult
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		switch {
		case deniedKeys[k]:
			out.Results = append(out.Results, storage.KeyResult{Key: k, Err: denied(op, co.Namespace.Name, k)})
		case co.Atomic:
			out.Results = append(out.Results, storage.KeyResult{Key: k, Err: opErr(op, co.Namespace.Name, k, storage.ErrAborted)})
		default:
			out.Results = append(out.Results, byKey[k])
		}
	}
	return out, nil
}

func (g guard) SetMany(ctx context.Context, items []storage.Item, opts []storage.Option) (storage.BatchResult, error) {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	const op = "setMany"
	return g.batch(op, keys, opts, func(keep []int) (storage.BatchResult, error) {
		sub := items
		if keep != nil {
			sub = make([]storage.Item, len(keep))
			for j, i := range keep {
				sub[j] = items[i]
			}
		}
		co, err := resolve(op, "", opts) // resolved by batch already: no error
		if err != nil {
			return storage.BatchResult{}, err
		}
		subKeys := keys
		if keep != nil {
			subKeys = make([]string, len(sub))
			for j, it := range sub {
				subKeys[j] = it.Key
			}
		}
		release, err := g.reserve(ctx, op, "", co, subKeys)
		if err != nil {
			return refusedBatch(sub, err), err
		}
		defer release()
		var res storage.BatchResult
		err = g.store.writeUnderQuota(ctx, g.sub, g.inTx, op, "", co.Namespace, func() (bool, error) {
			var err error
			res, err = g.ops.SetMany(ctx, sub, opts...)
			return err == nil && len(res.Failed()) < len(res.Results), err
		})
		if res.Results == nil && errors.Is(err, storage.ErrCapacityExceeded) {
			res = refusedBatch(sub, err)
		}
		return res, err
	})
}

// refusedBatch is the result of a batch of items of which nothing was
// written, for err: each distinct key, at its first position, has err,
// as the engine reports a batch refused under its capacity.
func refusedBatch(items []storage.Item, err error) storage.BatchResult {
	res := storage.BatchResult{Results: make([]storage.KeyResult, 0, len(items))}
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if !seen[it.Key] {
			seen[it.Key] = true
			res.Results = append(res.Results, storage.KeyResult{Key: it.Key, Err: err})
		}
	}
	return res
}

func (g guard) DeleteMany(ctx context.Context, keys []string, opts []storage.Option) (storage.BatchResult, error) {
	return g.batch("deleteMany", keys, opts, func(keep []int) (storage.BatchResult, error) {
		if keep == nil {
			return g.ops.DeleteMany(ctx, keys, opts...)
		}
		sub := make([]string, len(keep))
		for j, i := range keep {
			sub[j] = keys[i]
		}
		return g.ops.DeleteMany(ctx, sub, opts...)
	})
}

// Clear needs write on the namespace, and is denied while it holds
// principal-owned keys the caller may not write. Without a namespace it
// clears everything, and needs write on storage://namespace/* and
// principal://*.
//
// Outside a transaction, on a store that is a driver.ProtectedClearer
// (sqlstore, under observe's wrapper or not), the store checks for those
// keys inside its own write (ClearUnless): the check sees every write
// committed before the clear and no write commits between the two, so a
// protected key written concurrently is either seen (denied) or written
// after the clear (kept), and writers to the namespace do not make the
// clear fail. Otherwise the guard counts them and clears: in the caller's
// transaction, or in a serializable transaction of its own (clearTx).
func (g guard) Clear(ctx context.Context, opts []storage.Option) error {
	const op = "clear"
	co, err := resolve(op, "", opts)
	if err != nil {
		return err
	}
	if co.Set&driver.KindNamespace == 0 {
		if !g.sub.everything().Has(Write) {
			return denied(op, "", "")
		}
		return g.ops.Clear(ctx, opts...)
	}
	ns := co.Namespace.Name
	if !g.sub.namespace(co.Namespace).Has(Write) {
		return denied(op, ns, "")
	}
	rs, ok := protectedRanges(g.sub)
	if !ok {
		return g.ops.Clear(ctx, opts...)
	}
	if g.inTx {
		return clearUnprotected(ctx, g.ops, ns, rs, opts)
	}
	// Only InNamespace: other options are the wrapped store's to refuse.
	if pc, ok := g.store.inner.(driver.ProtectedClearer); ok && co.Set == driver.KindNamespace {
		if err, done := protectedAnswer(op, ns, pc.ClearUnless(ctx, ns, rs)); done {
			return err
		}
	}
	if !g.store.inner.Capabilities().Transactions {
		return clearUnprotected(ctx, g.ops, ns, rs, opts)
	}
	return g.clearTx(ctx, ns, rs, opts)
}

// protectedAnswer is what op on namespace ns answers when the store's
// driver.ProtectedClearer method answered err: done is false when the
// store could not check (ErrUnsupported), and a refusal (ErrProtected)
// is the caller's denial.
func protectedAnswer(op, ns string, err error) (error, bool) {
	switch {
	case errors.Is(err, storage.ErrUnsupported):
		return nil, false
	case errors.Is(err, driver.ErrProtected):
		return denied(op, ns, ""), true
	}
	return err, true
}

// clearTx counts the protected keys (in rs) and clears in one serializable
// transaction, so a protected key written in between cannot be cleared:
// Clear's way on a store that cannot check inside its own write. On
// PostgreSQL such a transaction fails with ErrTxConflict when a concurrent
// write touches what it read (predicate locks may also cover index pages or
// relations, so writes elsewhere); the transaction is the guard's own, so it
// is tried again, as a serialization failure asks, clearAttempts times. A
// write to the namespace conflicts with it (the namespace's row): with
// another principal's four writers in the namespace, 24 clears in 40 still
// failed, which ClearUnless removes.
func (g guard) clearTx(ctx context.Context, ns string, rs []storage.KeyRange, opts []storage.Option) error {
	for attempt := 1; ; attempt++ {
		tx, err := g.store.inner.Begin(ctx, storage.TxOptions{Isolation: storage.LevelSerializable})
		if err != nil {
			return err
		}
		err = clearUnprotected(ctx, tx, ns, rs, opts)
		if err != nil {
			_ = tx.Rollback(ctx)
		} else {
			err = tx.Commit(ctx)
		}
		if err == nil || !errors.Is(err, storage.ErrTxConflict) || attempt == clearAttempts || ctx.Err() != nil {
			return err
		}
	}
}

// clearAttempts is how many times clearTx runs its transaction when it
// fails with ErrTxConflict.
const clearAttempts = 5

// clearUnprotected clears namespace ns through ops unless it holds a key
// in the protected ranges rs (denied).
func clearUnprotected(ctx context.Context, ops storage.Ops, ns string, rs []storage.KeyRange, opts []storage.Option) error {
	n, err := ops.Count(ctx, storage.InNamespace(ns), storage.InKeyRanges(rs...))
	if err != nil {
		return err
	}
	if n > 0 {
		return denied("clear", ns, "")
	}
	return ops.Clear(ctx, opts...)
}

// without returns opts minus the options of the given kinds.
func without(opts []storage.Option, kinds driver.OptionKind) []storage.Option {
	out := make([]storage.Option, 0, len(opts)+2)
	for _, o := range opts {
		if o.Kind()&kinds == 0 {
			out = append(out, o)
		}
	}
	return out
}

func (g guard) Query(ctx context.Context, f storage.Filter, opts []storage.Option) (storage.QueryResult, error) {
	const op = "query"
	co, err := resolve(op, "", opts)
	if err != nil {
		return storage.QueryResult{}, err
	}
	if !g.sub.namespace(co.Namespace).Has(Read) {
		return storage.QueryResult{}, denied(op, co.Namespace.Name, "")
	}
	return g.ops.Query(ctx, f, visibleOpts(g.sub, co, opts)...)
}

func (g guard) Count(ctx context.Context, opts []storage.Option) (int64, error) {
	const op = "count"
	co, err := resolve(op, "", opts)
	if err != nil {
		return 0, err
	}
	if !g.sub.namespace(co.Namespace).Has(Read) {
		return 0, denied(op, co.Namespace.Name, "")
	}
	return g.ops.Count(ctx, visibleOpts(g.sub, co, opts)...)
}

// List returns the keys the caller may read: the wrapped store lists only
// the key ranges the caller may see (storage.InKeyRanges), so its pages,
// cursors and costs are those of the visible keys alone.
func (g guard) List(ctx context.Context, opts []storage.Option) (storage.ListResult, error) {
	const op = "list"
	co, err := resolve(op, "", opts)
	if err != nil {
		return storage.ListResult{}, err
	}
	if !g.sub.namespace(co.Namespace).Has(Read) {
		return storage.ListResult{}, denied(op, co.Namespace.Name, "")
	}
	return g.ops.List(ctx, visibleOpts(g.sub, co, opts)...)
}
