package storagedocstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/txmanager"
	"gocloud.dev/docstore/driver"
)

// RunActions implements driver.Collection. The actions of a list are on
// distinct documents, so they run in the groups driver.GroupActions makes
// (the gets that must come first, the other gets and the writes, the
// atomic writes in one transaction, then the gets that must come last),
// one at a time, and every failure is reported.
func (c *collection) RunActions(ctx context.Context, actions []*driver.Action, opts *driver.RunActionsOptions) driver.ActionListError {
	var errs driver.ActionListError
	fail := func(a *driver.Action, err error) {
		errs = append(errs, struct {
			Index int
			Err   error
		}{a.Index, err})
	}
	before := func() error {
		if opts.BeforeDo == nil {
			return nil
		}
		return opts.BeforeDo(func(any) bool { return false })
	}
	runEach := func(as []*driver.Action) {
		if len(as) == 0 {
			return
		}
		if err := before(); err != nil {
			for _, a := range as {
				fail(a, err)
			}
			return
		}
		for _, a := range as {
			done, err := c.runAction(ctx, c.store, a)
			if err != nil {
				fail(a, err)
				continue
			}
			if err := done(); err != nil {
				fail(a, err)
			}
		}
	}
	beforeGets, gets, writes, atomic, afterGets := driver.GroupActions(actions)
	runEach(beforeGets)
	runEach(append(gets, writes...))
	if len(atomic) > 0 {
		if err := before(); err != nil {
			for _, a := range atomic {
				fail(a, err)
			}
		} else {
			c.runAtomic(ctx, atomic, fail)
		}
	}
	runEach(afterGets)
	return errs
}

// runAtomic runs writes in one transaction: all of them or none. The first
// failing action's error is reported; the others of the group are not
// applied.
func (c *collection) runAtomic(ctx context.Context, as []*driver.Action, fail func(*driver.Action, error)) {
	var dones []func() error
	var failed *driver.Action
	err := txmanager.RunInTx(ctx, c.store, storage.TxOptions{}, func(tx storage.Tx) error {
		dones, failed = dones[:0], nil
		for _, a := range as {
			done, err := c.runAction(ctx, tx, a)
			if err != nil {
				failed = a
				return err
			}
			dones = append(dones, done)
		}
		return nil
	})
	if err != nil {
		if failed == nil {
			failed = as[0]
		}
		fail(failed, err)
		return
	}
	for i, done := range dones {
		if err := done(); err != nil {
			fail(as[i], err)
		}
	}
}

// runAction runs one action against ops (the store, or a transaction). It
// returns what to do once the action has taken effect (inside a
// transaction: after the commit): give the document its new revision, or
// decode what a get read.
func (c *collection) runAction(ctx context.Context, ops storage.Ops, a *driver.Action) (func() error, error) {
	switch a.Kind {
	case driver.Get:
		e, err := ops.Get(ctx, a.Key.(string), c.nsOption)
		if err != nil {
			return nil, err
		}
		return func() error { return c.decodeEntry(e, a.Doc, a.FieldPaths, false) }, nil
	case driver.Delete:
		return c.delete(ctx, ops, a)
	case driver.Update:
		return c.update(ctx, ops, a)
	default:
		return c.write(ctx, ops, a)
	}
}

// docRevision is the revision the caller's document holds, 0 for none.
func (c *collection) docRevision(doc driver.Document) (int64, error) {
	rev, _ := doc.GetField(c.revField)
	if rev == nil {
		return 0, nil
	}
	return revisionOf(rev)
}

// metadata is what the driver stores as an entry's metadata.
func (c *collection) metadata(doc driver.Document, had bool) storage.Option {
	return storage.WithMetadata(map[string]any{metaRevision: had || doc.HasField(c.revField)})
}

// setRevision gives the caller's document the revision of its write, when
// it has a revision field.
func (c *collection) setRevision(doc driver.Document, rev int64) error {
	if !doc.HasField(c.revField) {
		return nil
	}
	return doc.SetField(c.revField, rev)
}

// write runs Create, Replace and Put.
func (c *collection) write(ctx context.Context, ops storage.Ops, a *driver.Action) (func() error, error) {
	key, _ := a.Key.(string)
	if a.Kind == driver.Create && key == "" {
		key = driver.UniqueString()
		if err := a.Doc.SetField(c.keyField, key); err != nil {
			return nil, err
		}
	}
	rev, err := c.docRevision(a.Doc)
	if err != nil {
		return nil, err
	}
	value, err := encodeDoc(a.Doc, c.revField)
	if err != nil {
		return nil, err
	}
	var w storage.WriteResult
	opts := []storage.Option{c.nsOption, c.metadata(a.Doc, false), storage.Written(&w)}
	switch {
	case a.Kind == driver.Create:
		opts = append(opts, storage.NoOverwrite())
	case rev != 0:
		opts = append(opts, storage.IfRevision(rev))
	case a.Kind == driver.Replace:
		opts = append(opts, storage.MustExist())
	}
	if err := ops.Set(ctx, key, value, opts...); err != nil {
		return nil, err
	}
	return func() error { return c.setRevision(a.Doc, w.Revision) }, nil
}

