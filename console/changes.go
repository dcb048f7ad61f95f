package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mycelia-kernel/storage"
)

// tailEvent is one change as the live tail sends it: no value, only what
// changed where.
type tailEvent struct {
	Type      string    `json:"type"`
	Namespace string    `json:"namespace"`
	Key       string    `json:"key,omitempty"`
	Revision  int64     `json:"revision"`
	Version   int64     `json:"version,omitempty"`
	At        time.Time `json:"at"`
}

// changes streams the store's changes that the principal may read as
// server-sent events (the status page's live tail): one "change" event per
// change, its id the revision, so a reconnecting EventSource resumes from
// Last-Event-ID without a gap. A watch that fails sends an "error" event
// with the message (an internal error's is logged, and the event says
// only its code) and ends; so does Drain (the browser reconnects), the
// session's end (an "error" event says so), and a change the browser
// does not take within Config.Timeout. 501 when the store cannot watch;
// a tail refused before it starts (Config.MaxTailsPerPrincipal: 429,
// Config.MaxTails: 503; a malformed Last-Event-ID: 400) gets its status
// with an "error" event (refuseTail).
func (h *Handler) changes(w http.ResponseWriter, r *http.Request, ss *session) {
	wt, ok := h.cfg.Store.(storage.Watcher)
	if !ok {
		h.render(w, r, http.StatusNotImplemented, "error", ss, &view{Title: "Live changes",
			Error: "This store cannot report its changes."})
		return
	}
	opts := []storage.Option{storage.OmitValues()}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		rev, err := strconv.ParseInt(id, 10, 64)
		if err != nil || rev < 0 {
			refuseTail(w, http.StatusBadRequest, "the Last-Event-ID is not a revision")
			return
		}
		opts = append(opts, storage.FromRevision(rev))
	}
	p := ss.pkr.String()
	if !h.tails.Take(p) {
		// 429, as a watch stream beyond httpapi's bound
		// (too_many_streams): not 503, which says the server is down.
		refuseTail(w, http.StatusTooManyRequests, "you have as many live tails open as you may: close one (another tab)")
		return
	}
	defer h.tails.Release(p)
	if !h.allTails.Take("") {
		refuseTail(w, http.StatusServiceUnavailable, "the server has as many live tails open as it may: try again later")
		return
	}
	defer h.allTails.Release("")
	ctx, cancel := contextUntil(r, h.drained)
	defer cancel()
	ctx, unbind := h.sess.bind(ctx, ss)
	defer unbind()
	rc := http.NewResponseController(w)
	// The server's write timeout would end the stream; instead each write
	// has Timeout, so that a browser that stops reading cannot hold the
	// stream (its goroutine, its connection) forever.
	// At Drain, a change being written to a browser that reads nothing
	// would hold the tail (and a graceful shutdown) until its deadline,
	// Timeout later: the deadline moves to now, and a write that begins
	// after it keeps it there (draining).
	var draining atomic.Bool
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		select {
		case <-h.drained:
			draining.Store(true)
			_ = rc.SetWriteDeadline(time.Now())
		case <-stop:
		}
	}()
	defer func() { close(stop); watcher.Wait() }() // w is the handler's until it returns
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.Timeout))
		if draining.Load() {
			_ = rc.SetWriteDeadline(time.Now())
		}
		if _, err := fmt.Fprintf(w, format, args...); err != nil || rc.Flush() != nil {
			return false
		}
		_ = rc.SetWriteDeadline(time.Time{})
		return true
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// A comment first, so the browser sees the stream open at once.
	if !send(": live changes\n\n") {
		return
	}
	// The session ended (signed out, expired): the browser is told so,
	// and does not reconnect.
	ended := func() bool {
		if !errors.Is(context.Cause(ctx), errSessionEnded) {
			return false
		}
		send("event: error\ndata: %s\n\n", `"your session ended: sign in again"`)
		return true
	}
	for ev, err := range wt.Watch(ctx, opts...) {
		if err != nil {
			if ended() {
				return
			}
			_, text := h.errorStatus(r, err) // an internal error is logged, not shown
			msg, _ := json.Marshal(text)
			send("event: error\ndata: %s\n\n", msg)
			return
		}
		if ended() { // a change read as the session ended is not sent
			return
		}
		b, err := json.Marshal(tailEvent{Type: string(ev.Type), Namespace: ev.Namespace, Key: ev.Key,
			Revision: ev.Revision, Version: ev.Version, At: ev.At})
		if err != nil {
			return
		}
		if !send("id: %d\nevent: change\ndata: %s\n\n", ev.Revision, b) {
			return
		}
	}
	ended()
}

// tailRetryAfter is the Retry-After, in seconds, of a tail refused 503.
const tailRetryAfter = "5"

// refuseTail answers a live tail refused before it started: status, with
// the tail's own form of an error (an "error" event, its data the message
// as a JSON string) for a client that reads the body, and a Retry-After
// on a 503. It was plain text, unlike any other answer of the tail.
func refuseTail(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		hd.Set("Retry-After", tailRetryAfter)
	}
	w.WriteHeader(status)
	b, _ := json.Marshal(msg)
	_, _ = fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
}

// Drain ends the live tails, so that a graceful shutdown of the server
// need not wait for them; browsers reconnect to the next server.
func (h *Handler) Drain() { h.drain.Do(func() { close(h.drained) }) }

// contextUntil is r's context, also ended when done closes.
func contextUntil(r *http.Request, done <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
