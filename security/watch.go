package security

import (
	"context"
	"errors"
	"iter"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

var (
	_ storage.Watcher   = (*Store)(nil)
	_ storage.Historian = (*Store)(nil)
)

// Watch implements storage.Watcher: the caller sees only the events it
// may read, under the rules of Get and List. With InNamespace it needs
// read on that namespace (else ErrPermissionDenied, before anything is
// watched); without, it sees the events of the namespaces it may read.
// A key-level event is shown when the caller may read its key (other
// principals' data keys are hidden as List hides them); a namespace-level
// event (clear, namespace create and delete) when it may read the
// namespace. The caller's grants are read again for every event, so a
// change of the policy reaches a running watch at its next event. Without
// InNamespace the inner store is told the namespaces the caller may read
// (driver.WatchScopeOption, asked again at each of the store's reads, and
// by sqlstore at each scan of its log while the watch sleeps), so that it
// need not read, nor be woken by, the other tenants' changes: a namespace
// granted while the watch runs shows its changes committed after the
// grant. A
// storage.LaggedError names the last revision this caller was shown.
// ErrUnsupported when the inner store cannot watch.
func (s *Store) Watch(ctx context.Context, opts ...storage.Option) iter.Seq2[storage.Event, error] {
	return func(yield func(storage.Event, error) bool) {
		const op = "watch"
		sub, ctx, err := s.subject(ctx, op)
		if err != nil {
			yield(storage.Event{}, err)
			return
		}
		co, err := resolve(op, "", opts)
		if err != nil {
			yield(storage.Event{}, err)
			return
		}
		if co.Set&driver.KindNamespace != 0 && !sub.namespace(co.Namespace).Has(Read) {
			yield(storage.Event{}, denied(op, co.Namespace.Name, ""))
			return
		}
		w, ok := s.inner.(storage.Watcher)
		if !ok {
			yield(storage.Event{}, opErr(op, "", "", storage.ErrUnsupported))
			return
		}
		// last is what a lagging caller resumes from: the revision the
		// store's watch starts after (told by OnStart: for FromRevision(0)
		// the revision before the oldest retained change, not 0, which
		// after a compaction would skip the changes compacted in between
		// instead of failing with ErrCompacted), then the last event shown.
		last := int64(-1)
		onStart := co.OnStart
		opts = append(without(opts, driver.KindOnStart), storage.OnStart(func(r int64) {
			last = r
			if onStart != nil {
				onStart(r)
			}
		}))
		// The store reads only the changes of the namespaces the caller
		// may read (as of each of its reads of the log), not every
		// tenant's for this layer to drop.
		opts = without(opts, driver.KindWatchScope)
		if co.Set&driver.KindNamespace == 0 {
			pk := sub.pk
			opts = append(opts, driver.WatchScopeOption(func() ([]storage.KeyRange, bool) {
				return subject{pk: pk, g: s.policy.view(pk)}.readableNamespaces()
			}))
		}
		for ev, err := range w.Watch(ctx, opts...) {
			if err != nil {
				var le *storage.LaggedError
				if errors.As(err, &le) && last >= 0 {
					err = opErr(op, co.Namespace.Name, "", &storage.LaggedError{Last: last})
				}
				yield(ev, err)
				return
			}
			sub.g = s.policy.view(sub.pk)
			if !s.visible(sub, ev) {
				continue
			}
			last = ev.Revision
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// visible reports whether sub may see ev.
func (s *Store) visible(sub subject, ev storage.Event) bool {
	ns, err := storage.ParseNamespace(ev.Namespace)
	if err != nil {
		return false // no store holds such a namespace
	}
	if ev.Key == "" {
		return sub.namespace(ns).Has(Read)
	}
	return guard{sub: sub, store: s}.allowKey(ns, ev.Key, Read)
}

// History implements storage.Historian: it needs read on the key, as Get
// does. ErrUnsupported when the inner store has no history.
func (s *Store) History(ctx context.Context, key string, opts ...storage.Option) ([]storage.Event, error) {
	const op = "history"
	g, ctx, err := s.guard(ctx, op)
	if err != nil {
		return nil, err
	}
	if err := g.check(op, key, Read, opts); err != nil {
		return nil, err
	}
	h, ok := s.inner.(storage.Historian)
	if !ok {
		return nil, opErr(op, "", key, storage.ErrUnsupported)
	}
	return h.History(ctx, key, opts...)
}
