package routes

import (
	"context"
	"errors"
	"fmt"

	"github.com/mycelia-kernel/storage"
)

// wireEvent is the wire form of ev.
func wireEvent(ev storage.Event) Event {
	return Event{Type: string(ev.Type), Namespace: ev.Namespace, Key: ev.Key, Value: ev.Value, Metadata: ev.Metadata,
		Revision: ev.Revision, PrevRevision: ev.PrevRevision, Version: ev.Version, At: ev.At}
}

// StorageEvent is the storage form of a wire event.
func StorageEvent(ev Event) storage.Event {
	return storage.Event{Type: storage.EventType(ev.Type), Namespace: ev.Namespace, Key: ev.Key, Value: ev.Value,
		Metadata: ev.Metadata, Revision: ev.Revision, PrevRevision: ev.PrevRevision, Version: ev.Version, At: ev.At.UTC()}
}

// errStop is what emit's failure becomes: the receiver left.
var errStop = errors.New("routes: the stream's receiver left")

// watch serves storage://watch: a first line {"success":true,"revision":R}
// (the stream delivers the changes after R), then one line per event, and,
// when the watch ends with an error, a last line with its error envelope.
// A watch without fromRevision starts at the store's revision (Status).
func (h handlers) watch(ctx context.Context, body []byte, emit func([]byte) error) (out []byte) {
	req := new(OptionsRequest)
	if err := decodeRequest(body, req); err != nil {
		return errorEnvelope(err)
	}
	w, ok := h.s.(storage.Watcher)
	if !ok {
		return errorEnvelope(&storage.OpError{Op: "watch", Err: storage.ErrUnsupported})
	}
	if req.Options != nil && req.Options.TransactionID != nil {
		return errorEnvelope(&storage.OpError{Op: "watch", Err: storage.Invalidf(storage.ErrInvalidOption, "watch does not run in a transaction")})
	}
	opts, err := req.Options.toStorage()
	if err != nil {
		return errorEnvelope(err)
	}
	if _, err := storage.ResolveOptions("watch", storage.AllOptionKinds, opts); err != nil {
		return errorEnvelope(&storage.OpError{Op: "watch", Err: err})
	}
	var from int64
	if req.Options != nil && req.Options.FromRevision != nil {
		from = *req.Options.FromRevision
	} else {
		st, err := h.s.Status(ctx)
		if err != nil {
			return errorEnvelope(err)
		}
		from = st.Revision
		opts = append(opts, storage.FromRevision(from))
	}
	line := func(v any) error {
		b, err := Marshal(v)
		if err != nil {
			return fmt.Errorf("%w: cannot encode: %s", ErrInternal, err.Error())
		}
		if emit(b) != nil {
			return errStop
		}
		return nil
	}
	if err := line(&StreamHead{Envelope: Envelope{Success: true}, Revision: from}); err != nil {
		return nil
	}
	for ev, err := range w.Watch(ctx, opts...) {
		if err != nil {
			if ctx.Err() == nil {
				_ = emit(errorEnvelope(err))
			}
			return nil
		}
		if err := line(wireEvent(ev)); err != nil {
			if !errors.Is(err, errStop) {
				_ = emit(errorEnvelope(err))
			}
			return nil
		}
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
		out.Events[i] = wireEvent(ev)
	}
	return out, nil
}
