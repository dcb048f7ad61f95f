package observe

import (
	"context"
	"time"

	"github.com/mycelia-kernel/storage"
)

// ops observes the data operations of a store or of a transaction: it is
// written once and embedded in both Store and Tx.
type ops struct {
	inner storage.Ops
	hook  Hook
	txID  string // the transaction's ID, "" for the store
}

// call is one operation in flight.
type call struct {
	ctx context.Context // what Hook.Start returned
	ev  Event
}

// start records the start of op and runs the hook's Start. ns is the
// namespace unless opts has an InNamespace (see Event.Namespace).
func (o *ops) start(ctx context.Context, op, ns string, opts []storage.Option, key string, keys int) call {
	ev := Event{Op: op, ns: ns, opts: opts, Key: key, Keys: keys, TxID: o.txID, Start: time.Now()}
	return call{ctx: o.hook.Start(ctx, ev), ev: ev}
}

// end completes the event and runs the hook's End.
func (o *ops) end(c *call, rows int64, err error) {
	c.ev.Duration = time.Since(c.ev.Start)
	c.ev.Rows, c.ev.Err = rows, err
	o.hook.End(c.ctx, c.ev)
}

// run observes an operation that returns only an error and touches rows
// rows when it succeeds.
func (o *ops) run(ctx context.Context, op, ns string, opts []storage.Option, key string, rows int64, fn func(context.Context) error) error {
	c := o.start(ctx, op, ns, opts, key, 0)
	err := fn(c.ctx)
	o.end(&c, okRows(rows, err), err)
	return err
}

// okRows is rows on success, 0 on failure.
func okRows(rows int64, err error) int64 {
	if err != nil {
		return 0
	}
	return rows
}

// succeeded counts the keys of a batch that succeeded.
func succeeded(r storage.BatchResult) int64 {
	var n int64
	for _, kr := range r.Results {
		if kr.Err == nil {
			n++
		}
	}
	return n
}

// Get implements storage.Ops. Rows: 1 when found, else 0.
func (o *ops) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	c := o.start(ctx, OpGet, storage.DefaultNamespace, opts, key, 0)
	e, err := o.inner.Get(c.ctx, key, opts...)
	o.end(&c, okRows(1, err), err)
	return e, err
}

// Set implements storage.Ops. Rows: 1 on success, else 0.
func (o *ops) Set(ctx context.Context, key string, value any, opts ...storage.Option) error {
	return o.run(ctx, OpSet, storage.DefaultNamespace, opts, key, 1, func(ctx context.Context) error {
		return o.inner.Set(ctx, key, value, opts...)
	})
}

// Delete implements storage.Ops. Rows: 1 on success, else 0.
func (o *ops) Delete(ctx context.Context, key string, opts ...storage.Option) error {
	return o.run(ctx, OpDelete, storage.DefaultNamespace, opts, key, 1, func(ctx context.Context) error {
		return o.inner.Delete(ctx, key, opts...)
	})
}

// Has implements storage.Ops. Rows: 1 when the key exists, else 0.
func (o *ops) Has(ctx context.Context, key string, opts ...storage.Option) (bool, error) {
	c := o.start(ctx, OpHas, storage.DefaultNamespace, opts, key, 0)
	ok, err := o.inner.Has(c.ctx, key, opts...)
	var rows int64
	if ok {
		rows = 1
	}
	o.end(&c, rows, err)
	return ok, err
}

// GetMany implements storage.Ops. Rows: the entries found.
func (o *ops) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.GetManyResult, error) {
	c := o.start(ctx, OpGetMany, storage.DefaultNamespace, opts, "", len(keys))
	res, err := o.inner.GetMany(c.ctx, keys, opts...)
	o.end(&c, int64(len(res.Entries)), err)
	return res, err
}

// SetMany implements storage.Ops. Rows: the keys written.
func (o *ops) SetMany(ctx context.Context, items []storage.Item, opts ...storage.Option) (storage.BatchResult, error) {
	c := o.start(ctx, OpSetMany, storage.DefaultNamespace, opts, "", len(items))
	res, err := o.inner.SetMany(c.ctx, items, opts...)
	o.end(&c, succeeded(res), err)
	return res, err
}

// DeleteMany implements storage.Ops. Rows: the keys deleted.
func (o *ops) DeleteMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.BatchResult, error) {
	c := o.start(ctx, OpDeleteMany, storage.DefaultNamespace, opts, "", len(keys))
	res, err := o.inner.DeleteMany(c.ctx, keys, opts...)
	o.end(&c, succeeded(res), err)
	return res, err
}

// GetMetadata implements storage.Ops. Rows: 1 when found, else 0.
func (o *ops) GetMetadata(ctx context.Context, key string, opts ...storage.Option) (storage.Metadata, error) {
	c := o.start(ctx, OpGetMetadata, storage.DefaultNamespace, opts, key, 0)
	md, err := o.inner.GetMetadata(c.ctx, key, opts...)
	o.end(&c, okRows(1, err), err)
	return md, err
}

// SetMetadata implements storage.Ops. Rows: 1 on success, else 0.
func (o *ops) SetMetadata(ctx context.Context, key string, md any, opts ...storage.Option) error {
	return o.run(ctx, OpSetMetadata, storage.DefaultNamespace, opts, key, 1, func(ctx context.Context) error {
		return o.inner.SetMetadata(ctx, key, md, opts...)
	})
}

// Clear implements storage.Ops. Rows: -1 (unknown) on success, else 0.
// Namespace: "" without InNamespace (every namespace).
func (o *ops) Clear(ctx context.Context, opts ...storage.Option) error {
	return o.run(ctx, OpClear, "", opts, "", -1, func(ctx context.Context) error {
		return o.inner.Clear(ctx, opts...)
	})
}

// List implements storage.Ops. Rows: the keys returned.
func (o *ops) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	c := o.start(ctx, OpList, storage.DefaultNamespace, opts, "", 0)
	res, err := o.inner.List(c.ctx, opts...)
	o.end(&c, int64(len(res.Keys)), err)
	return res, err
}

// Query implements storage.Ops. Rows: the entries returned.
func (o *ops) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	c := o.start(ctx, OpQuery, storage.DefaultNamespace, opts, "", 0)
	res, err := o.inner.Query(c.ctx, f, opts...)
	o.end(&c, int64(len(res.Entries)), err)
	return res, err
}

// Count implements storage.Ops. Rows: the count returned (the entries
// counted), 0 on failure.
func (o *ops) Count(ctx context.Context, opts ...storage.Option) (int64, error) {
	c := o.start(ctx, OpCount, storage.DefaultNamespace, opts, "", 0)
	n, err := o.inner.Count(c.ctx, opts...)
	o.end(&c, okRows(n, err), err)
	return n, err
}
