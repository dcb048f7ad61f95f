package routes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// Handler handles one route: body is the request's JSON body; the result is
// the response envelope (JSON).
type Handler func(ctx context.Context, body []byte) []byte

// Router is the small router interface handlers are registered onto.
type Router interface {
	Handle(route string, h Handler)
}

// Mux is a Router that dispatches by route name. It is safe for concurrent
// use; the zero value is not ready, use NewMux.
type Mux struct {
	mu       sync.RWMutex // protects handlers and streams
	handlers map[string]Handler
	streams  map[string]StreamHandler
}

var _ Router = (*Mux)(nil)

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: map[string]Handler{}, streams: map[string]StreamHandler{}} }

// Handle registers h for route, replacing any earlier handler. A nil h
// removes the route.
func (m *Mux) Handle(route string, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h == nil {
		delete(m.handlers, route)
		return
	}
	m.handlers[route] = h
}

// Call dispatches; it always returns an envelope (unknown_route for unknown
// routes, internal when a handler panics). The error return is reserved for
// transports; Mux returns nil.
func (m *Mux) Call(ctx context.Context, route string, body []byte) (resp []byte, err error) {
	m.mu.RLock()
	h, ok := m.handlers[route]
	_, stream := m.streams[route]
	m.mu.RUnlock()
	if stream {
		return ErrorEnvelope(CodeInvalidRequest, fmt.Sprintf("storage: route %q is a stream: use Stream", route)), nil
	}
	if !ok {
		return ErrorEnvelope(CodeUnknownRoute, fmt.Sprintf("storage: unknown route %q", route)), nil
	}
	defer func() {
		if p := recover(); p != nil {
			resp = ErrorEnvelope(CodeInternal, fmt.Sprintf("storage: %s: internal error: %v", route, p))
		}
	}()
	return h(ctx, body), nil
}

// Routes returns the registered routes, sorted.
func (m *Mux) Routes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.handlers)+len(m.streams))
	for r := range m.handlers {
		out = append(out, r)
	}
	for r := range m.streams {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// ErrorEnvelope returns the JSON envelope of a failure with this code and
// message (used by transports for 401/413/timeouts), the message cut at
// MaxMessageBytes.
func ErrorEnvelope(code, message string) []byte {
	b, err := Marshal(Envelope{Error: &ErrorBody{Code: code, Message: jsonx.ClipAt(message, MaxMessageBytes)}})
	if err != nil { // cannot happen: two strings
		return []byte(`{"success":false,"error":{"code":"internal","message":"storage: cannot encode an error"}}`)
	}
	return b
}

// errorEnvelope is the envelope of err.
func errorEnvelope(err error) []byte {
	b, merr := Marshal(Envelope{Error: bodyOf(err)})
	if merr != nil {
		return ErrorEnvelope(CodeInternal, "storage: cannot encode an error")
	}
	return b
}

// EnvelopeCode returns the code of a response envelope: "" when it is a
// success, internal when it is not an envelope.
func EnvelopeCode(resp []byte) string {
	var e struct {
		Success *bool `json:"success"`
		Error   *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp, &e); err != nil || e.Success == nil {
		return CodeInternal
	}
	switch {
	case e.Error != nil && e.Error.Code != "":
		return e.Error.Code
	case !*e.Success:
		return CodeInternal
	}
	return ""
}
