package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestWatchModelHTTP is the model check of Watch through the client, over
// HTTP, the security store and the engine.
func TestWatchModelHTTP(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServer(t, c, httpapi.Config{}, sqlstore.WithWatchBuffer(64))
			storetest.WatchModel(t, newClient(t, s, adminToken), storetest.WatchModelConfig{Duration: 2 * time.Second})
		})
	}
}

// restartable is a server on a fixed address whose process can be stopped
// and started again: its store is closed and reopened on the same
// database.
type restartable struct {
	t    *testing.T
	dsn  string
	addr string
	srv  *httptest.Server
	st   *sqlstore.Store
}

func (r *restartable) start() {
	r.t.Helper()
	r.st = teststore.Open(r.t, r.dsn)
	tokens, err := httpapi.ParseAuthFile([]byte(authFile))
	if err != nil {
		r.t.Fatal(err)
	}
	mux := routes.NewMux()
	routes.Register(mux, security.NewStore(r.st, tokens.Policy()))
	srv := httptest.NewUnstartedServer(httpapi.NewHandler(mux, httpapi.Config{Auth: tokens, Logger: slog.New(slog.DiscardHandler)}))
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	for i := 0; ; i++ {
		l, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	r.srv, r.addr = srv, l.Addr().String()
}

func (r *restartable) stop() {
	r.srv.CloseClientConnections()
	r.srv.Close()
	_ = r.st.Close()
}

// TestWatchSurvivesRestart: the client's watch goes on across a restart of
// the server (process and store), from the last revision it delivered,
// with no change lost or repeated.
func TestWatchSurvivesRestart(t *testing.T) {
	for _, c := range configs {
		if c.Name == "sqlite-memory" {
			continue // the database would not survive its store
		}
		t.Run(c.Name, func(t *testing.T) {
			r := &restartable{t: t, dsn: c.DSN(t)}
			r.start()
			defer func() { r.stop() }()
			tr, err := httpapi.NewTransport("http://"+r.addr, adminToken)
			if err != nil {
				t.Fatal(err)
			}
			cl := newClientOn(t, tr)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			st, err := cl.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			type item struct {
				ev  storage.Event
				err error
			}
			ch := make(chan item, 100)
			go func() {
				for ev, err := range cl.Watch(ctx, storage.FromRevision(st.Revision), storage.InNamespace("w")) {
					ch <- item{ev, err}
					if err != nil {
						return
					}
				}
			}()
			write := func(i int) {
				t.Helper()
				if err := r.st.Set(ctx, "k"+strconv.Itoa(i), i, storage.InNamespace("w")); err != nil {
					t.Fatal(err)
				}
			}
			expect := func(i int) {
				t.Helper()
				for {
					select {
					case it := <-ch:
						if it.err != nil {
							t.Fatalf("watch: %v", it.err)
						}
						if it.ev.Type == storage.EventNamespaceCreate {
							continue
						}
						if it.ev.Key != "k"+strconv.Itoa(i) {
							t.Fatalf("event %+v, want k%d", it.ev, i)
						}
						return
					case <-time.After(20 * time.Second):
						t.Fatalf("no event for k%d", i)
					}
				}
			}
			for i := range 5 {
				write(i)
				expect(i)
			}
			r.stop()
			// Written while the server is down: the watch must not miss them.
			down := teststore.Open(t, r.dsn)
			for i := 5; i < 10; i++ {
				if err := down.Set(ctx, "k"+strconv.Itoa(i), i, storage.InNamespace("w")); err != nil {
					t.Fatal(err)
				}
			}
			_ = down.Close()
			r.start()
			for i := 10; i < 15; i++ {
				write(i)
			}
			for i := 5; i < 15; i++ {
				expect(i)
			}
			select {
			case it := <-ch:
				t.Fatalf("an extra event: %+v, %v", it.ev, it.err)
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}

func newClientOn(t *testing.T, tr *httpapi.Transport) *client.Store {
	t.Helper()
	t.Cleanup(tr.CloseIdleConnections)
	st, err := client.New(t.Context(), tr)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestWatchWire: the errors of a watch over the wire keep their types
// (compacted with its oldest revision; denied), and a refusal before the
// stream is an ordinary error answer.
func TestWatchWire(t *testing.T) {
	s := newServer(t, configs[0], httpapi.Config{}, sqlstore.WithRetention(sqlstore.Retention{Changes: 2}), sqlstore.WithSweepInterval(-1))
	ctx := t.Context()
	admin := newClient(t, s, adminToken)
	st, err := admin.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := admin.Set(ctx, "k", i, storage.InNamespace("users")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.inner.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	for _, err := range admin.Watch(ctx, storage.FromRevision(st.Revision)) {
		var ce *storage.CompactedError
		if !errors.As(err, &ce) || ce.Oldest <= st.Revision || ce.Requested != st.Revision {
			t.Fatalf("watch from a compacted revision: %v (%+v)", err, ce)
		}
		break
	}
	bob := newClient(t, s, bobToken)
	for _, err := range bob.Watch(ctx, storage.InNamespace("secret")) {
		if !errors.Is(err, storage.ErrPermissionDenied) {
			t.Fatalf("bob's watch of secret: %v", err)
		}
		break
	}
	// Bob may not read the store's revision (Status hides it), yet his
	// watch from now starts where the store is, and says where.
	var start int64 = -1
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got := make(chan storage.Event, 1)
	started := make(chan struct{})
	go func() {
		for ev, err := range bob.Watch(wctx, storage.InNamespace("users"), storage.OnStart(func(r int64) { start = r; close(started) })) {
			if err != nil {
				t.Errorf("bob's watch of users: %v", err)
				close(got)
				return
			}
			got <- ev
			return
		}
	}()
	// Write once the watch has started (a sleep of 200 ms was not always
	// enough on a loaded machine: a write before the start is not an event).
	select {
	case <-started:
	case <-got:
		t.Fatal("bob's watch of users ended before it started")
	}
	if err := admin.Set(ctx, "b", 1, storage.InNamespace("users")); err != nil {
		t.Fatal(err)
	}
	if ev, ok := <-got; !ok || ev.Key != "b" || start < st.Revision || ev.Revision <= start {
		t.Fatalf("bob's watch: %+v after start %d", ev, start)
	}
	for _, err := range admin.Watch(ctx, storage.Limit(2)) {
		if !errors.Is(err, storage.ErrInvalidOption) {
			t.Fatalf("watch with Limit: %v", err)
		}
		break
	}
	// History and Get at a revision over the wire.
	var h storage.Historian = admin
	evs, err := h.History(ctx, "k", storage.InNamespace("users"))
	if err != nil || len(evs) != 2 || string(evs[1].Value) != "5" {
		t.Fatalf("History: %+v, %v", evs, err)
	}
	e, err := admin.Get(ctx, "k", storage.InNamespace("users"), storage.AtRevision(evs[0].Revision))
	if err != nil || string(e.Value) != "4" {
		t.Fatalf("Get at %d: %s, %v", evs[0].Revision, e.Value, err)
	}
	// A refusal before the stream starts is an HTTP error answer; a
	// stream is NDJSON.
	for _, c := range []struct {
		token, body string
		want        int
	}{
		{adminToken, `{"options":{"fromRevision":"x"}}`, http.StatusBadRequest},
		{adminToken, `{"options":{"fromRevision":1}}`, http.StatusGone},
		{bobToken, `{"options":{"namespace":"secret"}}`, http.StatusForbidden},
		{adminToken, `{}`, http.StatusOK},
	} {
		body, want := c.body, c.want
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/storage/watch", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ct := "application/json"
		if want == http.StatusOK {
			ct = httpapi.StreamContentType
		}
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != ct {
			t.Fatalf("watch %s: HTTP %d %s, want %d %s", body, resp.StatusCode, resp.Header.Get("Content-Type"), want, ct)
		}
	}
}
