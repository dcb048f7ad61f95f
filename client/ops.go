package client

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/routes"
)

// allKinds accepts every option kind: the server decides which kinds an
// operation takes, so its ErrInvalidOption is the one the caller sees.
const allKinds = driver.AllOptionKinds

// localKinds are the option kinds that never travel: the wire has no field
// for them (the client fills Written from the answer, calls OnStart itself,
// and a WatchScope is a hint for a store's own feed). The server cannot
// refuse them where an operation does not take them, so the client does,
// as the engine would: an option is never ignored.
const localKinds = driver.KindWritten | driver.KindOnStart | driver.KindWatchScope

// localAccepted are the local kinds each operation takes (the engine's).
var localAccepted = map[string]driver.OptionKind{
	"set":         driver.KindWritten,
	"delete":      driver.KindWritten,
	"setMetadata": driver.KindWritten,
	"watch":       driver.KindOnStart | driver.KindWatchScope,
}

// ops are the data operations, on the store (tx nil) or on a transaction.
type ops struct {
	s  *Store
	tx *Tx
}

func nothing() {}

// start begins operation op: it checks that the store (and transaction) is
// usable and ctx alive, resolves opts and translates them to the wire. An
// option's error names the namespace and key (the operation's, "" for one
// on many or none) as the engine's does. The
// returned func must be called when the operation ends (it releases the
// transaction, whose operations run one at a time).
func (o ops) start(ctx context.Context, op, key string, write bool, opts []storage.Option) (driver.CallOptions, *routes.Options, func(), error) {
	done := nothing
	if t := o.tx; t != nil {
		t.mu.Lock()
		done = t.mu.Unlock
		if t.done {
			return driver.CallOptions{}, nil, done, &storage.OpError{Op: op, Err: storage.ErrTxDone}
		}
	}
	if err := o.s.usable(op); err != nil {
		return driver.CallOptions{}, nil, done, err
	}
	if err := ctx.Err(); err != nil {
		if o.tx != nil {
			o.tx.abandonLocked(ctx) // as an operation whose context ends ends its transaction
		}
		return driver.CallOptions{}, nil, done, &storage.OpError{Op: op, Err: err}
	}
	c, err := driver.ResolveOptions(op, allKinds&^localKinds|localAccepted[op], opts)
	if err != nil {
		ns := ""
		if !errors.Is(err, storage.ErrInvalidNamespace) { // the message names it
			ns = driver.NamespaceOf(opts)
		}
		return c, nil, done, &storage.OpError{Op: op, Namespace: ns, Key: key, Err: err}
	}
	if write && o.tx != nil && o.tx.ro {
		return c, nil, done, &storage.OpError{Op: op, Namespace: c.Namespace.Name, Key: key, Err: storage.ErrReadOnly}
	}
	w, err := wireOptions(c)
	if err != nil {
		return c, nil, done, &storage.OpError{Op: op, Namespace: c.Namespace.Name, Key: key, Err: err}
	}
	if o.tx != nil {
		if w == nil {
			w = &routes.Options{}
		}
		id := o.tx.id
		w.TransactionID = &id
	}
	return c, w, done, nil
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// wireOptions serializes the options that were given, and only those.
func wireOptions(c driver.CallOptions) (*routes.Options, error) {
	if c.Set&^driver.KindWritten == 0 {
		return nil, nil // Written stays here: the answer fills it
	}
	if c.Set&driver.KindKeyRanges != 0 {
		return nil, driver.Invalidf(storage.ErrInvalidOption, "InKeyRanges is not available over HTTP")
	}
	w := &routes.Options{}
	if c.Set&driver.KindNamespace != 0 {
		w.Namespace = ptr(c.Namespace.Name)
	}
	if c.Set&driver.KindMetadata != 0 {
		w.Metadata = c.Metadata
	}
	if c.Set&driver.KindNoOverwrite != 0 {
		w.NoOverwrite = ptr(true)
	}
	if c.Set&driver.KindIfVersion != 0 {
		w.IfVersion = ptr(c.IfVersion)
	}
	if c.Set&driver.KindIfRevision != 0 {
		w.IfRevision = ptr(c.IfRevision)
	}
	if c.Set&driver.KindMustExist != 0 {
		w.MustExist = ptr(true)
	}
	if c.Set&driver.KindMerge != 0 {
		w.Merge = ptr(true)
	}
	if c.Set&driver.KindAtomic != 0 {
		w.Atomic = ptr(true)
	}
	if c.Set&driver.KindPattern != 0 {
		w.Pattern = ptr(c.Pattern)
	}
	if c.Set&driver.KindLimit != 0 {
		w.Limit = ptr(c.Limit)
	}
	if c.Set&driver.KindOffset != 0 {
		w.Offset = ptr(c.Offset)
	}
	if c.Set&driver.KindMaxBytes != 0 {
		w.MaxBytes = ptr(c.MaxBytes)
	}
	if c.Set&driver.KindCursor != 0 {
		w.After = ptr(c.Cursor)
	}
	if c.Set&driver.KindSort != 0 {
		l := make(routes.SortList, len(c.Sort))
		for i, f := range c.Sort {
			l[i] = routes.SortField{Field: f.Field, Desc: f.Desc}
		}
		w.Sort = &l
	}
	if c.Set&driver.KindFilter != 0 {
		b, err := json.Marshal(wireFilter(c.FilterSource))
		if err != nil {
			return nil, driver.Invalidf(storage.ErrInvalidFilter, "%v", err)
		}
		w.Where = b
	}
	if c.Set&driver.KindExpiry != 0 {
		w.ExpiryOptions = wireExpiry(c.Expiry)
	}
	if c.Set&driver.KindRevision != 0 {
		if c.RevisionFrom {
			w.FromRevision = ptr(c.Revision)
		} else {
			w.AtRevision = ptr(c.Revision)
		}
	}
	if c.Set&driver.KindOmitValues != 0 {
		w.OmitValues = ptr(true)
	}
	return w, nil
}

// wireExpiry is an expiry on the wire: a TTL of whole seconds as ttl, any
// other as ttlMs (rounded up to a whole millisecond); the server's clock
// turns it into a time, as the engine's would.
func wireExpiry(e driver.Expiry) routes.ExpiryOptions {
	var w routes.ExpiryOptions
	switch {
	case e.TTL != 0 && e.TTL%time.Second == 0:
		w.TTL = json.RawMessage(strconv.FormatInt(int64(e.TTL/time.Second), 10))
	case e.TTL != 0:
		ms := int64((e.TTL + time.Millisecond - 1) / time.Millisecond)
		if e.TTL < 0 {
			ms = int64(e.TTL / time.Millisecond) // refused by the server as it is
		}
		w.TTLMs = json.RawMessage(strconv.FormatInt(ms, 10))
	case !e.At.IsZero():
		// Formatted, not marshalled: a year past 9999, which MarshalJSON
		// refuses, reaches the server and is refused there (invalid_option).
		// In UTC: the year is the one of the time the engine decides on,
		// not of the caller's zone (10000-01-01T00:30+01:00 is in 9999).
		w.ExpiresAt, _ = json.Marshal(e.At.UTC().Format(time.RFC3339Nano))
	case e.Keep:
		w.KeepTTL = ptr(true)
	}
	return w
}

// unspellable refuses an ExpiresAt whose year RFC 3339 cannot spell
// (before 0, after 9999) as the engine refuses it, not after its clock or
// more than MaxTTL after it: on the wire such a time is not a time, and
// the server would fail a whole SetMany for one item's, where the engine
// fails that item.
func unspellable(e driver.Expiry) error {
	if e.At.IsZero() {
		return nil
	}
	at := e.At.UTC()
	switch {
	case at.Year() < 0:
		return driver.Invalidf(storage.ErrInvalidOption, "ExpiresAt(%s): not after the store's time", at.Format(time.RFC3339Nano))
	case at.Year() > 9999:
		return driver.Invalidf(storage.ErrInvalidOption, "ExpiresAt(%s): more than MaxTTL after the store's time", at.Format(time.RFC3339Nano))
	}
	return nil
}

// send sends one message of operation op. On a transaction, an answer that
// the transaction is gone ends it here too.
func (o ops) send(ctx context.Context, op, route string, req any, resp enveloped) error {
	err := o.s.call(ctx, route, req, resp)
	if err == nil || o.tx == nil {
		return err
	}
	var te *TransportError
	if errors.As(err, &te) && te.sentinel == storage.ErrCommitUnknown { //nolint:errorlint // our own field
		// A write in a transaction commits nothing by itself.
		te.sentinel = storage.ErrUnavailable
	}
	switch routes.CodeOf(err) {
	case routes.CodeTxNotFound:
		// The server no longer knows it: rolled back by its idle timeout,
		// by a failed operation, or by a server restart.
		o.tx.finishLocked()
		return &storage.OpError{Op: op, Err: storage.ErrTxDone}
	case routes.CodeTxDone:
		o.tx.finishLocked()
	default:
		if ctx.Err() != nil {
			o.tx.abandonLocked(ctx)
		}
	}
	return err
}

func keyErr(op, ns, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return &storage.OpError{Op: op, Namespace: ns, Key: key, Err: err}
	}
	return nil
}

