package otlp

import (
	"net/http"
	"strconv"
	"time"
)

// Handler wraps next so that each request it serves is a server span,
// the parent of the storage operations' spans (Hook). route names the
// request's route template (http.route: "/v1/storage/get"), "" when it
// has none, and whether the request is traced at all (health probes and
// scrapes are not worth a trace). A valid W3C traceparent header makes
// the span a child of the caller's span, in the caller's trace, sampled
// as the caller decided; an invalid one, or several, are ignored.
//
// The span is named "{method} {route}" (the method alone without a
// route) and records http.request.method, http.route and
// http.response.status_code: never the URL's path or query, headers or
// bodies, which may hold keys or tokens. A status of 500 or more sets the
// span's status to Error.
func (e *Exporter) Handler(next http.Handler, route func(*http.Request) (string, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, traced := route(r)
		if !traced {
			next.ServeHTTP(w, r)
			return
		}
		var remote SpanContext
		if tp := r.Header.Values("Traceparent"); len(tp) == 1 {
			remote, _ = ParseTraceparent(tp[0])
		}
		method := knownMethod(r.Method)
		name := method
		if method == "_OTHER" {
			name = "HTTP"
		}
		attrs := []Attr{String("http.request.method", method)}
		if rt != "" {
			name += " " + rt
			attrs = append(attrs, String("http.route", rt))
		}
		ctx, span := e.Start(r.Context(), remote, name, KindServer, time.Now(), attrs...)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			span.SetAttributes(Int("http.response.status_code", int64(sw.status)))
			if sw.status >= 500 {
				span.SetStatus(StatusError, strconv.Itoa(sw.status))
			}
			span.End(time.Now())
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// knownMethod is the method, or "_OTHER" for a method HTTP does not define
// (so that a client cannot make span names at will).
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// statusWriter records the response's status. Unwrap lets
// http.ResponseController reach the connection's Flush and deadlines.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
