package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mycelia-kernel/storage/routes"
)

// StreamContentType is the media type of a stream's response: one JSON
// object per line.
const StreamContentType = "application/x-ndjson"

// keepAliveEvery is how often an idle stream sends an empty line, so that
// proxies keep it open, a vanished client is noticed, and the client
// knows the connection lives (see WithStreamSilence); in nanoseconds, 0
// for 15 seconds (tests shorten it while streams of earlier tests run).
var keepAliveEvery atomic.Int64

func keepAlivePeriod() time.Duration {
	if d := keepAliveEvery.Load(); d > 0 {
		return time.Duration(d)
	}
	return 15 * time.Second
}

// stream serves a streaming route: a refusal before the stream starts is
// an envelope with its HTTP status, as for any route; a stream is 200 with
// one JSON object per line (empty lines are keep-alives), flushed as it
// goes. Config.Timeout does not bound it (nor does the server's write
// timeout: the handler lifts it), but it bounds the writing of each line;
// the client's leaving, a line it does not take in time, or Drain ends it.
func (h *Handler) stream(ctx context.Context, w http.ResponseWriter, rec *record, sm routes.Streamer, body []byte) {
	ctx, cancel := h.cancelAtDrain(ctx) // the cause is errDraining at Drain
	defer cancel()
	rc := http.NewResponseController(w)
	var mu sync.Mutex // protects the response writer, started and finished
	// finished: the handler is returning, so w may no longer be used. The
	// keep-alive goroutine may be waiting for mu (behind a write to a
	// client that does not read) when the stream ends: net/http panics,
	// outside any handler, on a write to a finished response.
	started, finished := false, false
	// draining: Drain has ended the stream. A line being written then to
	// a client that does not read would hold the stream (and a graceful
	// shutdown) until its write deadline, Timeout later: the write
	// deadline moves to now instead, and a write that begins after it
	// keeps it there. streaming is started, read without mu: a stream
	// that has not started keeps its deadline, for its 503.
	var draining, streaming atomic.Bool
	var keepAlive sync.WaitGroup
	defer func() {
		cancel()
		mu.Lock()
		finished = true
		mu.Unlock()
		keepAlive.Wait()
	}()
	write := func(line []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return net.ErrClosed
		}
		if !started {
			started = true
			streaming.Store(true)
			rec.status, rec.written = http.StatusOK, true
			hd := w.Header()
			hd.Set("Content-Type", StreamContentType)
			hd.Set("X-Content-Type-Options", "nosniff")
			hd.Set("Cache-Control", "no-store")
			hd.Set("X-Accel-Buffering", "no")
			w.WriteHeader(http.StatusOK)
		}
		if bytes.HasPrefix(line, []byte(`{"success":false`)) {
			rec.code = routes.EnvelopeCode(line)
		}
		// A client that does not take a line within Timeout is gone or
		// hostile: the stream ends, with its goroutines, its connection
		// and what the watch buffers for it.
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.Timeout))
		if draining.Load() {
			_ = rc.SetWriteDeadline(time.Now())
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			cancel()
			return err
		}
		if err := rc.Flush(); err != nil {
			cancel()
			return err
		}
		_ = rc.SetWriteDeadline(time.Time{})
		return nil
	}
	keepAlive.Add(1)
	go func() {
		defer keepAlive.Done()
		t := time.NewTicker(keepAlivePeriod())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if errors.Is(context.Cause(ctx), errDraining) {
					// Unblocks a write in progress (see draining); the
					// handler waits for this goroutine before it
					// returns, so the connection is still its own.
					draining.Store(true)
					if streaming.Load() {
						_ = rc.SetWriteDeadline(time.Now())
					}
				}
				return
			case <-t.C:
			}
			mu.Lock()
			s := started
			mu.Unlock()
			if s {
				_ = write(nil)
			}
		}
	}()
	resp, err := sm.Stream(ctx, rec.route, body, write)
	if err != nil {
		h.log.Error("route failed", "route", rec.route, "error", err)
		resp = routes.ErrorEnvelope(routes.CodeInternal, "internal error")
	}
	if resp == nil {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if started {
		return
	}
	started = true
	rec.code = routes.EnvelopeCode(resp)
	if rec.code == routes.CodeCanceled && errors.Is(context.Cause(ctx), errDraining) {
		// Drain ended the stream before it started: the client did not
		// give up (canceled, which client.Store.Watch would take as its
		// own end), the server is going away.
		h.fail(w, rec, http.StatusServiceUnavailable, CodeUnavailable, msgStreamDraining)
		return
	}
	status := routes.HTTPStatus(rec.code)
	if rec.code == "" {
		status = http.StatusOK
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", wwwAuthenticate)
	}
	h.writeEnvelope(w, rec, status, resp)
}