// startKey is start for an operation on key, which it checks too; it
// returns the namespace the options name instead of all of them.
func (o ops) startKey(ctx context.Context, op string, write bool, key string, opts []storage.Option) (string, *routes.Options, func(), error) {
	c, w, done, err := o.start(ctx, op, key, write, opts)
	if err != nil {
		return "", nil, done, err
	}
	ns := c.Namespace.Name
	return ns, w, done, keyErr(op, ns, key)
}

// keyOp runs an operation whose message is a KeyRequest for key, and
// decodes its answer into resp.
func (o ops) keyOp(ctx context.Context, op, route string, write bool, key string, opts []storage.Option, resp enveloped) error {
	_, w, done, err := o.startKey(ctx, op, write, key, opts)
	defer done()
	if err != nil {
		return err
	}
	return o.send(ctx, op, route, routes.KeyRequest{Key: &key, Options: w}, resp)
}

// optionsOp runs an operation whose message is an OptionsRequest, and
// decodes its answer into resp.
func (o ops) optionsOp(ctx context.Context, op, route string, write bool, opts []storage.Option, resp enveloped) error {
	_, w, done, err := o.start(ctx, op, "", write, opts)
	defer done()
	if err != nil {
		return err
	}
	return o.send(ctx, op, route, routes.OptionsRequest{Options: w}, resp)
}

