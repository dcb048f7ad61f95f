package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/routes"
)

// StreamTransport is a Transport that also carries streaming routes
// (storage://watch): routes.Mux and httpapi.Transport are ones. Without it
// Watch yields ErrUnsupported.
type StreamTransport interface {
	Transport
	Stream(ctx context.Context, route string, body []byte, emit func(line []byte) error) ([]byte, error)
}

var (
	_ storage.Watcher   = (*Store)(nil)
	_ storage.Historian = (*Store)(nil)
	_ StreamTransport   = (*routes.Mux)(nil)
)

// WatchRetryFor is how long Watch keeps trying to reach the server again
// after its stream broke (the connection failed, the server restarted or
// is shutting down) before it yields the failure.
var WatchRetryFor = 30 * time.Second

// Watch implements storage.Watcher over storage://watch. The stream
// survives the server: when the connection breaks, or the server answers
// unavailable or closed while it restarts, Watch opens a new stream from
// the last revision it delivered (with growing pauses, for up to
// WatchRetryFor without a successful reconnection), so the consumer sees
// every change once and in order. An event larger than the transport
// takes (httpapi.WithMaxResponseBytes) would break every resumed stream
// again: the watch ends with ErrUnavailable (wrapping
// routes.ErrLineTooLarge) instead. Each event is checked to come after
// the last; a server that sent one out of order ends the watch with an
// internal error. A watch whose first stream the server refuses because
// the principal holds as many streams open as it may
// (httpapi.Config.MaxStreamsPerPrincipal) fails at once with
// routes.ErrTooManyStreams (which also satisfies errors.Is
// storage.ErrUnavailable); a resumed stream refused so is retried as
// above, the server perhaps still counting the stream that broke.
// OnStart is called once, when the first stream starts.
// Close ends a running watch with ErrClosed.
//
// A watch without FromRevision delivers the changes after the revision
// the server had when its first stream started (the revision OnStart
// reports), and resumes from there: its start is known once that stream
// sends its head. A first stream that fails before its head (the server
// unreachable, restarting, refusing the stream) ends the watch with that
// failure at once, without retrying: a stream opened later would start
// later, and the changes committed meanwhile, after the call, would be
// missed without a word. The caller retries the call, or watches
// FromRevision of a revision it holds (a watch with FromRevision retries
// from the start as from any break).
func (s *Store) Watch(ctx context.Context, opts ...storage.Option) iter.Seq2[storage.Event, error] {
	return func(yield func(storage.Event, error) bool) {
		const op = "watch"
		c, w, done, err := ops{s: s}.start(ctx, op, "", false, opts)
		done()
		if err != nil {
			yield(storage.Event{}, err)
			return
		}
		// Close ends the watch (with ErrClosed).
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-s.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		st, ok := s.t.(StreamTransport)
		if !ok {
			yield(storage.Event{}, &storage.OpError{Op: op, Err: storage.ErrUnsupported})
			return
		}
		if w == nil {
			w = &routes.Options{}
		}
		last := int64(-1) // unknown until the first stream's head
		if c.Set&driver.KindRevision != 0 && c.RevisionFrom {
			// Not AtRevision, which the server refuses (ErrInvalidOption).
			last = c.Revision
		}
		pause := 20 * time.Millisecond
		var failingSince time.Time
		began := false // a stream has started: OnStart was called
		for {
			if err := s.usable(op); err != nil {
				yield(storage.Event{}, err)
				return
			}
			if last >= 0 {
				w.FromRevision = ptr(last)
			}
			body, err := routes.Marshal(routes.OptionsRequest{Options: w})
			if err != nil {
				yield(storage.Event{}, &TransportError{Route: routes.RouteWatch, Err: err, sentinel: storage.ErrInvalidValue})
				return
			}
			var final error // the stream's last word, when it had one
			stopped := false
			got := false // a head or an event arrived
			resp, terr := st.Stream(ctx, routes.RouteWatch, body, func(line []byte) error {
				ev, head, lerr := parseLine(line)
				switch {
				case lerr != nil:
					final = lerr
				case head != nil:
					got = true
					// The head names the revision the stream delivers
					// the changes after: a resume goes on from there. For
					// FromRevision(0) (last 0) that is the revision before
					// the oldest retained change, so that a resume after
					// a compaction is ErrCompacted, not every change
					// retained then, with those compacted in between
					// skipped.
					if last <= 0 {
						last = *head
					}
					if c.OnStart != nil && !began {
						c.OnStart(*head)
					}
					began = true
					return nil
				case ev.Revision <= last:
					final = routes.ErrorOf(routes.CodeInternal, fmt.Sprintf("storage: client: watch: revision %d after %d", ev.Revision, last))
				default:
					got = true
					last = ev.Revision
					if !yield(ev, nil) {
						stopped = true
						return errStopped
					}
					return nil
				}
				return errStopped
			})
			if stopped {
				return
			}
			if ctx.Err() != nil {
				if err := s.usable(op); err != nil && !stopped {
					yield(storage.Event{}, err)
				}
				return
			}
			if got {
				failingSince, pause = time.Time{}, 20*time.Millisecond
			}
			if resp != nil {
				final = decodeEnvelopeError(resp)
			}
			if final == nil && terr != nil {
				final = transportError(ctx, routes.RouteWatch, terr)
			}
			if final == nil {
				// The stream ended without a word (the server drained
				// it): resume.
				final = transportError(ctx, routes.RouteWatch, errors.New("the stream ended"))
			}
			if !retryable(final, began) || last < 0 {
				// last < 0: a watch from now whose first stream failed
				// before its head. Its start is the server's revision
				// when a stream starts, unknown until then: a stream
				// opened later would start later, and the changes
				// committed between the call and then would be lost
				// without a word. The watch never started (OnStart was
				// not called): the caller sees the failure, and calls
				// again (from now, or from a revision it holds).
				yield(storage.Event{}, final)
				return
			}
			if failingSince.IsZero() {
				failingSince = time.Now()
			} else if time.Since(failingSince) > WatchRetryFor {
				yield(storage.Event{}, final)
				return
			}
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				if err := s.usable(op); err != nil {
					yield(storage.Event{}, err)
				}
				return
			case <-t.C:
			}
			pause = min(2*pause, time.Second)
		}
	}
}

