package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// Batches cost a constant number of statements whatever their size: keys
// travel as one array (Postgres) or one JSON array (SQLite) parameter.
// SQLite's SetMany sends the rest of each item apart from that array
// (batchItems): the values and metadata laid end to end in one BLOB, and
// each item's offsets, lengths, expiry and KeepTTL in a fixed-width slot of
// another, which the statement cuts by position; so SQLite parses each
// value once and no JSON array per item.
//
// Duplicate keys: GetMany answers each distinct key once; SetMany writes the
// last occurrence of a key and reports the key once, at its first
// occurrence's position; DeleteMany deletes and reports each distinct key
// once.

// dedupeKeys returns the distinct keys of keys in first-occurrence order.
func dedupeKeys(keys []string) []string {
	seen := make(map[string]struct{}, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, k)
	}
	return out
}

// GetMany implements storage.Ops.
func (x *ops) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.GetManyResult, error) {
	const op = "getMany"
	res := storage.GetManyResult{Entries: make(map[string]storage.Entry, len(keys)), Errors: map[string]error{}}
	o, err := x.start(ctx, op, "", driver.KindNamespace|driver.KindMaxBytes, opts)
	if err != nil {
		return res, err
	}
	ns := o.Namespace.Name
	// A key given twice is read once (the statement selects by key set) and
	// has one result (the results are maps): no need to remove duplicates.
	valid := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := storage.ValidateKey(k); err != nil {
			res.Errors[k] = x.s.failCtx(ctx, op, ns, k, err)
			continue
		}
		valid = append(valid, k)
	}
	if len(valid) == 0 {
		return res, nil
	}
	rows, cut, err := x.sc.reader().getEntries(ctx, ns, valid, x.s.now(), readBudget(o))
	if err != nil {
		return res, x.s.failCtx(ctx, op, ns, "", err)
	}
	for _, r := range rows {
		res.Entries[r.Key] = toEntry(ns, r)
	}
	if cut {
		// The budget stopped the read: the keys it did not reach are
		// unread, not missing (the statement's order is not the keys').
		seen := make(map[string]bool, len(valid))
		for _, k := range valid {
			if _, ok := res.Entries[k]; !ok && !seen[k] {
				seen[k] = true
				res.Unread = append(res.Unread, k)
			}
		}
		return res, nil
	}
	for _, k := range valid {
		if _, ok := res.Entries[k]; !ok {
			res.Errors[k] = x.s.failCtx(ctx, op, ns, k, storage.ErrNotFound)
		}
	}
	return res, nil
}

// errAbort rolls back an atomic batch; the per-key results say why.
var errAbort = errors.New("sqlstore: atomic batch aborted")

