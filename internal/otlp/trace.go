package otlp

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"
)

// TraceID and SpanID are the W3C Trace Context identifiers; the zero
// value of either is invalid.
type (
	TraceID [16]byte
	SpanID  [8]byte
)

// SpanContext identifies a span and says whether its trace is sampled.
type SpanContext struct {
	TraceID TraceID
	SpanID  SpanID
	Sampled bool
}

// Valid reports whether both identifiers are set.
func (sc SpanContext) Valid() bool { return sc.TraceID != TraceID{} && sc.SpanID != SpanID{} }

// Traceparent formats sc as a W3C traceparent header value (version 00).
func (sc SpanContext) Traceparent() string {
	flags := "00"
	if sc.Sampled {
		flags = "01"
	}
	return "00-" + hex.EncodeToString(sc.TraceID[:]) + "-" + hex.EncodeToString(sc.SpanID[:]) + "-" + flags
}

// ParseTraceparent parses a W3C traceparent header value
// (https://www.w3.org/TR/trace-context/#traceparent-header). It reports
// false for anything the recommendation says to ignore: a wrong length or
// separator, uppercase or non-hex digits, version ff, an all-zero trace or
// parent id, or a version 00 value with trailing data. A later version is
// parsed by its version 00 prefix, as the recommendation asks.
func ParseTraceparent(s string) (SpanContext, bool) {
	const size = 55 // 2 + 1 + 32 + 1 + 16 + 1 + 2
	var sc SpanContext
	if len(s) < size || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return sc, false
	}
	var ver, flags [1]byte
	if !lowerHex(ver[:], s[0:2]) || ver[0] == 0xff ||
		!lowerHex(sc.TraceID[:], s[3:35]) || !lowerHex(sc.SpanID[:], s[36:52]) || !lowerHex(flags[:], s[53:55]) {
		return sc, false
	}
	if len(s) > size && (ver[0] == 0 || s[size] != '-') {
		return sc, false
	}
	if !sc.Valid() {
		return sc, false
	}
	sc.Sampled = flags[0]&1 == 1
	return sc, true
}

// lowerHex decodes src, lowercase hex only, into dst.
func lowerHex(dst []byte, src string) bool {
	for i := 0; i < len(src); i++ {
		if c := src[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, []byte(src))
	return err == nil
}

// SpanKind is the OTLP span kind.
type SpanKind int

// The span kinds used here (OTLP's enum values).
const (
	KindInternal SpanKind = 1
	KindServer   SpanKind = 2
	KindClient   SpanKind = 3
)

// StatusCode is the OTLP status code.
type StatusCode int

// The status codes (OTLP's enum values).
const (
	StatusUnset StatusCode = 0
	StatusOK    StatusCode = 1
	StatusError StatusCode = 2
)

// Attr is a span attribute: a string, int64, float64 or bool value.
type Attr struct {
	Key   string
	Value any
}

// String, Int and Bool make attributes.
func String(k, v string) Attr { return Attr{k, v} }

// Int makes an integer attribute.
func Int(k string, v int64) Attr { return Attr{k, v} }

// Bool makes a boolean attribute.
func Bool(k string, v bool) Attr { return Attr{k, v} }

// Span is one span being recorded. Its methods are safe for concurrent use
// and do nothing on a span that is not sampled; End sends it to the
// exporter once, later calls do nothing.
type Span struct {
	exp    *Exporter
	sc     SpanContext
	parent SpanID

	mu     sync.Mutex // protects the fields below
	data   spanData
	ended  bool
	unsent bool // sampled, not ended yet
}

// spanData is what the exporter sends of a span.
type spanData struct {
	traceID TraceID
	spanID  SpanID
	parent  SpanID
	name    string
	kind    SpanKind
	start   time.Time
	end     time.Time
	attrs   []Attr
	status  StatusCode
	message string
}

// Context returns the span's identity.
func (s *Span) Context() SpanContext { return s.sc }

// SetAttributes adds attributes to the span.
func (s *Span) SetAttributes(attrs ...Attr) {
	if s == nil || !s.sc.Sampled {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.data.attrs = append(s.data.attrs, attrs...)
	}
}

// SetStatus sets the span's status.
func (s *Span) SetStatus(code StatusCode, message string) {
	if s == nil || !s.sc.Sampled {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.data.status, s.data.message = code, message
	}
}

// End ends the span at t and queues it for export.
func (s *Span) End(t time.Time) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	send := s.unsent
	s.data.end = t
	d := s.data
	s.mu.Unlock()
	if send {
		s.exp.enqueue(d)
	}
}

type spanCtxKey struct{}

// SpanFromContext returns the span ctx carries, or nil.
func SpanFromContext(ctx context.Context) *Span {
	s, _ := ctx.Value(spanCtxKey{}).(*Span)
	return s
}

// ContextWithSpan returns ctx carrying s.
func ContextWithSpan(ctx context.Context, s *Span) context.Context {
	return context.WithValue(ctx, spanCtxKey{}, s)
}

// Start begins a span named name at start: a child of the span ctx carries,
// else of remote when it is valid (a caller's traceparent), else the root
// of a new trace, sampled by the exporter's ratio. A child shares its
// parent's sampling decision. The returned context carries the span.
func (e *Exporter) Start(ctx context.Context, remote SpanContext, name string, kind SpanKind, start time.Time, attrs ...Attr) (context.Context, *Span) {
	s := &Span{exp: e}
	switch p := SpanFromContext(ctx); {
	case p != nil:
		s.sc.TraceID, s.parent, s.sc.Sampled = p.sc.TraceID, p.sc.SpanID, p.sc.Sampled
	case remote.Valid():
		s.sc.TraceID, s.parent, s.sc.Sampled = remote.TraceID, remote.SpanID, remote.Sampled
	default:
		s.sc.TraceID = newTraceID()
		s.sc.Sampled = e.sample(s.sc.TraceID)
	}
	s.sc.SpanID = newSpanID()
	if s.sc.Sampled {
		s.unsent = true
		s.data = spanData{traceID: s.sc.TraceID, spanID: s.sc.SpanID, parent: s.parent,
			name: name, kind: kind, start: start, attrs: attrs}
	}
	return ContextWithSpan(ctx, s), s
}

// sample decides a new trace's sampling from its id, as OpenTelemetry's
// TraceIDRatioBased sampler does: the trace id's last 8 bytes, read as a
// number, below the ratio's share of 2^63.
func (e *Exporter) sample(id TraceID) bool {
	switch {
	case e.ratio >= 1:
		return true
	case e.ratio <= 0:
		return false
	}
	return binary.BigEndian.Uint64(id[8:])>>1 < uint64(e.ratio*(1<<63))
}

func newTraceID() TraceID {
	var id TraceID
	for id == (TraceID{}) {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64())
		binary.BigEndian.PutUint64(id[8:], rand.Uint64())
	}
	return id
}

func newSpanID() SpanID {
	var id SpanID
	for id == (SpanID{}) {
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}
