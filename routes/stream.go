package routes

import (
	"context"
	"errors"
	"fmt"
)

// ErrLineTooLarge is wrapped by the error of a Streamer whose stream sent
// a line larger than the receiver takes (httpapi.Transport's response
// limit). Unlike a broken connection it does not heal: a stream opened
// again from the same revision meets the same line, so client.Store.Watch
// ends with this error (ErrUnavailable, as a response too large for a
// call) instead of resuming.
var ErrLineTooLarge = errors.New("a stream line is larger than the receiver's limit")

// StreamHandler handles a streaming route (storage://watch). body is the
// request's JSON body. A request refused before the stream starts gets its
// error envelope as the result, and emit is never called; otherwise the
// handler sends the stream's lines with emit, one JSON object per call,
// and returns nil. An error of emit (the receiver is gone) ends the
// stream.
type StreamHandler func(ctx context.Context, body []byte, emit func(line []byte) error) []byte

// StreamRouter is a Router that also takes streaming routes; Register
// registers storage://watch on it (a plain Router does without).
type StreamRouter interface {
	Router
	HandleStream(route string, h StreamHandler)
}

// Streamer runs streaming routes: *Mux is one, and so is a transport that
// carries streams (httpapi.Transport).
type Streamer interface {
	// IsStream reports whether route is a streaming route.
	IsStream(route string) bool
	// Stream runs route: the envelope of a refusal, with no line sent, or
	// nil after sending the lines with emit. The error return is the
	// transport's.
	Stream(ctx context.Context, route string, body []byte, emit func(line []byte) error) ([]byte, error)
}

var (
	_ StreamRouter = (*Mux)(nil)
	_ Streamer     = (*Mux)(nil)
)

// HandleStream registers h for the streaming route, replacing any earlier
// handler; a nil h removes it.
func (m *Mux) HandleStream(route string, h StreamHandler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h == nil {
		delete(m.streams, route)
		return
	}
	m.streams[route] = h
}

// IsStream implements Streamer.
func (m *Mux) IsStream(route string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.streams[route]
	return ok
}

// Stream implements Streamer: unknown_route for a route that is not a
// stream, internal when the handler panics (as a last line when the
// stream had started).
func (m *Mux) Stream(ctx context.Context, route string, body []byte, emit func(line []byte) error) (resp []byte, err error) {
	m.mu.RLock()
	h, ok := m.streams[route]
	m.mu.RUnlock()
	if !ok {
		return ErrorEnvelope(CodeUnknownRoute, fmt.Sprintf("storage: unknown stream route %q", route)), nil
	}
	started := false
	defer func() {
		if p := recover(); p != nil {
			e := ErrorEnvelope(CodeInternal, fmt.Sprintf("storage: %s: internal error: %v", route, p))
			if !started {
				resp = e
				return
			}
			_ = emit(e)
		}
	}()
	return h(ctx, body, func(line []byte) error {
		started = true
		return emit(line)
	}), nil
}