func entryOf(key string, value json.RawMessage, m routes.EntryMeta) storage.Entry {
	if string(m.Metadata) == "null" { // a nil Metadata on the server
		m.Metadata = nil
	}
	return storage.Entry{Namespace: m.Namespace, Key: key, Value: value, Metadata: m.Metadata,
		Version: m.Version, Revision: m.Revision, CreateRevision: m.CreateRevision,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, ExpiresAt: fromWireTime(m.ExpiresAt)}
}

// fromWireTime is an expiry from the wire: the zero time for none.
func fromWireTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// Get implements storage.Ops: storage://get.
func (o ops) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	var resp routes.GetResponse
	if err := o.keyOp(ctx, "get", routes.RouteGet, false, key, opts, &resp); err != nil {
		return storage.Entry{}, err
	}
	return entryOf(resp.Key, resp.Data, resp.EntryMeta), nil
}

// Set implements storage.Ops: storage://set. The value is encoded and
// checked here (driver.EncodeValue) so that what travels is valid JSON;
// its size is the server's to check.
func (o ops) Set(ctx context.Context, key string, value any, opts ...storage.Option) error {
	const op = "set"
	c, w, done, err := o.start(ctx, op, key, true, opts)
	defer done()
	if err != nil {
		return err
	}
	ns := c.Namespace.Name
	if err := keyErr(op, ns, key); err != nil {
		return err
	}
	b, err := driver.EncodeValue(value, math.MaxInt)
	if err == nil {
		err = unspellable(c.Expiry)
	}
	if err != nil {
		return &storage.OpError{Op: op, Namespace: ns, Key: key, Err: err}
	}
	var resp routes.WriteResponse
	if err := o.send(ctx, op, routes.RouteSet, routes.SetRequest{Key: &key, Value: b, Options: w}, &resp); err != nil {
		return err
	}
	report(c, resp)
	return nil
}

