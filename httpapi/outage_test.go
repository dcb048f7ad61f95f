package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
)

// TestClientOutageErrors: a Go client whose server cannot be reached, or
// does not answer, returns a documented sentinel besides its
// *client.TransportError, as the engine does for a database it cannot
// reach: ErrUnavailable when the call had no effect (nothing was sent, or
// it is a read), ErrCommitUnknown for a write outside a transaction that
// may have reached the server (the connection broke, or a proxy answered
// for it). A write inside a transaction commits nothing: ErrUnavailable.
// The caller's own cancellation stays its context's error. Before, every
// such error was a *client.TransportError wrapping no sentinel, so
// errors.Is(err, storage.ErrUnavailable) was false for a server that is
// down.
func TestClientOutageErrors(t *testing.T) {
	s := newServer(t, configs[1], httpapi.Config{})
	var mode atomic.Value
	mode.Store("ok")
	inner := s.srv.Config.Handler
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case "drop": // the request reaches the server, the answer never comes back
			_, _ = io.ReadAll(r.Body)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		case "gateway": // a proxy's own answer
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		case "hang":
			_, _ = io.ReadAll(r.Body) // so that the server sees the client leave
			<-r.Context().Done()
		default:
			inner.ServeHTTP(w, r)
		}
	}))
	defer front.Close()
	tr, err := httpapi.NewTransport(front.URL, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	st := newClientOn(t, tr)
	ctx := t.Context()
	tx, err := st.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// wantOnly checks that err is a *client.TransportError wrapping want
	// and no other sentinel.
	wantOnly := func(what string, err, want error) {
		t.Helper()
		var te *client.TransportError
		if !errors.As(err, &te) {
			t.Errorf("%s = %v; want a *client.TransportError", what, err)
		}
		for _, s := range storage.Sentinels() {
			if is := errors.Is(err, s); is != errors.Is(s, want) {
				t.Errorf("%s = %v; errors.Is(%v) = %v, want %v", what, err, s, is, errors.Is(s, want))
			}
		}
	}
	read := func() error { _, err := st.Get(ctx, "k"); return err }
	write := func() error { return st.Set(ctx, "k", 1) }
	txWrite := func() error { return tx.Set(ctx, "k", 1) }

	for _, m := range []string{"drop", "gateway"} {
		mode.Store("ok")
		ctx := t.Context()
		commitTx, err := st.Begin(ctx, storage.TxOptions{ReadOnly: true}) // tx holds SQLite's writer
		if err != nil {
			t.Fatal(err)
		}
		mode.Store(m)
		wantOnly(m+": Commit", commitTx.Commit(ctx), storage.ErrCommitUnknown)
		wantOnly(m+": Get", read(), storage.ErrUnavailable)
		wantOnly(m+": Set", write(), storage.ErrCommitUnknown)
		wantOnly(m+": Set in a transaction", txWrite(), storage.ErrUnavailable)
		_, err = st.Count(ctx)
		wantOnly(m+": Count", err, storage.ErrUnavailable)
		wantOnly(m+": DeleteNamespace", st.DeleteNamespace(ctx, "x"), storage.ErrCommitUnknown)
	}

	// The caller's cancellation: its context's error, no sentinel.
	mode.Store("hang")
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = st.Set(cctx, "k", 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Set with a context that ended = %v; want context.DeadlineExceeded", err)
	}
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			t.Errorf("Set with a context that ended = %v; wraps %v", err, s)
		}
	}

	// Nothing listens: nothing was sent, every call is ErrUnavailable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	mode.Store("ok")
	tr2, err := httpapi.NewTransport("http://"+addr, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := client.New(ctx, tr2)
	wantOnly("New with no server", err, storage.ErrUnavailable)
	if st2 != nil {
		t.Fatal("New with no server returned a store")
	}
	// The same over a client made while the server was up; a commit
	// that was never sent did not happen.
	downTx, err := st.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	front.Close()
	// A kept-alive connection the server closed may still be tried (EOF
	// after the request was written: ErrCommitUnknown, rightly); a new
	// one is refused.
	tr.CloseIdleConnections()
	wantOnly("down: Commit", downTx.Commit(ctx), storage.ErrUnavailable)
	wantOnly("down: Get", read(), storage.ErrUnavailable)
	wantOnly("down: Set", write(), storage.ErrUnavailable)
}