// SetMany implements storage.Ops. The valid items are written in one
// transaction; an invalid item gets its own error. With Atomic, any failing
// item means nothing is written. When the batch would pass the store's
// capacity, nothing is written, every key gets ErrCapacityExceeded and the
// returned error says so too.
func (x *ops) SetMany(ctx context.Context, items []storage.Item, opts ...storage.Option) (storage.BatchResult, error) {
	const op = "setMany"
	var o driver.CallOptions
	defer func() { x.changedIn(ctx, o.Namespace.Name, len(items)) }()
	var res storage.BatchResult
	o, err := x.startWrite(ctx, op, "", driver.KindNamespace|driver.KindMetadata|driver.KindNoOverwrite|driver.KindMustExist|driver.KindAtomic|driver.KindExpiry, opts)
	if err != nil {
		return res, err
	}
	ns := o.Namespace
	checked := o.MustExist // some items need the stored revisions first

	// Distinct keys in first-occurrence order; the last item of a key wins.
	index := make(map[string]int, len(items))
	last := make([]storage.Item, 0, len(items))
	for _, it := range items {
		if i, ok := index[it.Key]; ok {
			last[i] = it
			continue
		}
		index[it.Key] = len(last)
		last = append(last, it)
	}
	res.Results = make([]storage.KeyResult, len(last))
	var withMD, keepMD []batchItem
	pos := make(map[string]int, len(last)) // key -> index in res.Results
	failed := false
	now := x.s.now()
	for i, it := range last {
		res.Results[i].Key = it.Key
		pos[it.Key] = i
		bi, err := x.encodeItem(it, o, now)
		if err != nil {
			res.Results[i].Err = x.s.failCtx(ctx, op, ns.Name, it.Key, err)
			failed = true
			continue
		}
		checked = checked || bi.IfRevision > 0
		if bi.Metadata != nil || o.NoOverwrite {
			if bi.Metadata == nil {
				bi.Metadata = []byte("{}")
			}
			withMD = append(withMD, bi)
		} else {
			keepMD = append(keepMD, bi)
		}
	}
	if o.Atomic && failed {
		x.abortRest(&res, op, ns.Name)
		return res, nil
	}
	if len(withMD)+len(keepMD) == 0 {
		return res, nil
	}

	// One statement alone writes the batch where nothing else has to run
	// with it (SQLite, outside transactions: upsertBatch): no check of
	// stored revisions, no capacity, one statement (the items all keep or
	// all replace metadata). No rows: the namespace does not exist, and the
	// transaction below creates it.
	if bw, ok := x.sc.writer().(batchWriter); ok && !checked && !o.NoOverwrite && x.s.cfg.capacity == 0 &&
		(len(withMD) == 0) != (len(keepMD) == 0) {
		part, keep := withMD, false
		if len(part) == 0 {
			part, keep = keepMD, true
		}
		kvs, err := bw.upsertBatch(ctx, ns.Name, part, keep, now, actorOf(ctx))
		if err == nil && len(kvs) > 0 {
			for _, kv := range kvs {
				res.Results[pos[kv.Key]].Version = kv.Version
				res.Results[pos[kv.Key]].Revision = kv.Revision
			}
			return res, nil
		}
		if err != nil && x.s.eng.dialect().Classify(err) != dialect.ClassForeignKey {
			return res, x.setManyFailed(ctx, &res, op, ns.Name, err)
		}
	}

	err = x.sc.atomic(ctx, func(q querier) error {
		if x.s.cfg.capacity > 0 {
			if err := q.capacityLock(ctx); err != nil {
				return err
			}
		}
		withMD, keepMD := withMD, keepMD
		if checked {
			var failedCheck bool
			var err error
			withMD, keepMD, failedCheck, err = x.checkItems(ctx, q, &res, pos, ns.Name, o.MustExist, withMD, keepMD, now)
			if err != nil {
				return err
			}
			if failedCheck && o.Atomic {
				return errAbort
			}
			if len(withMD)+len(keepMD) == 0 {
				return nil
			}
		}
		if err := q.ensureNamespace(ctx, ns, now); err != nil {
			return err
		}
		var written []keyVersion
		if o.NoOverwrite {
			kvs, err := q.insertEntries(ctx, ns.Name, withMD, now, actorOf(ctx))
			if err != nil {
				return err
			}
			written = kvs
			if len(kvs) < len(withMD) {
				done := make(map[string]bool, len(kvs))
				for _, kv := range kvs {
					done[kv.Key] = true
				}
				for _, bi := range withMD {
					if !done[bi.Key] {
						res.Results[pos[bi.Key]].Err = x.s.failCtx(ctx, op, ns.Name, bi.Key, storage.ErrAlreadyExists)
					}
				}
				if o.Atomic {
					return errAbort
				}
			}
		} else {
			for _, part := range []struct {
				items []batchItem
				keep  bool
			}{{withMD, false}, {keepMD, true}} {
				if len(part.items) == 0 {
					continue
				}
				kvs, err := q.upsertEntries(ctx, ns.Name, part.items, part.keep, now, actorOf(ctx))
				if err != nil {
					return err
				}
				written = append(written, kvs...)
			}
		}
		if x.s.cfg.capacity > 0 {
			if err := x.checkCapacity(ctx, q, now); err != nil {
				return err
			}
		}
		for _, kv := range written {
			res.Results[pos[kv.Key]].Version = kv.Version
			res.Results[pos[kv.Key]].Revision = kv.Revision
		}
		return nil
	})
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, errAbort):
		x.abortRest(&res, op, ns.Name)
		return res, nil
	default:
		return res, x.setManyFailed(ctx, &res, op, ns.Name, err)
	}
}