// report stores what a write wrote where storage.Written asked for it.
func report(c driver.CallOptions, resp routes.WriteResponse) {
	if c.Written != nil {
		*c.Written = storage.WriteResult{Revision: resp.Revision, Version: resp.Version, CreateRevision: resp.CreateRevision}
	}
}

// Delete implements storage.Ops: storage://delete.
func (o ops) Delete(ctx context.Context, key string, opts ...storage.Option) error {
	const op = "delete"
	c, w, done, err := o.start(ctx, op, key, true, opts)
	defer done()
	if err != nil {
		return err
	}
	if err := keyErr(op, c.Namespace.Name, key); err != nil {
		return err
	}
	var resp routes.WriteResponse
	if err := o.send(ctx, op, routes.RouteDelete, routes.KeyRequest{Key: &key, Options: w}, &resp); err != nil {
		return err
	}
	report(c, resp)
	return nil
}

// Has implements storage.Ops: storage://has.
func (o ops) Has(ctx context.Context, key string, opts ...storage.Option) (bool, error) {
	var resp routes.HasResponse
	if err := o.keyOp(ctx, "has", routes.RouteHas, false, key, opts, &resp); err != nil {
		return false, err
	}
	return resp.Exists, nil
}

// distinct returns the distinct keys of keys in first-occurrence order.
func distinct(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// GetMany implements storage.Ops: storage://getMany. Invalid keys get their
// error here (a key that is not UTF-8 cannot travel in JSON); the others
// travel in one message.
func (o ops) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.GetManyResult, error) {
	const op = "getMany"
	res := storage.GetManyResult{Entries: map[string]storage.Entry{}, Errors: map[string]error{}}
	c, w, done, err := o.start(ctx, op, "", false, opts)
	defer done()
	if err != nil {
		return res, err
	}
	ns := c.Namespace.Name
	valid := make([]string, 0, len(keys))
	for _, k := range distinct(keys) {
		if err := keyErr(op, ns, k); err != nil {
			res.Errors[k] = err
			continue
		}
		valid = append(valid, k)
	}
	// A message holds at most routes.MaxBatchItems keys, and an answer
	// about routes.AnswerBytes; the keys it did not read are asked for
	// again, with the next ones, until none is left. With MaxBytes, each
	// message asks for what is left of it, and the keys left when it is
	// spent (or that an answer did not read) are the result's Unread.
	rest, unread := valid, []string(nil)
	budget := int64(-1)
	if w != nil && w.MaxBytes != nil {
		budget = *w.MaxBytes
	}
	for first := true; first || len(unread)+len(rest) > 0; first = false {
		if budget == 0 || (budget > 0 && !first && len(unread) > 0) {
			res.Unread = append(unread, rest...)
			break
		}
		n := min(len(rest), max(routes.MaxBatchItems-len(unread), 0))
		ask := append(append(make([]string, 0, len(unread)+n), unread...), rest[:n]...) // [] for no keys, not null
		rest = rest[n:]
		if budget > 0 {
			cw := *w
			cw.MaxBytes = &budget
			w = &cw
		}
		var resp routes.GetManyResponse
		if err := o.send(ctx, op, routes.RouteGetMany, routes.KeysRequest{Keys: &ask, Options: w}, &resp); err != nil {
			return storage.GetManyResult{Entries: map[string]storage.Entry{}, Errors: map[string]error{}}, err
		}
		for k, v := range resp.Data {
			res.Entries[k] = entryOf(k, v, resp.Meta[k])
			if budget > 0 {
				budget = max(budget-int64(len(k)+len(v)+len(resp.Meta[k].Metadata)), 0)
			}
		}
		for k, e := range resp.Errors {
			res.Errors[k] = routes.ErrorFromBody(e)
		}
		if len(resp.Unread) > 0 && len(resp.Unread) >= len(ask) {
			return storage.GetManyResult{Entries: map[string]storage.Entry{}, Errors: map[string]error{}},
				&TransportError{Route: routes.RouteGetMany, Err: errors.New("the answer read none of the keys it was asked for"), sentinel: storage.ErrUnavailable}
		}
		unread = resp.Unread
	}
	return res, nil
}

