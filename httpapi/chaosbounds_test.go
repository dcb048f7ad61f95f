package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
)

// The principals of boundsAuthFile: three that may do everything.
var boundsTokens = []string{adminToken, "carol-token-0123456789abcdef", "dave-token-0123456789abcdef"}

var boundsAuthFile = `{"principals":[
	{"token":"` + boundsTokens[0] + `","pkr":"admin-pk","profiles":[{"name":"all","scopes":{"storage://namespace/*":"rw","principal://*":"rw"}}]},
	{"token":"` + boundsTokens[1] + `","pkr":"carol-pk","profiles":[{"name":"all","scopes":{"storage://namespace/*":"rw","principal://*":"rw"}}]},
	{"token":"` + boundsTokens[2] + `","pkr":"dave-pk","profiles":[{"name":"all","scopes":{"storage://namespace/*":"rw","principal://*":"rw"}}]}
]}`

// wirePagedOp reads through pages (List and Query with After, the
// iterators over every page), with namespace metadata changes and
// re-creation of the namespace under the same name: the calls wireOp does
// not make.
func wirePagedOp(ctx context.Context, st storage.Store, r *rand.Rand, check func(string, error)) {
	ns := []string{"ca", "cb"}[r.IntN(2)]
	in := storage.InNamespace(ns)
	switch r.IntN(5) {
	case 0:
		cursor := ""
		for range 4 {
			opts := []storage.Option{in, storage.Limit(2)}
			if cursor != "" {
				opts = append(opts, storage.After(cursor))
			}
			res, err := st.List(ctx, opts...)
			check("list page", err)
			if err != nil || res.Cursor == "" {
				return
			}
			cursor = res.Cursor
		}
	case 1:
		cursor := ""
		for range 4 {
			opts := []storage.Option{in, storage.Limit(2), storage.SortBy(storage.SortField{Field: "v"})}
			if cursor != "" {
				opts = append(opts, storage.After(cursor))
			}
			res, err := st.Query(ctx, storage.Gte("v", 0), opts...)
			check("query page", err)
			if err != nil || res.Cursor == "" {
				return
			}
			cursor = res.Cursor
		}
	case 2:
		for _, err := range storage.QueryAll(ctx, st, storage.Gte("v", 0), in, storage.Limit(3)) {
			if err != nil {
				check("queryAll", err)
				return
			}
		}
	case 3:
		// The namespace deleted and created again with the same name,
		// with other indexes and metadata.
		err := st.DeleteNamespace(ctx, ns, storage.Recursive())
		check("deleteNamespace", err)
		opts := []storage.NamespaceOption{storage.WithNamespaceMetadata(map[string]int{"gen": r.IntN(100)})}
		if r.IntN(2) == 0 {
			opts = append(opts, storage.WithIndexes("v"))
		}
		check("createNamespace", st.CreateNamespace(ctx, ns, opts...))
	case 4:
		for _, err := range storage.ListAll(ctx, st, in, storage.Limit(2)) {
			if err != nil {
				check("listAll", err)
				return
			}
		}
	}
}

// wireWorkers starts n workers (on wg) that, until ctx ends, make calls
// with contexts of their own that now and then expire or are cancelled
// at a random point: call makes one, and passes its errors to check,
// which records them with log. allowed(w, what) are the sentinels worker
// w's call what may answer; tx_done and tx_not_found too once the call's
// context ended (its transaction rolled back, the ID forgotten).
func wireWorkers(ctx context.Context, wg *sync.WaitGroup, n int, log *wireLog, allowed func(w int, what string) []error,
	call func(w int, r *rand.Rand, cctx context.Context, check func(string, error))) {
	for w := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				cctx, ccancel := ctx, context.CancelFunc(func() {})
				switch r.IntN(6) {
				case 0:
					cctx, ccancel = context.WithTimeout(ctx, time.Duration(r.IntN(20000))*time.Microsecond)
				case 1:
					cctx, ccancel = context.WithCancel(ctx)
					time.AfterFunc(time.Duration(r.IntN(10000))*time.Microsecond, ccancel)
				}
				call(w, r, cctx, func(what string, err error) {
					ok := allowed(w, what)
					if cctx.Err() != nil {
						ok = append(ok[:len(ok):len(ok)], storage.ErrTxDone, storage.ErrTxNotFound)
					}
					log.typed(what, err, cctx.Err() != nil, ok)
				})
				ccancel()
			}
		})
	}
}

