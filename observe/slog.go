package observe

import (
	"context"
	"log/slog"
)

// SlogOption configures Slog.
type SlogOption func(*slogHook)

// SlogLevels sets the level of each Severity: ok for successes and
// storage.ErrNotFound, refused for the errors a caller can act on, failed
// for store failures. The default is slog.LevelDebug, slog.LevelWarn,
// slog.LevelError.
func SlogLevels(ok, refused, failed slog.Level) SlogOption {
	return func(h *slogHook) { h.levels = [3]slog.Level{ok, refused, failed} }
}

// SlogOmitKey leaves the key out of the records, for stores whose keys are
// sensitive (user identifiers, e-mail addresses, ...).
func SlogOmitKey() SlogOption { return func(h *slogHook) { h.omitKey = true } }

type slogHook struct {
	l       *slog.Logger
	levels  [3]slog.Level // by Severity
	omitKey bool
}

// messages are the record messages by operation, built once.
var messages = func() map[string]string {
	m := make(map[string]string)
	for _, op := range Ops() {
		m[op] = "storage " + op
	}
	return m
}()

// Slog returns a hook that logs each completed operation to l (nil:
// slog.Default()) as one record with the message "storage <op>" (for
// example "storage get") at the level of its outcome's Severity (see
// SlogLevels), with the attributes:
//
//	op         the operation
//	namespace  when not ""
//	key        when not "" (unless SlogOmitKey)
//	keys       batch size, when not 0
//	tx         transaction ID, when not ""
//	rows       Event.Rows
//	duration   Event.Duration
//	error_type ErrorType(err), on error
//	error      the error, on error
//
// A record whose level l does not log costs one Enabled call and nothing
// else: no allocation.
func Slog(l *slog.Logger, opts ...SlogOption) Hook {
	if l == nil {
		l = slog.Default()
	}
	h := &slogHook{l: l, levels: [3]slog.Level{slog.LevelDebug, slog.LevelWarn, slog.LevelError}}
	for _, o := range opts {
		o(h)
	}
	return EndFunc(h.end)
}

func (h *slogHook) end(ctx context.Context, ev Event) {
	level := h.levels[SeverityOf(ev.Err)]
	if h.l.Enabled(ctx, level) {
		h.log(ctx, level, ev)
	}
}

// log writes the record of ev. It is apart from end because its attributes
// escape to the heap: a filtered record must not pay for them.
func (h *slogHook) log(ctx context.Context, level slog.Level, ev Event) {
	var buf [9]slog.Attr
	attrs := append(buf[:0], slog.String("op", ev.Op))
	if ns := ev.Namespace(); ns != "" {
		attrs = append(attrs, slog.String("namespace", ns))
	}
	if ev.Key != "" && !h.omitKey {
		attrs = append(attrs, slog.String("key", ev.Key))
	}
	if ev.Keys != 0 {
		attrs = append(attrs, slog.Int("keys", ev.Keys))
	}
	if ev.TxID != "" {
		attrs = append(attrs, slog.String("tx", ev.TxID))
	}
	attrs = append(attrs, slog.Int64("rows", ev.Rows), slog.Duration("duration", ev.Duration))
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error_type", ErrorType(ev.Err)), slog.Any("error", ev.Err))
	}
	msg, ok := messages[ev.Op]
	if !ok {
		msg = "storage " + ev.Op
	}
	h.l.LogAttrs(ctx, level, msg, attrs...)
}