// batch merges the answer of a batch into res, whose local failures stay.
// With atomic and a local failure, nothing was sent to write (the message
// carried no keys, for the server's own checks) and the other keys get
// ErrAborted.
func (o ops) batch(ctx context.Context, op, route, ns string, res *storage.BatchResult, failed, atomic bool, req any) error {
	var resp routes.BatchResponse
	err := o.send(ctx, op, route, req, &resp)
	if err != nil && resp.Results == nil {
		res.Results = nil
		return err
	}
	for i := range res.Results {
		kr := &res.Results[i]
		if kr.Err != nil {
			continue
		}
		if atomic && failed {
			kr.Err = &storage.OpError{Op: op, Namespace: ns, Key: kr.Key, Err: storage.ErrAborted}
			continue
		}
		r, ok := resp.Results[kr.Key]
		switch {
		case !ok:
			kr.Err = &storage.OpError{Op: op, Namespace: ns, Key: kr.Key,
				Err: routes.ErrorOf(routes.CodeInternal, "storage: the server returned no result for this key")}
		case r.Error != nil:
			kr.Err = routes.ErrorFromBody(r.Error)
		case !r.Success:
			kr.Err = &storage.OpError{Op: op, Namespace: ns, Key: kr.Key,
				Err: routes.ErrorOf(routes.CodeInternal, "storage: failure without an error")}
		default:
			kr.Version, kr.Revision = r.Version, r.Revision
		}
	}
	return err
}

// SetMany implements storage.Ops: storage://setMany. Items are checked here
// as Set checks its value; the valid ones travel in one message.
func (o ops) SetMany(ctx context.Context, items []storage.Item, opts ...storage.Option) (storage.BatchResult, error) {
	const op = "setMany"
	var res storage.BatchResult
	c, w, done, err := o.start(ctx, op, "", true, opts)
	defer done()
	if err != nil {
		return res, err
	}
	ns := c.Namespace.Name
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
	send := make([]routes.EntryItem, 0, len(last))
	failed := false
	// The batch's expiry, when the wire cannot carry it, fails each item
	// that has none of its own, as the engine's does.
	batchExp := unspellable(c.Expiry)
	if batchExp != nil {
		w.ExpiryOptions = routes.ExpiryOptions{}
	}
	for i, it := range last {
		res.Results[i].Key = it.Key
		e, err := encodeItem(it)
		if err == nil && batchExp != nil && it.TTL == 0 && it.ExpiresAt.IsZero() && !it.KeepTTL {
			err = batchExp
		}
		if err != nil {
			res.Results[i].Err = &storage.OpError{Op: op, Namespace: ns, Key: it.Key, Err: err}
			failed = true
			continue
		}
		send = append(send, e)
	}
	if c.Atomic && failed {
		send = send[:0]
	}
	err = o.batch(ctx, op, routes.RouteSetMany, ns, &res, failed, c.Atomic, routes.SetManyRequest{Entries: &send, Options: w})
	return res, err
}

func encodeItem(it storage.Item) (routes.EntryItem, error) {
	if err := storage.ValidateKey(it.Key); err != nil {
		return routes.EntryItem{}, err
	}
	v, err := driver.EncodeValue(it.Value, math.MaxInt)
	if err != nil {
		return routes.EntryItem{}, err
	}
	exp, err := driver.ItemExpiry(driver.Expiry{TTL: it.TTL, At: it.ExpiresAt, Keep: it.KeepTTL}, driver.Expiry{})
	if err != nil {
		return routes.EntryItem{}, err
	}
	if err := unspellable(exp); err != nil {
		return routes.EntryItem{}, err
	}
	if it.IfRevision < 0 {
		return routes.EntryItem{}, driver.Invalidf(storage.ErrInvalidOption, "Item.IfRevision(%d): revisions start at 1", it.IfRevision)
	}
	key := it.Key
	e := routes.EntryItem{Key: &key, Value: v, ExpiryOptions: wireExpiry(exp)}
	if it.IfRevision > 0 {
		e.IfRevision = ptr(it.IfRevision)
	}
	md, err := driver.EncodeMetadata(it.Metadata, math.MaxInt)
	if err != nil {
		return routes.EntryItem{}, err
	}
	e.Metadata = md
	return e, nil
}