// setManyFailed reports a SetMany of which nothing was written: every key
// not already failed shares err, and no key has a version.
func (x *ops) setManyFailed(ctx context.Context, res *storage.BatchResult, op, ns string, err error) error {
	werr := x.s.failCtx(ctx, op, ns, "", err)
	for i := range res.Results {
		res.Results[i].Version, res.Results[i].Revision = 0, 0
		if res.Results[i].Err == nil {
			res.Results[i].Err = x.s.failCtx(ctx, op, ns, res.Results[i].Key, err)
		}
	}
	return werr
}

// encodeItem validates one SetMany item. Its metadata is the item's own,
// else the batch's, else nil (keep what is stored); so is its expiry,
// resolved at now.
func (x *ops) encodeItem(it storage.Item, o driver.CallOptions, now time.Time) (batchItem, error) {
	if err := storage.ValidateKey(it.Key); err != nil {
		return batchItem{}, err
	}
	e, err := driver.ItemExpiry(driver.Expiry{TTL: it.TTL, At: it.ExpiresAt, Keep: it.KeepTTL}, o.Expiry)
	if err != nil {
		return batchItem{}, err
	}
	if e.Keep && o.NoOverwrite {
		return batchItem{}, driver.Invalidf(storage.ErrInvalidOption, "KeepTTL means nothing with NoOverwrite")
	}
	exp, err := resolveExpiry(e, now)
	if err != nil {
		return batchItem{}, err
	}
	batchMD := o.Metadata
	v, err := driver.EncodeValue(it.Value, x.s.cfg.maxValueSize)
	if err != nil {
		return batchItem{}, err
	}
	md, err := driver.EncodeMetadata(it.Metadata, x.s.cfg.maxValueSize)
	if err != nil {
		return batchItem{}, err
	}
	if md == nil {
		md = batchMD
	}
	if it.IfRevision < 0 {
		return batchItem{}, driver.Invalidf(storage.ErrInvalidOption, "Item.IfRevision(%d): revisions start at 1", it.IfRevision)
	}
	if it.IfRevision > 0 && o.NoOverwrite {
		return batchItem{}, driver.Invalidf(storage.ErrInvalidOption, "NoOverwrite and Item.IfRevision exclude each other")
	}
	return batchItem{Key: it.Key, Value: v, Metadata: md, Expiry: exp, IfRevision: it.IfRevision}, nil
}

// checkItems applies MustExist and the items' IfRevision, inside the
// batch's transaction and, on PostgreSQL, under the revision lock, so that
// nothing changes the keys between the check and the write: it reads the
// stored revisions in one statement, gives each item that fails its error
// (ErrNotFound for a missing key with MustExist, else ErrConflict), and
// returns the items left to write.
func (x *ops) checkItems(ctx context.Context, q querier, res *storage.BatchResult, pos map[string]int, ns string, mustExist bool,
	withMD, keepMD []batchItem, now time.Time) ([]batchItem, []batchItem, bool, error) {
	if err := q.lockRevisions(ctx); err != nil {
		return nil, nil, false, err
	}
	keys := make([]string, 0, len(withMD)+len(keepMD))
	for _, part := range [][]batchItem{withMD, keepMD} {
		for _, bi := range part {
			keys = append(keys, bi.Key)
		}
	}
	rows, _, err := q.getEntries(ctx, ns, keys, now, nil)
	if err != nil {
		return nil, nil, false, err
	}
	stored := make(map[string]int64, len(rows))
	for _, r := range rows {
		stored[r.Key] = r.Revision
	}
	failed := false
	keep := func(part []batchItem) []batchItem {
		out := make([]batchItem, 0, len(part))
		for _, bi := range part {
			rev, ok := stored[bi.Key]
			var err error
			switch {
			case !ok && mustExist:
				err = storage.ErrNotFound
			case !ok && bi.IfRevision > 0:
				err = fmt.Errorf("%w: expected revision %d, but the key does not exist", storage.ErrConflict, bi.IfRevision)
			case bi.IfRevision > 0 && rev != bi.IfRevision:
				err = fmt.Errorf("%w: expected revision %d, found %d", storage.ErrConflict, bi.IfRevision, rev)
			}
			if err != nil {
				res.Results[pos[bi.Key]].Err = x.s.fail("setMany", ns, bi.Key, err)
				failed = true
				continue
			}
			out = append(out, bi)
		}
		return out
	}
	withMD, keepMD = keep(withMD), keep(keepMD)
	return withMD, keepMD, failed, nil
}

