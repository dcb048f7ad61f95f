package observe

import (
	"context"
	"iter"

	"github.com/mycelia-kernel/storage"
)

var (
	_ storage.Watcher   = (*Store)(nil)
	_ storage.Historian = (*Store)(nil)
)

// Watch implements storage.Watcher (ErrUnsupported when the inner store
// cannot watch). The whole watch is one observed operation: it starts
// with the call and ends with the iteration; Rows is the number of events
// delivered, and Err the error that ended it (nil when its context ended
// or the loop broke). Namespace: the InNamespace option, else "" (every
// namespace).
func (s *Store) Watch(ctx context.Context, opts ...storage.Option) iter.Seq2[storage.Event, error] {
	return func(yield func(storage.Event, error) bool) {
		c := s.start(ctx, OpWatch, "", opts, "", 0)
		var n int64
		var err error
		defer func() { s.end(&c, n, err) }()
		w, ok := s.inner.(storage.Watcher)
		if !ok {
			err = &storage.OpError{Op: OpWatch, Err: storage.ErrUnsupported}
			yield(storage.Event{}, err)
			return
		}
		for ev, werr := range w.Watch(c.ctx, opts...) {
			if werr != nil {
				err = werr
				yield(ev, werr)
				return
			}
			n++
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// History implements storage.Historian (ErrUnsupported when the inner
// store has no history). Rows: the changes returned.
func (s *Store) History(ctx context.Context, key string, opts ...storage.Option) ([]storage.Event, error) {
	c := s.start(ctx, OpHistory, storage.DefaultNamespace, opts, key, 0)
	h, ok := s.inner.(storage.Historian)
	if !ok {
		err := &storage.OpError{Op: OpHistory, Key: key, Err: storage.ErrUnsupported}
		s.end(&c, 0, err)
		return nil, err
	}
	evs, err := h.History(c.ctx, key, opts...)
	s.end(&c, int64(len(evs)), err)
	return evs, err
}
