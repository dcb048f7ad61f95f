package otlp

import (
	"context"
	"time"

	"github.com/mycelia-kernel/storage/observe"
)

// Hook returns an observe.Hook that records every storage operation as a
// client span named "storage.{op}", a child of the span the operation's
// context carries (the HTTP request's, from Handler). Its attributes are
// those package observe/otelobserve records by default, under the same
// keys: db.operation.name, db.system.name (from dialect, storage's
// spelling: "sqlite" or "postgres"), storage.namespace,
// db.operation.batch.size, storage.tx.id, storage.rows and error.type.
// Keys are never recorded (they may be personal data), nor values or
// metadata. An error that is not an answer (observe.SeverityOf is not
// SeverityOK) sets the span's status to Error with the error type as its
// message: the error's text names the key, so it stays out too.
func (e *Exporter) Hook(dialect string) observe.Hook {
	system := dialect
	if dialect == "postgres" {
		system = "postgresql" // the semantic conventions' spelling
	}
	return &hook{e: e, system: system}
}

type hook struct {
	e      *Exporter
	system string
}

type hookKey struct{ h *hook }

// Start implements observe.Hook.
func (h *hook) Start(ctx context.Context, ev observe.Event) context.Context {
	attrs := make([]Attr, 0, 8)
	attrs = append(attrs, String("db.operation.name", ev.Op))
	if h.system != "" {
		attrs = append(attrs, String("db.system.name", h.system))
	}
	if ns := ev.Namespace(); ns != "" {
		attrs = append(attrs, String("storage.namespace", ns))
	}
	if ev.Keys != 0 {
		attrs = append(attrs, Int("db.operation.batch.size", int64(ev.Keys)))
	}
	if ev.TxID != "" {
		attrs = append(attrs, String("storage.tx.id", ev.TxID))
	}
	ctx, span := h.e.Start(ctx, SpanContext{}, "storage."+ev.Op, KindClient, ev.Start, attrs...)
	return context.WithValue(ctx, hookKey{h}, span)
}

// End implements observe.Hook.
func (h *hook) End(ctx context.Context, ev observe.Event) {
	span, ok := ctx.Value(hookKey{h}).(*Span)
	if !ok {
		return
	}
	span.SetAttributes(Int("storage.rows", ev.Rows))
	if ev.Op == observe.OpBegin && ev.TxID != "" {
		span.SetAttributes(String("storage.tx.id", ev.TxID))
	}
	if ev.Err != nil {
		errType := observe.ErrorType(ev.Err)
		span.SetAttributes(String("error.type", errType))
		if observe.SeverityOf(ev.Err) != observe.SeverityOK {
			span.SetStatus(StatusError, errType)
		}
	}
	end := ev.Start.Add(ev.Duration)
	if ev.Start.IsZero() {
		end = time.Now()
	}
	span.End(end)
}