// TestWireChaosBoundsAndClose is TestWireChaos from three principals'
// clients, with reads through pages and namespaces re-created under the
// same name, while watchers connect and disconnect beyond the server-wide
// and per-principal stream bounds, and the store is closed at a random
// point of the run: every error carries the wire code of a sentinel (a
// race's; closed once the store is closed; a refused stream's
// too_many_streams or unavailable), never internal nor the driver's text.
func TestWireChaosBoundsAndClose(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServerAuth(t, c.DSN(t), boundsAuthFile, httpapi.Config{MaxStreams: 3, MaxStreamsPerPrincipal: 2})
			var clients []*client.Store
			for _, tok := range boundsTokens {
				clients = append(clients, newClient(t, s, tok))
			}
			allowed := append(wireRaceExpected[:len(wireRaceExpected):len(wireRaceExpected)], storage.ErrClosed)
			streams := append(allowed[:len(allowed):len(allowed)], storage.ErrUnavailable)
			d := 2 * time.Second
			log := &wireLog{}
			ctx, cancel := context.WithTimeout(t.Context(), d)
			defer cancel()
			var wg sync.WaitGroup
			wireWorkers(ctx, &wg, 6, log, func(_ int, what string) []error {
				if what == "watch" {
					return streams // refused by the stream bounds
				}
				return allowed
			}, func(_ int, r *rand.Rand, cctx context.Context, check func(string, error)) {
				st := clients[r.IntN(len(clients))]
				if r.IntN(3) == 0 {
					wirePagedOp(cctx, st, r, check)
				} else {
					wireOp(cctx, st, r, check)
				}
			})
			// Watchers beyond the bounds: three per principal, each
			// watching for a few milliseconds at a time.
			var refused sync.Map
			for w := range 9 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(100+w), uint64(time.Now().UnixNano())))
					st := clients[w%len(clients)]
					for ctx.Err() == nil {
						wctx, wcancel := context.WithTimeout(ctx, time.Duration(2+r.IntN(40))*time.Millisecond)
						for _, err := range st.Watch(wctx, storage.InNamespace("ca")) {
							if err != nil {
								if !errors.Is(err, wctx.Err()) || wctx.Err() == nil {
									refused.Store(routes.CodeOf(err), true)
									log.typed("watch", err, wctx.Err() != nil, streams)
								}
								break
							}
						}
						wcancel()
					}
				})
			}
			wg.Go(func() {
				select {
				case <-time.After(d/2 + time.Duration(rand.Int64N(int64(d/4)))):
				case <-ctx.Done():
				}
				if err := s.inner.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			wg.Wait()
			log.report(t)
			refused.Range(func(k, _ any) bool { t.Logf("watch refused with %v", k); return true })
			// The run's calls may all have ended with its context on a
			// loaded machine before one saw the store closed: a call made
			// now must see it.
			for i, st := range clients {
				if _, err := st.Get(context.Background(), "k", storage.InNamespace("ca")); !errors.Is(err, storage.ErrClosed) || routes.CodeOf(err) != routes.CodeClosed {
					t.Errorf("client %d: a get after the store's Close = %v (code %q), want closed", i, err, routes.CodeOf(err))
				}
			}
		})
	}
}

