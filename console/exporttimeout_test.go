package console_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/logbuf"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
)

// exportEnv is a console with Timeout d served as cmd/storeserver serves
// it relative to its --timeout (ReadTimeout d, WriteTimeout 3 d; the
// binary adds 10 s, which only moves where the cut falls), over sockets
// with small buffers (128 KiB each way; with h2, HTTP/2 over TLS, whose
// window smallBufferBrowser makes small instead): a slow client's pace,
// not the buffering, sets how fast the export is written. The namespace
// "big" holds entries of about 10 KB. Logs go to the returned buffer.
func exportEnv(t *testing.T, d time.Duration, entries int, h2 bool) (*env, *logbuf.Buffer) {
	t.Helper()
	logs := &logbuf.Buffer{}
	e := newEnvServer(t, testdb.SQLiteFile(t), h2, func(c *console.Config) {
		c.Timeout = d
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}, func(s *httptest.Server) {
		s.Config.ReadTimeout, s.Config.WriteTimeout = d, 3*d
		if !h2 {
			s.Listener = smallBufferListener{s.Listener}
		}
		s.EnableHTTP2 = h2
	})
	pad := strings.Repeat("x", 10_000)
	items := make([]storage.Item, 100)
	for b := 0; b < entries; b += len(items) {
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("k%07d", b+i), Value: map[string]any{"i": b + i, "pad": pad}}
		}
		if res, err := e.inner.SetMany(t.Context(), items, storage.InNamespace("big")); err != nil || !res.OK() {
			t.Fatalf("SetMany: %v %v", err, res.Err())
		}
	}
	return e, logs
}

// smallBufferListener gives each accepted connection a send buffer of
// 128 KiB. Not smaller: below loopback's segment size (64 KiB) TCP's
// avoidance of small windows stalls each segment on the delayed
// acknowledgement, 200 ms (with 16 KiB, one run in six had a chunk of
// 256 KiB wait more than a second).
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(128 << 10)
	}
	return c, err
}

// smallBufferBrowser is a browser whose connections have a receive
// buffer of 128 KiB, or over HTTP/2 a flow-control window of 64 KiB (not
// the 4 MiB a stream's default would buffer; the sockets' buffers are
// left alone there).
func smallBufferBrowser(t *testing.T, e *env, h2 bool) *browser {
	b := e.browser(t)
	tr := b.c.Transport.(*http.Transport).Clone()
	if h2 {
		tr.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 10}
	} else {
		dial := (&net.Dialer{}).DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(128 << 10)
			}
			return c, err
		}
	}
	b.c.Transport = tr
	t.Cleanup(tr.CloseIdleConnections)
	return b
}

// startExport starts b's export of "big": a 200 whose body is not read
// (the caller closes it).
func startExport(t *testing.T, b *browser) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.e.srv.URL+"/console/export"+q("ns", "big"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		t.Fatalf("export: %d", resp.StatusCode)
	}
	return resp
}

// TestExportOutlastsWriteTimeout: an export that takes longer than the
// server's WriteTimeout to download (a client that reads 5 MB steadily at
// 0.6 MiB/s, about 8 s, with Timeout 2 s: WriteTimeout 6 s, the export's
// own bound 20 s, a chunk of 256 KiB taken in about 0.4 s: room for a
// loaded machine under -race, where 1 s and 1 MiB/s failed) arrives whole, its trailer and all, and imports. Before, the
// write deadline stayed the server's, from the request's start: the
// download was cut at WriteTimeout, the client got "unexpected EOF" after
// 3 MiB (over HTTP/2 the stream reset, INTERNAL_ERROR), the file without
// its trailer.
func TestExportOutlastsWriteTimeout(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "http2"}[h2], func(t *testing.T) { testExportOutlastsWriteTimeout(t, h2) })
	}
}