// DeleteMany implements storage.Ops: storage://deleteMany.
func (o ops) DeleteMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.BatchResult, error) {
	const op = "deleteMany"
	var res storage.BatchResult
	c, w, done, err := o.start(ctx, op, "", true, opts)
	defer done()
	if err != nil {
		return res, err
	}
	ns := c.Namespace.Name
	d := distinct(keys)
	res.Results = make([]storage.KeyResult, len(d))
	send := make([]string, 0, len(d))
	failed := false
	for i, k := range d {
		res.Results[i].Key = k
		if err := keyErr(op, ns, k); err != nil {
			res.Results[i].Err = err
			failed = true
			continue
		}
		send = append(send, k)
	}
	if c.Atomic && failed {
		send = send[:0]
	}
	err = o.batch(ctx, op, routes.RouteDeleteMany, ns, &res, failed, c.Atomic, routes.KeysRequest{Keys: &send, Options: w})
	return res, err
}

// GetMetadata implements storage.Ops: storage://getMetadata.
func (o ops) GetMetadata(ctx context.Context, key string, opts ...storage.Option) (storage.Metadata, error) {
	var resp routes.MetadataResponse
	if err := o.keyOp(ctx, "getMetadata", routes.RouteGetMetadata, false, key, opts, &resp); err != nil {
		return storage.Metadata{}, err
	}
	return storage.Metadata{User: resp.Metadata, Version: resp.Version, Revision: resp.Revision, CreateRevision: resp.CreateRevision,
		CreatedAt: resp.CreatedAt,
		UpdatedAt: resp.UpdatedAt, CreatedBy: resp.CreatedBy, UpdatedBy: resp.UpdatedBy, ExpiresAt: fromWireTime(resp.ExpiresAt)}, nil
}

// SetMetadata implements storage.Ops: storage://setMetadata.
func (o ops) SetMetadata(ctx context.Context, key string, md any, opts ...storage.Option) error {
	const op = "setMetadata"
	c, w, done, err := o.start(ctx, op, key, true, opts)
	defer done()
	if err != nil {
		return err
	}
	ns := c.Namespace.Name
	if err := keyErr(op, ns, key); err != nil {
		return err
	}
	b, err := driver.EncodeMetadata(md, math.MaxInt)
	if err != nil {
		return &storage.OpError{Op: op, Namespace: ns, Key: key, Err: err}
	}
	if b == nil {
		b = []byte("{}")
	}
	var resp routes.WriteResponse
	if err := o.send(ctx, op, routes.RouteSetMetadata, routes.SetMetadataRequest{Key: &key, Metadata: b, Options: w}, &resp); err != nil {
		return err
	}
	report(c, resp)
	return nil
}

// Clear implements storage.Ops: storage://clear.
func (o ops) Clear(ctx context.Context, opts ...storage.Option) error {
	return o.optionsOp(ctx, "clear", routes.RouteClear, true, opts, &routes.Envelope{})
}

// List implements storage.Ops: storage://list.
func (o ops) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	const op = "list"
	_, w, done, err := o.start(ctx, op, "", false, opts)
	defer done()
	if err != nil {
		return storage.ListResult{}, err
	}
	keys := []string{}
	cursor, err := readParts(w, func(w *routes.Options) (int, string, error) {
		var resp routes.ListResponse
		if err := o.send(ctx, op, routes.RouteList, routes.OptionsRequest{Options: w}, &resp); err != nil {
			return 0, "", err
		}
		keys = append(keys, resp.Keys...)
		return len(resp.Keys), resp.Cursor, nil
	})
	if err != nil {
		return storage.ListResult{}, err
	}
	return storage.ListResult{Keys: keys, Cursor: cursor}, nil
}

