package httpapi_test

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/routes"
)

// wireLog checks the errors a client gets during a chaos run.
type wireLog struct {
	mu     sync.Mutex
	counts map[string]int
	bad    []string
}

// typed records err: it must carry a wire code that is one of the
// sentinels allowed (or, when ctxOK, be the context's error), never
// internal, never the driver's text.
func (l *wireLog) typed(what string, err error, ctxOK bool, allowed []error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	code := routes.CodeOf(err)
	l.counts[code]++
	if (code == routes.CodeCanceled || code == routes.CodeDeadlineExceeded) && ctxOK {
		return
	}
	ok := false
	for _, s := range allowed {
		ok = ok || errors.Is(err, s)
	}
	if !ok || code == routes.CodeInternal {
		l.bad = append(l.bad, fmt.Sprintf("%s: %q (code %s)", what, err, code))
	}
	for _, leak := range []string{"SQLSTATE", "failed to connect", "sql: ", "(SQLITE_", "pgx", "pq: "} {
		if strings.Contains(err.Error(), leak) {
			l.bad = append(l.bad, fmt.Sprintf("%s: %q carries driver text %q", what, err, leak))
		}
	}
}

// wireOp runs one random operation through the client st.
func wireOp(ctx context.Context, st storage.Store, r *rand.Rand, check func(string, error)) {
	ns := []string{"ca", "cb"}[r.IntN(2)]
	in := storage.InNamespace(ns)
	key := func() string { return fmt.Sprintf("k%d", r.IntN(30)) }
	idx, _ := st.(storage.Indexer)
	switch r.IntN(16) {
	case 0:
		check("set", st.Set(ctx, key(), map[string]int{"v": r.IntN(5)}, in))
	case 1:
		_, err := st.Get(ctx, key(), in)
		check("get", err)
	case 2:
		check("delete", st.Delete(ctx, key(), in))
	case 3:
		res, err := st.SetMany(ctx, []storage.Item{{Key: key(), Value: 1}, {Key: key(), Value: 2}}, in, storage.Atomic())
		check("setMany", err)
		for _, kr := range res.Results {
			check("setMany key", kr.Err)
		}
	case 4:
		_, err := st.Query(ctx, storage.Eq("v", r.IntN(5)), in, storage.Limit(5))
		check("query", err)
		_, err = st.Count(ctx, in)
		check("count", err)
		_, err = st.List(ctx, in, storage.Limit(5))
		check("list", err)
	case 5:
		tx, err := st.Begin(ctx, storage.TxOptions{Isolation: storage.IsolationLevel(r.IntN(int(storage.LevelSerializable) + 1))})
		check("begin", err)
		if err != nil {
			return
		}
		_, err = tx.Get(ctx, key(), in)
		if errors.Is(err, storage.ErrNotFound) {
			err = nil
		}
		if err == nil {
			err = tx.Set(ctx, key(), map[string]int{"v": 1}, in)
		}
		if err == nil {
			_, err = tx.Count(ctx, in)
		}
		check("tx op", err)
		if err != nil {
			if rerr := tx.Rollback(context.Background()); rerr != nil && !errors.Is(rerr, storage.ErrTxDone) && !errors.Is(rerr, storage.ErrTxNotFound) {
				check("rollback", rerr)
			}
			return
		}
		check("commit", tx.Commit(ctx))
	case 6:
		check("createNamespace", st.CreateNamespace(ctx, ns, storage.WithIndexes("v")))
	case 7:
		check("deleteNamespace", st.DeleteNamespace(ctx, ns, storage.Recursive()))
	case 8:
		check("clear", st.Clear(ctx, in))
	case 9:
		if idx != nil {
			check("createIndex", idx.CreateIndex(ctx, ns, "v"))
		}
	case 10:
		if idx != nil {
			check("dropIndex", idx.DropIndex(ctx, ns, "v"))
		}
	case 11:
		if h, ok := st.(storage.Historian); ok {
			_, err := h.History(ctx, key(), in)
			check("history", err)
		}
	case 12:
		w, ok := st.(storage.Watcher)
		if !ok {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, time.Duration(5+r.IntN(30))*time.Millisecond)
		defer cancel()
		for _, err := range w.Watch(wctx, in) {
			if err != nil {
				if wctx.Err() == nil || !errors.Is(err, wctx.Err()) {
					check("watch", err)
				}
				break
			}
		}
	case 13:
		_, err := st.ListNamespaces(ctx)
		check("listNamespaces", err)
		_, err = st.Status(ctx)
		check("status", err)
	case 14:
		check("setMetadata", st.SetMetadata(ctx, key(), map[string]int{"m": 1}, in))
		_, err := st.GetMetadata(ctx, key(), in)
		check("getMetadata", err)
	case 15:
		res, err := st.DeleteMany(ctx, []string{key(), key()}, in)
		check("deleteMany", err)
		for _, kr := range res.Results {
			check("deleteMany key", kr.Err)
		}
	}
}

