package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestConformance runs the storetest suite over the whole network path:
// client.Store → Transport → HTTP on loopback → Handler → routes →
// security.Store (as a principal granted everything) → sqlstore.
func TestConformance(t *testing.T) {
	cs := configs
	if raceEnabled {
		// Under the race detector (CI) not sqlite-file, which serves the
		// same messages as sqlite-memory (the engine's file runs in
		// sqlstore's own suites).
		cs = testdb.Except(configs, "sqlite-file")
	}
	for _, c := range cs {
		t.Run(c.Name, func(t *testing.T) {
			storetest.Run(t, teststore.Harness(c.Name+"+http", func(t *testing.T, opts ...sqlstore.Option) storage.Store {
				return newClient(t, newServer(t, c, httpapi.Config{}, opts...), adminToken)
			}))
		})
	}
}

// newClient returns a client.Store talking to s with token.
func newClient(t testing.TB, s *testServer, token string) *client.Store {
	t.Helper()
	tr, err := httpapi.NewTransport(s.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	st, err := client.New(t.Context(), tr)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return st
}

// countingConn counts its closes.
type countingConn struct {
	net.Conn
	closed *atomic.Int32
}

func (c countingConn) Close() error {
	c.closed.Add(1)
	return c.Conn.Close()
}

// TestClientCloseClosesIdleConnections checks that closing a client.Store
// over a Transport closes the transport's idle keep-alive connection.
func TestClientCloseClosesIdleConnections(t *testing.T) {
	s := newServer(t, configs[0], httpapi.Config{})
	var dialed, closed atomic.Int32
	var d net.Dialer
	ht := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		dialed.Add(1)
		return countingConn{Conn: c, closed: &closed}, nil
	}}
	t.Cleanup(ht.CloseIdleConnections)
	tr, err := httpapi.NewTransport(s.URL, adminToken, httpapi.WithHTTPClient(&http.Client{Transport: ht}))
	if err != nil {
		t.Fatal(err)
	}
	st, err := client.New(t.Context(), tr)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	if err := st.Set(t.Context(), "k", 1); err != nil {
		t.Fatal(err)
	}
	if d, c := dialed.Load(), closed.Load(); d == 0 || c != 0 {
		t.Fatalf("before Close: %d connections dialed, %d closed; want some, none closed", d, c)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if d, c := dialed.Load(), closed.Load(); c != d {
		t.Errorf("after Close: %d connections dialed, %d closed; want all closed", d, c)
	}
}