// abortRest marks every key of an aborted atomic batch that has no error of
// its own with ErrAborted, and clears versions: nothing was written.
func (x *ops) abortRest(res *storage.BatchResult, op, ns string) {
	for i := range res.Results {
		res.Results[i].Version, res.Results[i].Revision = 0, 0
		if res.Results[i].Err == nil {
			res.Results[i].Err = x.s.fail(op, ns, res.Results[i].Key, storage.ErrAborted)
		}
	}
}

// DeleteMany implements storage.Ops. A missing key gets ErrNotFound; with
// Atomic, a missing or invalid key means nothing is deleted.
func (x *ops) DeleteMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.BatchResult, error) {
	const op = "deleteMany"
	var o driver.CallOptions
	defer func() { x.changedIn(ctx, o.Namespace.Name, len(keys)) }()
	var res storage.BatchResult
	o, err := x.startWrite(ctx, op, "", driver.KindNamespace|driver.KindAtomic, opts)
	if err != nil {
		return res, err
	}
	ns := o.Namespace.Name
	distinct := dedupeKeys(keys)
	res.Results = make([]storage.KeyResult, len(distinct))
	valid := make([]string, 0, len(distinct))
	failed := false
	for i, k := range distinct {
		res.Results[i].Key = k
		if err := storage.ValidateKey(k); err != nil {
			res.Results[i].Err = x.s.failCtx(ctx, op, ns, k, err)
			failed = true
			continue
		}
		valid = append(valid, k)
	}
	if o.Atomic && failed {
		x.abortRest(&res, op, ns)
		return res, nil
	}
	if len(valid) == 0 {
		return res, nil
	}
	var deleted []keyVersion
	markMissing := func() {
		gone := make(map[string]int64, len(deleted))
		for _, kv := range deleted {
			gone[kv.Key] = kv.Revision
		}
		for i, kr := range res.Results {
			if kr.Err != nil {
				continue
			}
			if rev, ok := gone[kr.Key]; ok {
				res.Results[i].Revision = rev
			} else {
				res.Results[i].Err = x.s.failCtx(ctx, op, ns, kr.Key, storage.ErrNotFound)
			}
		}
	}
	if !o.Atomic {
		err = x.logged(ctx, func(q querier) error {
			var err error
			deleted, err = q.deleteEntries(ctx, ns, valid, x.s.now())
			return err
		})
		if err != nil {
			return res, x.batchFailed(ctx, &res, op, ns, err)
		}
		markMissing()
		return res, nil
	}
	err = x.sc.atomic(ctx, func(q querier) error {
		var err error
		deleted, err = q.deleteEntries(ctx, ns, valid, x.s.now())
		if err != nil {
			return err
		}
		if len(deleted) < len(valid) {
			return errAbort
		}
		return nil
	})
	switch {
	case err == nil:
		markMissing()
		return res, nil
	case errors.Is(err, errAbort):
		markMissing()
		x.abortRest(&res, op, ns)
		return res, nil
	default:
		return res, x.batchFailed(ctx, &res, op, ns, err)
	}
}

// batchFailed gives every key without an error of its own the batch's error.
func (x *ops) batchFailed(ctx context.Context, res *storage.BatchResult, op, ns string, err error) error {
	for i := range res.Results {
		if res.Results[i].Err == nil {
			res.Results[i].Err = x.s.failCtx(ctx, op, ns, res.Results[i].Key, err)
		}
	}
	return x.s.failCtx(ctx, op, ns, "", err)
}
