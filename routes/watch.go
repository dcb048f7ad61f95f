package routes

import (
	"context"
	"fmt"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// EventOf is the wire form of ev (the watch stream's and history's event).
func EventOf(ev storage.Event) Event {
	return Event{Type: string(ev.Type), Namespace: ev.Namespace, Key: ev.Key, Value: ev.Value, Metadata: ev.Metadata,
		Revision: ev.Revision, PrevRevision: ev.PrevRevision, Version: ev.Version, At: ev.At,
		CreatedAt: optTime(ev.CreatedAt), ExpiresAt: optTime(ev.ExpiresAt)}
}

// StorageEvent is the storage form of a wire event.
func StorageEvent(ev Event) storage.Event {
	return storage.Event{Type: storage.EventType(ev.Type), Namespace: ev.Namespace, Key: ev.Key, Value: ev.Value,
		Metadata: ev.Metadata, Revision: ev.Revision, PrevRevision: ev.PrevRevision, Version: ev.Version, At: ev.At.UTC(),
		CreatedAt: fromOptTime(ev.CreatedAt), ExpiresAt: fromOptTime(ev.ExpiresAt)}
}

// watch serves storage://watch: a first line {"success":true,"revision":R}
// once the watch has started (it delivers the changes after R), then one
// line per event, and, when the watch ends with an error, a last line with
// its error envelope. A watch that fails before it starts (an invalid
// option, a denial, compacted) is an ordinary error answer.
func (h handlers) watch(ctx context.Context, body []byte, emit func([]byte) error) []byte {
	req := new(OptionsRequest)
	if err := decodeRequest(body, req); err != nil {
		return errorEnvelope(err)
	}
	w, ok := h.s.(storage.Watcher)
	if !ok {
		return errorEnvelope(&storage.OpError{Op: "watch", Err: storage.ErrUnsupported})
	}
	if req.Options != nil && req.Options.TransactionID != nil {
		return errorEnvelope(&storage.OpError{Op: "watch", Err: driver.Invalidf(storage.ErrInvalidOption, "watch does not run in a transaction")})
	}
	if err := checkFlags(RouteWatch, req.Options); err != nil {
		return errorEnvelope(err)
	}
	opts, err := req.Options.toStorage()
	if err != nil {
		return errorEnvelope(err)
	}
	// The receiver's leaving (emit fails) ends the watch at once, the
	// head's included: the loop below sees it only at the next event,
	// which a quiet store may not have for hours.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	started, gone := false, false
	line := func(v any) {
		b, err := Marshal(v)
		if err != nil {
			b = errorEnvelope(fmt.Errorf("%w: cannot encode: %s", ErrInternal, err.Error()))
		}
		if emit(b) != nil {
			gone = true
			stop()
		}
	}
	opts = append(opts, storage.OnStart(func(r int64) {
		started = true
		line(&StreamHead{Envelope: Envelope{Success: true}, Revision: r})
	}))
	for ev, err := range w.Watch(wctx, opts...) {
		if err != nil {
			if !started {
				return errorEnvelope(err)
			}
			if ctx.Err() == nil && !gone {
				_ = emit(errorEnvelope(err))
			}
			return nil
		}
		if line(EventOf(ev)); gone {
			return nil
		}
	}
	if !started {
		// The watch ended before it started: its context ended.
		err := ctx.Err()
		if err == nil {
			err = fmt.Errorf("%w: the watch ended before it started", ErrInternal)
		}
		return errorEnvelope(err)
	}
	return nil
}

// history serves storage://history.
func (h handlers) history(ctx context.Context, req *KeyRequest) (*HistoryResponse, error) {
	key, o, opts, err := h.keyed(req)
	if err != nil {
		return nil, err
	}
	hs, ok := o.(storage.Historian)
	if !ok {
		return nil, &storage.OpError{Op: "history", Key: key, Err: storage.ErrUnsupported}
	}
	evs, err := hs.History(ctx, key, opts...)
	if err != nil {
		return nil, err
	}
	out := &HistoryResponse{Events: make([]Event, len(evs))}
	for i, ev := range evs {
		out.Events[i] = EventOf(ev)
	}
	return out, nil
}

// fromOptTime is optTime's inverse: the zero time for nil, else UTC.
func fromOptTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