// wireRaceExpected are the sentinels a race between well-formed calls
// may answer on the wire.
var wireRaceExpected = []error{
	storage.ErrNotFound, storage.ErrAlreadyExists, storage.ErrNamespaceNotFound, storage.ErrNamespaceExists,
	storage.ErrNamespaceNotEmpty, storage.ErrIndexExists, storage.ErrIndexNotFound, storage.ErrConflict,
	storage.ErrAborted, storage.ErrTxConflict, storage.ErrWatchLagged, storage.ErrCompacted,
}

// wireChaos runs six clients' workers for d against st, with contexts that
// end at random points, and extra beside them.
func wireChaos(t *testing.T, st storage.Store, d time.Duration, allowed []error, extra func(context.Context)) *wireLog {
	t.Helper()
	log := &wireLog{}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var wg sync.WaitGroup
	wireWorkers(ctx, &wg, 6, log, func(int, string) []error { return allowed },
		func(_ int, r *rand.Rand, cctx context.Context, check func(string, error)) { wireOp(cctx, st, r, check) })
	if extra != nil {
		wg.Go(func() { extra(ctx) })
	}
	wg.Wait()
	return log
}

func (l *wireLog) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("codes: %v", l.counts)
	for i, b := range l.bad {
		if i == 20 {
			t.Errorf("... and %d more", len(l.bad)-20)
			break
		}
		t.Error(b)
	}
}

// TestWireChaos: the calls of the Go client, through the HTTP API, its
// security layer and the engine, from six workers with contexts that end
// at random points, against namespace deletes, clears, index builds and
// drops: every error carries the wire code of a sentinel a race can
// cause, or canceled/deadline_exceeded for the caller's own context, never
// internal nor the driver's text; afterwards no transaction is left open
// on the server (the clients' Begin calls that timed out left some, until
// their idle timeout).
func TestWireChaos(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServer(t, c, httpapi.Config{})
			st := newClient(t, s, adminToken)
			log := wireChaos(t, st, 2*time.Second, wireRaceExpected, nil)
			log.report(t)
			// Every transaction the clients began ends.
			deadline := time.Now().Add(5 * time.Second)
			for s.inner.OpenTransactions() != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := s.inner.OpenTransactions(); n != 0 {
				t.Errorf("%d transactions left open on the server", n)
			}
		})
	}
}

// TestWireChaosTerminate is TestWireChaos on PostgreSQL while another
// connection terminates the server's backends at random: besides the
// races' codes, unavailable and commit_unknown, never internal.
func TestWireChaosTerminate(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	var b [4]byte
	_, _ = crand.Read(b[:])
	app := "wirechaos_" + hex.EncodeToString(b[:])
	s := newServerAuth(t, testdb.Postgres(t, "wire", "pool_max_conns", "8", "application_name", app), authFile, httpapi.Config{})
	st := newClient(t, s, adminToken)
	allowed := append(wireRaceExpected[:len(wireRaceExpected):len(wireRaceExpected)], storage.ErrUnavailable, storage.ErrCommitUnknown)
	killed := 0
	log := wireChaos(t, st, 3*time.Second, allowed, func(ctx context.Context) {
		killed = pgtest.TerminateWhere(t, ctx, "application_name", app)
	})
	t.Logf("%d backends terminated", killed)
	log.report(t)
	if killed == 0 || log.counts[routes.CodeUnavailable]+log.counts[routes.CodeCommitUnknown] == 0 {
		t.Errorf("%d backends terminated, codes %v: the fault did not happen under load", killed, log.counts)
	}
}