var errStopped = errors.New("client: the watch stopped")

// retryable reports whether a watch that ended with err resumes: the
// transport failed (but not with an event larger than it takes), or the
// server is restarting. A stream refused because its principal holds
// as many open as the server allows (too_many_streams) resumes only when
// began, a stream of this watch having run: the server may still count
// the one that just broke, until it sees it end. Refused before any
// stream of it ran, the watch fails at once: retrying would be refused
// again until one of the principal's other streams ends.
func retryable(err error, began bool) bool {
	if errors.Is(err, routes.ErrLineTooLarge) {
		// The same event would break the resumed stream again.
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	switch routes.CodeOf(err) {
	case routes.CodeUnavailable, routes.CodeClosed:
		return true
	case routes.CodeTooManyStreams:
		return began
	}
	return false
}

// parseLine decodes one line of the watch stream: an event, the head's
// revision, or the error of an error envelope.
func parseLine(line []byte) (storage.Event, *int64, error) {
	var probe struct {
		Type    *string `json:"type"`
		Success *bool   `json:"success"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return storage.Event{}, nil, &TransportError{Route: routes.RouteWatch, Err: fmt.Errorf("malformed stream line: %w", err), sentinel: storage.ErrUnavailable}
	}
	switch {
	case probe.Type != nil:
		var ev routes.Event
		d := json.NewDecoder(bytes.NewReader(line))
		if err := d.Decode(&ev); err != nil {
			return storage.Event{}, nil, &TransportError{Route: routes.RouteWatch, Err: fmt.Errorf("malformed event: %w", err), sentinel: storage.ErrUnavailable}
		}
		return routes.StorageEvent(ev), nil, nil
	case probe.Success != nil && *probe.Success:
		var h routes.StreamHead
		if err := json.Unmarshal(line, &h); err != nil {
			return storage.Event{}, nil, &TransportError{Route: routes.RouteWatch, Err: fmt.Errorf("malformed stream head: %w", err), sentinel: storage.ErrUnavailable}
		}
		return storage.Event{}, &h.Revision, nil
	}
	return storage.Event{}, nil, decodeEnvelopeError(line)
}

// decodeEnvelopeError returns the error an envelope carries (an internal
// error for a success where an error was due).
func decodeEnvelopeError(b []byte) error {
	var e routes.Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return &TransportError{Route: routes.RouteWatch, Err: fmt.Errorf("malformed response: %w", err), sentinel: storage.ErrUnavailable}
	}
	if e.Error == nil {
		return routes.ErrorOf(routes.CodeInternal, "storage: client: watch: a success where an error was due")
	}
	return routes.ErrorFromBody(e.Error)
}

// History implements storage.Historian: storage://history.
func (o ops) History(ctx context.Context, key string, opts ...storage.Option) ([]storage.Event, error) {
	var resp routes.HistoryResponse
	if err := o.keyOp(ctx, "history", routes.RouteHistory, false, key, opts, &resp); err != nil {
		return nil, err
	}
	out := make([]storage.Event, len(resp.Events))
	for i, ev := range resp.Events {
		out[i] = routes.StorageEvent(ev)
	}
	return out, nil
}