// msgStreamDraining is the message of a stream asked for after Drain, or
// ended by Drain before it started (503 unavailable).
const msgStreamDraining = "the server is shutting down: the stream did not start; open it again (elsewhere or later)"

// IsStream implements routes.Streamer: storage://watch is the one
// streaming route.
func (t *Transport) IsStream(route string) bool { return route == routes.RouteWatch }

// Stream implements routes.Streamer (and client.StreamTransport): it POSTs
// body to the route's endpoint and calls emit with each line of the
// streamed answer (empty keep-alive lines are skipped) until the stream
// ends; a refusal's envelope is returned instead. The error is the
// transport's: the request failed, the connection broke (a stream that
// ends without its server's last word, or sent nothing, not even a
// keep-alive, for the transport's WithStreamSilence), a line was larger
// than the response limit (routes.ErrLineTooLarge), or the answer was
// neither a stream nor an envelope.
func (t *Transport) Stream(ctx context.Context, route string, body []byte, emit func(line []byte) error) ([]byte, error) {
	// A stream that sends nothing for t.silent (the server sends
	// keep-alives far more often) went dark: the connection is cut, as
	// a broken one, so that the caller resumes instead of waiting for
	// ever. Any byte that arrives, from the headers on, rearms it.
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	silence := time.AfterFunc(t.silent, func() { cancel(errSilent) })
	defer silence.Stop()
	resp, endpoint, unknown, err := t.post(sctx, route, body, StreamContentType+", application/json")
	if resp == nil {
		if ctx.Err() == nil && errors.Is(context.Cause(sctx), errSilent) {
			err = fmt.Errorf("httpapi: %s: POST %s: %w (%v)", route, endpoint, errSilent, t.silent)
		}
		return unknown, err
	}
	defer resp.Body.Close()
	resp.Body = &alive{ReadCloser: resp.Body, t: silence, d: t.silent}
	if ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";"); ct != StreamContentType {
		data, err := readLimited(resp.Body, t.maxResp)
		if err != nil {
			return nil, fmt.Errorf("httpapi: %s: POST %s: HTTP %s, reading the response: %w", route, endpoint, resp.Status, err)
		}
		if why := notEnvelope(data); why != "" {
			return nil, fmt.Errorf("httpapi: %s: POST %s: HTTP %s, %s: %s", route, endpoint, resp.Status, why, snippet(data))
		}
		return data, nil
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := readLine(r, t.maxResp)
		if len(line) > 0 {
			// The consumer's time over a line is not the stream's
			// silence.
			silence.Stop()
			if eerr := emit(line); eerr != nil {
				return nil, nil
			}
			silence.Reset(t.silent)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("httpapi: %s: %w", route, ctx.Err())
			}
			if errors.Is(context.Cause(sctx), errSilent) {
				err = fmt.Errorf("%w (%v)", errSilent, t.silent)
			}
			return nil, fmt.Errorf("httpapi: %s: POST %s: the stream broke: %w", route, endpoint, err)
		}
	}
}

// errSilent is the cause of a stream cut for its silence.
var errSilent = errors.New("nothing arrived, not even a keep-alive")

// alive rearms t (to d) at each read that brought bytes.
type alive struct {
	io.ReadCloser
	t *time.Timer
	d time.Duration
}

func (a *alive) Read(p []byte) (int, error) {
	n, err := a.ReadCloser.Read(p)
	if n > 0 {
		a.t.Reset(a.d)
	}
	return n, err
}

// readLine reads one line without its newline (nil for an empty one).
func readLine(r *bufio.Reader, limit int64) ([]byte, error) {
	var out []byte
	for {
		part, err := r.ReadSlice('\n')
		out = append(out, part...)
		if int64(len(out)) > limit+1 {
			return nil, fmt.Errorf("%w (%d bytes)", routes.ErrLineTooLarge, limit)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return bytes.TrimSpace(out), err
		}
		return bytes.TrimSpace(out), nil
	}
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the response is larger than %d bytes", limit)
	}
	return data, nil
}