// TestWireChaosClientClose is TestWireChaos where one of the clients is
// closed at a random point of the run, its calls in flight: that
// client's calls fail with closed (its transactions' with tx_done or
// tx_not_found, Close rolled them back; its watches with closed), or
// succeed; the other client's calls go on, with a race's codes only.
func TestWireChaosClientClose(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServer(t, c, httpapi.Config{})
			stay, closing := newClient(t, s, adminToken), newClient(t, s, adminToken)
			closedOK := append(wireRaceExpected[:len(wireRaceExpected):len(wireRaceExpected)], storage.ErrClosed, storage.ErrTxDone,
				storage.ErrTxNotFound)
			d := 1500 * time.Millisecond
			log := &wireLog{}
			ctx, cancel := context.WithTimeout(t.Context(), d)
			defer cancel()
			var wg sync.WaitGroup
			wireWorkers(ctx, &wg, 6, log, func(w int, _ string) []error {
				if w%2 == 1 {
					return closedOK
				}
				return wireRaceExpected
			}, func(w int, r *rand.Rand, cctx context.Context, check func(string, error)) {
				st := storage.Store(stay)
				if w%2 == 1 {
					st = closing
				}
				if r.IntN(3) == 0 {
					wirePagedOp(cctx, st, r, check)
				} else {
					wireOp(cctx, st, r, check)
				}
			})
			wg.Go(func() {
				select {
				case <-time.After(d/4 + time.Duration(rand.Int64N(int64(d/2)))):
				case <-ctx.Done():
				}
				if err := closing.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			wg.Wait()
			log.report(t)
			// The run's calls may all have ended with its context on a
			// loaded machine before one saw the client closed: a call made
			// now must see it, and the other client go on.
			if _, err := closing.Get(context.Background(), "k"); !errors.Is(err, storage.ErrClosed) {
				t.Errorf("a get on the closed client = %v, want ErrClosed", err)
			}
			if _, err := stay.Get(context.Background(), "k"); err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("a get on the other client = %v", err)
			}
		})
	}
}

// TestWireStreamBoundsReleased: after watchers of three principals
// connected and disconnected at random beyond the server-wide and
// per-principal stream bounds (cancelled before, during and after their
// stream started), every stream they held was given back: each principal
// opens as many streams as it may, and the principals together as many
// as the server takes.
func TestWireStreamBoundsReleased(t *testing.T) {
	c := configs[0]
	s := newServerAuth(t, c.DSN(t), boundsAuthFile, httpapi.Config{MaxStreams: 3, MaxStreamsPerPrincipal: 2})
	var clients []*client.Store
	for _, tok := range boundsTokens {
		clients = append(clients, newClient(t, s, tok))
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 9 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				wctx, wcancel := context.WithTimeout(ctx, time.Duration(r.IntN(20000))*time.Microsecond)
				for _, err := range clients[w%3].Watch(wctx) {
					if err != nil {
						break
					}
				}
				wcancel()
			}
		})
	}
	wg.Go(func() { // changes for the watchers
		for i := 0; ctx.Err() == nil; i++ {
			_ = clients[0].Set(ctx, fmt.Sprint("k", i%10), i)
		}
	})
	wg.Wait()
	// open starts a watch for each client of sts and waits for every one
	// to start; the streams stay open until stop is called.
	open := func(sts ...*client.Store) (started bool, stop func()) {
		wctx, wcancel := context.WithCancel(t.Context())
		var swg sync.WaitGroup
		ok := make(chan bool, len(sts))
		for _, st := range sts {
			swg.Go(func() {
				for _, err := range st.Watch(wctx, storage.OnStart(func(int64) { ok <- true })) {
					if err != nil {
						ok <- false
						return
					}
				}
			})
		}
		started = true
		for range sts {
			started = <-ok && started
		}
		return started, func() { wcancel(); swg.Wait() }
	}
	try := func(what string, sts ...*client.Store) {
		// A stream whose client went away is given back once its
		// handler notices: a moment after.
		deadline := time.Now().Add(5 * time.Second)
		for {
			started, stop := open(sts...)
			stop()
			if started {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: refused 5s after every watcher went away: a stream was not given back", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i, st := range clients {
		try(fmt.Sprintf("principal %d's 2 streams", i), st, st)
	}
	try("3 principals' streams", clients...)
}