// readParts reads a list or query answer that the server may have cut
// short (routes.AnswerBytes: fewer keys or entries than asked for, and a
// cursor): it asks again, After the cursor, for what is left of the limit
// (everything, without one), until an answer has no cursor or the limit
// is reached, so that the caller gets what the store would have given.
// It returns the cursor the last answer ended with. With MaxBytes the
// first answer is the result: the server cut it at the budget.
func readParts(w *routes.Options, read func(w *routes.Options) (n int, cursor string, err error)) (string, error) {
	var po routes.Options
	if w != nil {
		po = *w
	}
	if po.MaxBytes != nil {
		_, cursor, err := read(&po)
		return cursor, err
	}
	limit := -1
	if po.Limit != nil {
		limit = *po.Limit
	}
	got := 0
	for {
		n, cursor, err := read(&po)
		if err != nil {
			return "", err
		}
		got += n
		if cursor == "" || (limit >= 0 && got >= limit) || n == 0 {
			return cursor, nil
		}
		po.After, po.Offset = &cursor, nil
		if limit >= 0 {
			po.Limit = ptr(limit - got)
		}
	}
}

// Query implements storage.Ops: storage://query. The filter is validated
// here first (Filter.Compile), as some Go values (a time.Time on a value
// path, a NaN) have no faithful JSON form.
func (o ops) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	const op = "query"
	c, w, done, err := o.start(ctx, op, "", false, opts)
	defer done()
	if err != nil {
		return storage.QueryResult{}, err
	}
	ns := c.Namespace.Name
	if _, err := f.Compile(); err != nil {
		return storage.QueryResult{}, &storage.OpError{Op: op, Namespace: ns, Err: err}
	}
	req := routes.QueryRequest{Options: w}
	if !f.IsZero() {
		b, err := json.Marshal(wireFilter(f))
		if err != nil {
			return storage.QueryResult{}, &storage.OpError{Op: op, Namespace: ns,
				Err: driver.Invalidf(storage.ErrInvalidFilter, "%v", err)}
		}
		req.Filter = b
	}
	out := storage.QueryResult{Entries: []storage.Entry{}}
	cursor, err := readParts(w, func(w *routes.Options) (int, string, error) {
		req.Options = w
		var resp routes.QueryResponse
		if err := o.send(ctx, op, routes.RouteQuery, req, &resp); err != nil {
			return 0, "", err
		}
		for _, e := range resp.Results {
			out.Entries = append(out.Entries, entryOf(e.Key, e.Value, e.Meta()))
		}
		return len(resp.Results), resp.Cursor, nil
	})
	if err != nil {
		return storage.QueryResult{}, err
	}
	out.Cursor = cursor
	return out, nil
}

// Count implements storage.Ops: storage://count.
func (o ops) Count(ctx context.Context, opts ...storage.Option) (int64, error) {
	var resp routes.CountResponse
	if err := o.optionsOp(ctx, "count", routes.RouteCount, false, opts, &resp); err != nil {
		return 0, err
	}
	return resp.Count, nil
}

// wireFilter returns f with every nil slice value of an in or nin leaf made
// an empty one: Filter.MarshalJSON writes a nil slice (In("f") with no
// values) as null, which the server would read as a null value.
func wireFilter(f storage.Filter) storage.Filter {
	switch {
	case f.And != nil:
		and := make([]storage.Filter, len(f.And))
		for i, c := range f.And {
			and[i] = wireFilter(c)
		}
		f.And = and
	case f.Or != nil:
		or := make([]storage.Filter, len(f.Or))
		for i, c := range f.Or {
			or[i] = wireFilter(c)
		}
		f.Or = or
	case f.Not != nil:
		n := wireFilter(*f.Not)
		f.Not = &n
	case f.Op == storage.OpIn || f.Op == storage.OpNin:
		if v := reflect.ValueOf(f.Value); v.Kind() == reflect.Slice && v.IsNil() {
			f.Value = []any{}
		}
	}
	return f
}
