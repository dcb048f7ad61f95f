package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
)

// statusPage is the data of the status page.
type statusPage struct {
	storage.Status
	Capabilities storage.Capabilities
	// Everything: the principal reads every namespace and key, so the
	// whole-store figures (Size, Namespaces, OpenTx) are shown.
	Everything bool
	OpenTx     int
	HasOpenTx  bool
}

// status shows the store's health, size, capacity, schema version and
// dialect as the security layer reports them to the principal, and the
// open transactions to principals that read everything.
func (h *Handler) status(w http.ResponseWriter, r *http.Request, ss *session) {
	st, err := h.cfg.Store.Status(r.Context())
	if err != nil {
		h.fail(w, r, ss, "Status", err)
		return
	}
	p := statusPage{Status: st, Capabilities: h.cfg.Store.Capabilities(), Everything: h.all(r.Context())}
	if p.Everything && h.cfg.OpenTransactions != nil {
		p.OpenTx, p.HasOpenTx = h.cfg.OpenTransactions(), true
	}
	h.render(w, r, http.StatusOK, "status", ss, &view{Title: "Status", Nav: "status", Data: p})
}

// export streams one namespace as NDJSON in the dump format
// (dump.ExportStore), holding what the principal may read of it.
//
// The server's write timeout (cmd/storeserver's is three times --timeout
// and 10 s) runs from the request's start and would cut an export that
// outlasts it, the client left with a file without its trailer; the
// export's own bound is ten times Timeout. So the write deadline follows
// the export instead (exportWriter): each chunk written (256 KiB, the
// dump's buffer) must be taken within Timeout, and between chunks, while
// the export reads the store, the deadline is the export's end and
// Timeout. A client that reads slowly but steadily gets the whole file
// however long it takes within the export's bound; one that stops reading
// is cut after Timeout, its place, its turn and the export's read-only
// transaction given back, not held for ten times Timeout.
func (h *Handler) export(w http.ResponseWriter, r *http.Request, ss *session) {
	ns := r.URL.Query().Get("ns")
	if ns == "" {
		// dump.ExportStore would export every namespace the principal
		// reads: not what this page offers, nor what its file is named.
		h.render(w, r, http.StatusBadRequest, "error", ss, &view{Title: "Export",
			Error: "Name the namespace to export (export?ns=name)."})
		return
	}
	// An export may take longer than a page: ten times the timeout.
	ctx, cancel := context.WithTimeout(r.Context(), 10*h.cfg.Timeout)
	defer cancel()
	end, _ := ctx.Deadline()
	rc := http.NewResponseController(w)
	ew := &exportWriter{w: w, rc: rc, timeout: h.cfg.Timeout, end: end.Add(h.cfg.Timeout)}
	_ = rc.SetWriteDeadline(ew.end)
	defer ew.finish()
	lw := &lazyWriter{w: ew, start: func() {
		hd := w.Header()
		hd.Set("Content-Type", "application/x-ndjson; charset=utf-8")
		hd.Set("Content-Disposition", `attachment; filename="`+exportName(ns)+`"`)
	}}
	if _, err := dump.ExportStore(ctx, h.cfg.Store, lw, dump.ExportOptions{Namespace: ns}); err != nil {
		if !lw.started {
			_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.Timeout))
			h.fail(w, r, ss, "Export "+ns, err)
			return
		}
		// The file lacks its trailer, which an import reports as truncated.
		h.log.Error("console: export cut short", "namespace", ns, "error", err)
	}
}

// exportWriter writes an export's chunks, each under a write deadline of
// timeout from its start; between chunks the deadline is end (the
// export's own bound and timeout).
type exportWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	end     time.Time
}

func (e *exportWriter) Write(p []byte) (int, error) {
	_ = e.rc.SetWriteDeadline(time.Now().Add(e.timeout))
	n, err := e.w.Write(p)
	_ = e.rc.SetWriteDeadline(e.end)
	return n, err
}

// finish flushes what the response still buffers within timeout, so
// that its last bytes are bounded too. The deadline need not be cleared
// for the connection's next request: net/http clears it once the
// response is written (HTTP/1; TestExportWriteDeadlineCleared), and an
// HTTP/2 stream's ends with the stream.
func (e *exportWriter) finish() {
	_ = e.rc.SetWriteDeadline(time.Now().Add(e.timeout))
	_ = e.rc.Flush()
}

// exportSlot takes a place for one more export of principal p
// (Config.MaxExports, one per principal). A refusal is 429 when p's own
// export holds the place (as a stream beyond its principal's bound is),
// 503 when the console runs as many as it may.
func (h *Handler) exportSlot(p string) (func(), int, string) {
	if !h.exportsBy.Take(p) {
		return nil, http.StatusTooManyRequests, "An export of yours is running: wait for it to end, then try again."
	}
	select {
	case h.exports <- struct{}{}:
	default:
		h.exportsBy.Release(p)
		return nil, http.StatusServiceUnavailable,
			fmt.Sprintf("%d exports are running, as many as the console runs at once: try again later.", cap(h.exports))
	}
	return func() {
		<-h.exports
		h.exportsBy.Release(p)
	}, 0, ""
}

// exportName is the download's file name: the namespace made safe
// (safeName), and the date.
func exportName(ns string) string {
	return path.Base(safeName(ns)) + "-" + time.Now().UTC().Format("20060102T150405Z") + ".ndjson"
}

// safeName is s with anything but letters, digits, '.', '-' and '_'
// replaced by '_', for a download's file name.
func safeName(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
			return c
		}
		return '_'
	}, s)
}

// lazyWriter calls start before the first byte, so that an error found
// before anything was written can still get an error page.
type lazyWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
	}
	return l.w.Write(p)
}