func testExportOutlastsWriteTimeout(t *testing.T, h2 bool) {
	const (
		timeout = 2 * time.Second
		entries = 500
		rate    = 6 << 20 / 10 // bytes a second the client reads
	)
	e, logs := exportEnv(t, timeout, entries, h2)
	b := smallBufferBrowser(t, e, h2)
	b.signIn(adminToken)
	start := time.Now()
	resp := startExport(t, b)
	defer resp.Body.Close()
	if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
		t.Fatalf("the export over %s, want HTTP/%d", resp.Proto, want)
	}
	body, err := readAt(resp, start, rate)
	if err != nil {
		t.Fatalf("the download after %v, %d bytes (Timeout %v, WriteTimeout %v): %v\nlog: %s",
			time.Since(start).Round(time.Millisecond), body.Len(), timeout, 3*timeout, err, logs)
	}
	took := time.Since(start)
	t.Logf("the export of %d entries: %d bytes in %v (Timeout %v, WriteTimeout %v)",
		entries, body.Len(), took.Round(time.Millisecond), timeout, 3*timeout)
	if took < 3*timeout {
		t.Errorf("the download took %v, not past WriteTimeout %v: the test proves nothing", took, 3*timeout)
	}
	dst := teststore.Open(t, "sqlite::memory:")
	st, err := dump.Import(t.Context(), dst, body, dump.ImportOptions{})
	if err != nil || st.Entries != entries {
		t.Fatalf("import of the download: %+v, %v; want %d entries", st, err, entries)
	}
	if strings.Contains(logs.String(), "export cut short") {
		t.Errorf("the console logged a cut export:\n%s", logs)
	}
}

// readAt reads resp's body at rate bytes a second from start, catching up
// after a late wake-up: no pause of its own comes near a Timeout.
func readAt(resp *http.Response, start time.Time, rate int) (*bytes.Buffer, error) {
	body := &bytes.Buffer{}
	buf := make([]byte, 32<<10)
	for {
		allowed := int(time.Since(start).Seconds()*float64(rate)) - body.Len()
		if allowed <= 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n, err := resp.Body.Read(buf[:min(allowed, len(buf))])
		body.Write(buf[:n])
		if err == io.EOF {
			return body, nil
		}
		if err != nil {
			return body, err
		}
	}
}

// TestExportStalledClient: a client that stops reading an export is cut
// once a chunk waits Timeout to be taken, not held for the export's bound
// of ten times Timeout: the export's place, turn and read-only
// transaction are given back, and the principal's next export runs.
func TestExportStalledClient(t *testing.T) {
	const (
		timeout = time.Second
		entries = 500
	)
	e, logs := exportEnv(t, timeout, entries, false)
	b := smallBufferBrowser(t, e, false)
	b.signIn(adminToken)
	resp := startExport(t, b)
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	stalled := time.Now()
	for !strings.Contains(logs.String(), "export cut short") {
		if time.Since(stalled) > 10*timeout {
			t.Fatalf("the export of a client that stopped reading was not cut after %v (Timeout %v)", 10*timeout, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cut := time.Since(stalled)
	t.Logf("the export of a stalled client cut %v after it stopped reading (Timeout %v, the export's bound %v)",
		cut.Round(time.Millisecond), timeout, 10*timeout)
	// Timeout once the buffers fill; well under the bound of ten.
	if cut > 6*timeout {
		t.Errorf("the stalled export was cut after %v; want about Timeout %v", cut, timeout)
	}
	_ = resp.Body.Close()
	// The place is back: another export of the principal runs (not 503).
	p := b.get("/console/export" + q("ns", "default"))
	if p.StatusCode == http.StatusServiceUnavailable {
		t.Fatalf("an export after the cut one: 503 %s", p.body)
	}
}

// TestExportWriteDeadlineCleared: on a server without a WriteTimeout, the
// write deadline an export moved goes with it: a later request on the
// same connection, past that deadline, is answered. net/http (Go 1.26)
// clears a connection's write deadline after each response, which the
// export relies on rather than clearing it itself.
func TestExportWriteDeadlineCleared(t *testing.T) {
	const timeout = time.Second // the console's own reads get that much on a loaded machine
	var conns atomic.Int32
	e := newEnvServer(t, "sqlite::memory:", false, func(c *console.Config) { c.Timeout = timeout }, func(s *httptest.Server) {
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	})
	if err := e.inner.Set(t.Context(), "k", 1, storage.InNamespace("users")); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(adminToken)
	b.get("/console/export"+q("ns", "users")).want(t, http.StatusOK, `"type":"trailer"`)
	time.Sleep(2 * timeout) // past the deadline the export left (Timeout after its last chunk)
	// A POST, which the client does not retry on a connection the server
	// closed.
	b.post("/console/namespaces/create", url.Values{"name": {"later"}}).want(t, http.StatusSeeOther)
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections; want the one, kept alive", n)
	}
}