// delete runs Delete: a missing document is no error, unless the caller
// gave a revision (then it is FailedPrecondition, as for another revision).
func (c *collection) delete(ctx context.Context, ops storage.Ops, a *driver.Action) (func() error, error) {
	rev, err := c.docRevision(a.Doc)
	if err != nil {
		return nil, err
	}
	opts := []storage.Option{c.nsOption}
	if rev != 0 {
		opts = append(opts, storage.IfRevision(rev))
	}
	err = ops.Delete(ctx, a.Key.(string), opts...)
	switch {
	case errors.Is(err, storage.ErrNotFound) && rev == 0:
		err = nil
	case errors.Is(err, storage.ErrNotFound):
		err = fmt.Errorf("storagedocstore: delete of %q at revision %d: the document does not exist: %w", a.Key, rev, storage.ErrConflict)
	}
	if err != nil {
		return nil, err
	}
	return func() error { return nil }, nil
}

// update applies the mods atomically: it reads the entry, applies them,
// and writes the result with IfRevision of what it read, reading again
// when another writer got in between (unless the caller gave a revision:
// then that revision must be current).
func (c *collection) update(ctx context.Context, ops storage.Ops, a *driver.Action) (func() error, error) {
	key := a.Key.(string)
	rev, err := c.docRevision(a.Doc)
	if err != nil {
		return nil, err
	}
	for {
		e, err := ops.Get(ctx, key, c.nsOption)
		if err != nil {
			return nil, err
		}
		if rev != 0 && e.Revision != rev {
			return nil, fmt.Errorf("storagedocstore: update of %q at revision %d: the document is at revision %d: %w", key, rev, e.Revision, storage.ErrConflict)
		}
		tree, err := decodeJSON(e.Value)
		if err != nil {
			return nil, err
		}
		m, ok := tree.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("storagedocstore: %q holds a %T, not a document: %w", key, tree, storage.ErrInvalidValue)
		}
		for _, mod := range a.Mods {
			if err := c.applyMod(m, mod); err != nil {
				return nil, err
			}
		}
		var w storage.WriteResult
		err = ops.Set(ctx, key, m, c.nsOption, c.metadata(a.Doc, hadRevision(e)),
			storage.IfRevision(e.Revision), storage.Written(&w))
		if errors.Is(err, storage.ErrConflict) && rev == 0 {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue // another writer changed it since the read: again
		}
		if err != nil {
			return nil, err
		}
		return func() error { return c.setRevision(a.Doc, w.Revision) }, nil
	}
}

func hadRevision(e storage.Entry) bool {
	var md map[string]any
	if json.Unmarshal(e.Metadata, &md) != nil {
		return false
	}
	b, _ := md[metaRevision].(bool)
	return b
}

// applyMod applies one mod to a stored document: set (creating the
// objects on the path), delete (a nil value), or increment.
func (c *collection) applyMod(doc map[string]any, mod driver.Mod) error {
	if len(mod.FieldPath) == 1 && mod.FieldPath[0] == c.revField {
		return fmt.Errorf("storagedocstore: an update cannot change the revision field %q: %w", c.revField, storage.ErrInvalidValue)
	}
	if c.keyField != "" && len(mod.FieldPath) == 1 && mod.FieldPath[0] == c.keyField {
		return fmt.Errorf("storagedocstore: an update cannot change the key field %q: %w", c.keyField, storage.ErrInvalidValue)
	}
	fp := escapePath(mod.FieldPath)
	parent := doc
	for i, seg := range fp[:len(fp)-1] {
		next, ok := parent[seg]
		if !ok || next == nil {
			if mod.Value == nil {
				return nil // deleting below a missing field: nothing to do
			}
			m := map[string]any{}
			parent[seg] = m
			parent = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("storagedocstore: update of %v: %v is not an object: %w", mod.FieldPath, mod.FieldPath[:i+1], storage.ErrInvalidValue)
		}
		parent = m
	}
	last := fp[len(fp)-1]
	switch v := mod.Value.(type) {
	case nil:
		delete(parent, last)
		return nil
	case driver.IncOp:
		sum, err := increment(parent[last], v.Amount)
		if err != nil {
			return fmt.Errorf("storagedocstore: increment of %v: %w", mod.FieldPath, err)
		}
		parent[last] = sum
		return nil
	}
	enc, err := encodeValue(mod.Value)
	if err != nil {
		return err
	}
	parent[last] = enc
	return nil
}

// increment adds amount (a Go number) to cur (a stored number, or nothing):
// integers stay integers unless the sum overflows, else floats.
func increment(cur, amount any) (any, error) {
	ai, af, aIsInt, err := goNumber(amount)
	if err != nil {
		return nil, err
	}
	var ci int64
	var cf float64
	cIsInt := true
	switch v := cur.(type) {
	case nil:
	case json.Number:
		if i, err := v.Int64(); err == nil {
			ci, cf = i, float64(i)
		} else if f, err := v.Float64(); err == nil {
			cf, cIsInt = f, false
		} else {
			return nil, fmt.Errorf("%s is not a number: %w", v, storage.ErrInvalidValue)
		}
	default:
		return nil, fmt.Errorf("the field holds %v, not a number: %w", cur, storage.ErrInvalidValue)
	}
	if aIsInt && cIsInt {
		s := ci + ai
		if (ai > 0 && s < ci) || (ai < 0 && s > ci) {
			return float64(ci) + float64(ai), nil
		}
		return s, nil
	}
	return cf + af, nil
}

func goNumber(x any) (int64, float64, bool, error) {
	v := reflect.ValueOf(x)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), float64(v.Int()), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() <= math.MaxInt64 {
			return int64(v.Uint()), float64(v.Uint()), true, nil
		}
		return 0, float64(v.Uint()), false, nil
	case reflect.Float32, reflect.Float64:
		return 0, v.Float(), false, nil
	}
	return 0, 0, false, fmt.Errorf("amount %v (%T) is not a number: %w", x, x, storage.ErrInvalidValue)
}
