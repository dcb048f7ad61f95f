package soak

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// eachDialect runs run on a SQLite file and, with
// STORAGE_TEST_POSTGRES_DSN, on PostgreSQL database db (STORAGE_SOAK_DB
// instead when set), which it drops and creates; STORAGE_SOAK_DIALECT
// (sqlite or postgres) picks one. run gets the store's DSN, the SQLite
// file ("" on PostgreSQL) and the database's DSN for the sampler (""
// on SQLite).
func eachDialect(t *testing.T, db string, run func(t *testing.T, dsn, path, pgdsn string)) {
	only := os.Getenv("STORAGE_SOAK_DIALECT")
	if only == "" || only == "sqlite" {
		t.Run("sqlite", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "soak.db")
			run(t, "sqlite:"+path, path, "")
		})
	}
	if only == "" || only == "postgres" {
		t.Run("postgres", func(t *testing.T) {
			dsn := os.Getenv("STORAGE_TEST_POSTGRES_DSN")
			if dsn == "" {
				t.Skip("no STORAGE_TEST_POSTGRES_DSN")
			}
			sdsn := freshDatabase(t, dsn, db)
			run(t, sdsn+"&pool_max_conns=12", "", sdsn)
		})
	}
}

// freshDatabase drops and creates PostgreSQL database db (STORAGE_SOAK_DB
// instead when set) on the server of dsn, a DSN of its postgres database,
// and returns the DSN of db.
func freshDatabase(t *testing.T, dsn, db string) string {
	if v := os.Getenv("STORAGE_SOAK_DB"); v != "" {
		db = v
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	id := pgx.Identifier{db}.Sanitize()
	_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)")
	if _, err := c.Exec(ctx, "CREATE DATABASE "+id); err != nil {
		t.Fatal(err)
	}
	_ = c.Close(ctx)
	return strings.Replace(dsn, "/postgres?", "/"+db+"?", 1)
}

// procStats are the process's resident set (as /proc says it, "" when
// unknown), its open fds (-1 when unknown) and the machine's load average.
func procStats() (rss string, fds int, load string) {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				rss = strings.ReplaceAll(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), " ", "")
			}
		}
	}
	fds = -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return rss, fds, load
}

// serve runs storeserver's stack in process (security, routes, httpapi)
// over s, anonymous requests allowed scopes, and returns its policy, its
// server and a Go client of it.
func serve(t *testing.T, s *sqlstore.Store, scopes map[string]string, cfg httpapi.Config) (*security.Policy, *httptest.Server, *client.Store) {
	t.Helper()
	mux := routes.NewMux()
	policy := security.NewPolicy()
	if err := policy.ApplyAnonymous(security.Profile{Name: "anon", Scopes: scopes}); err != nil {
		t.Fatal(err)
	}
	routes.Register(mux, security.NewStore(s, policy, security.AllowAnonymous()))
	cfg.AllowAnonymous = true
	srv := httptest.NewServer(httpapi.NewHandler(mux, cfg))
	tr, err := httpapi.NewTransport(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(context.Background(), tr)
	if err != nil {
		t.Fatal(err)
	}
	return policy, srv, cl
}

// runner runs the load's loops until its context ends and counts what
// they did and the errors they met.
type runner struct {
	ctx context.Context
	ops *atomic.Int64
	wg  sync.WaitGroup

	mu    sync.Mutex // protects errs and kinds
	errs  map[string]int
	kinds map[string]int
}

func newRunner(ctx context.Context, ops *atomic.Int64) *runner {
	return &runner{ctx: ctx, ops: ops, errs: map[string]int{}, kinds: map[string]int{}}
}

// note counts an operation of kind and its error, if any, unless the
// load's end caused it.
func (ru *runner) note(kind string, err error) {
	ru.ops.Add(1)
	ru.mu.Lock()
	defer ru.mu.Unlock()
	ru.kinds[kind]++
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || ru.ctx.Err() != nil {
		return
	}
	k := kind + ": " + err.Error()
	if len(k) > 160 {
		k = k[:160]
	}
	ru.errs[k]++
}

// loop runs f until the load ends, in a goroutine of its own.
func (ru *runner) loop(name string, f func(r *rand.Rand)) {
	ru.wg.Add(1)
	go func() {
		defer ru.wg.Done()
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(len(name))))
		for ru.ctx.Err() == nil {
			f(r)
		}
	}()
}

// report logs the operations and errors counted, and writes the
// goroutines' stacks to $TMPDIR/<prefix>-stacks-<dialect>.txt.
func (ru *runner) report(t *testing.T, prefix string) {
	ru.mu.Lock()
	t.Logf("OPS %v", ru.kinds)
	for k, n := range ru.errs {
		t.Logf("ERR %6d %s", n, k)
	}
	ru.mu.Unlock()
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	_ = os.WriteFile(filepath.Join(os.TempDir(), prefix+"-stacks-"+filepath.Base(t.Name())+".txt"), buf[:n], 0o644)
}

// soakValue is a random value: an indexed number n, a tag of 20, a
// string of up to 300 bytes, and one of 50 sparse fields.
func soakValue(r *rand.Rand) map[string]any {
	return map[string]any{"n": r.IntN(10000), "tag": fmt.Sprintf("t%d", r.IntN(20)), "s": strings.Repeat("x", r.IntN(300)),
		"f" + strconv.Itoa(r.IntN(50)): r.IntN(100)}
}

// soakKey is one of 20,000 keys.
func soakKey(r *rand.Rand) string { return fmt.Sprintf("k%05d", r.IntN(20000)) }

// soakItems is a batch of n random items.
func soakItems(r *rand.Rand, n int) []storage.Item {
	its := make([]storage.Item, n)
	for j := range its {
		its[j] = storage.Item{Key: soakKey(r), Value: soakValue(r)}
	}
	return its
}

// writers starts the loops of writes to st in namespaces nss: Set, a
// quarter with a TTL of 1-5 s (expiring and swept all along), SetMany
// of 20 and Delete; and transactions, committed, rolled back and (1 in
// 20, counted in abandoned when not nil) abandoned to the idle timeout.
func (ru *runner) writers(pre string, st storage.Store, nss []string, abandoned *atomic.Int64) {
	ctx, note := ru.ctx, ru.note
	ru.loop("set"+pre, func(r *rand.Rand) {
		ns := nss[r.IntN(len(nss))]
		opts := []storage.Option{storage.InNamespace(ns)}
		if r.IntN(4) == 0 {
			opts = append(opts, storage.WithTTL(time.Duration(1+r.IntN(5))*time.Second))
		}
		switch r.IntN(8) {
		case 0:
			_, err := st.SetMany(ctx, soakItems(r, 20), opts...)
			note("setmany", err)
		case 1:
			err := st.Delete(ctx, soakKey(r), storage.InNamespace(ns))
			if errors.Is(err, storage.ErrNotFound) {
				err = nil
			}
			note("delete", err)
		default:
			note("set", st.Set(ctx, soakKey(r), soakValue(r), opts...))
		}
		time.Sleep(time.Duration(r.IntN(5)) * time.Millisecond)
	})
	ru.loop("tx"+pre, func(r *rand.Rand) {
		tx, err := st.Begin(ctx, storage.TxOptions{})
		if err != nil {
			note("begin", err)
			time.Sleep(50 * time.Millisecond)
			return
		}
		ns := nss[r.IntN(len(nss))]
		for j := 0; j < 1+r.IntN(4); j++ {
			note("txset", tx.Set(ctx, soakKey(r), soakValue(r), storage.InNamespace(ns)))
		}
		switch r.IntN(20) {
		case 0:
			// abandoned: the idle timeout must reap it
			if abandoned != nil {
				abandoned.Add(1)
			}
		case 1, 2, 3, 4:
			note("rollback", tx.Rollback(ctx))
		default:
			err := tx.Commit(ctx)
			if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrTxConflict) {
				err = nil
			}
			note("commit", err)
		}
		time.Sleep(time.Duration(r.IntN(50)) * time.Millisecond)
	})
}

// indexChurn starts the loop that creates an index on one of nss (with
// data) and drops it 0.5-2.5 s later, counted in n when not nil.
func (ru *runner) indexChurn(s *sqlstore.Store, nss []string, n *atomic.Int64) {
	ru.loop("index", func(r *rand.Rand) {
		ns := nss[r.IntN(len(nss))]
		f := []string{"tag", "f1", "f2", fmt.Sprintf("f%d", r.IntN(50))}[r.IntN(4)]
		err := s.CreateIndex(ru.ctx, ns, f)
		if errors.Is(err, storage.ErrConflict) {
			err = nil
		}
		ru.note("createindex", err)
		if n != nil {
			n.Add(1)
		}
		time.Sleep(time.Duration(500+r.IntN(2000)) * time.Millisecond)
		err = s.DropIndex(ru.ctx, ns, f)
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
			err = nil
		}
		ru.note("dropindex", err)
	})
}

// samplerDB opens the sampler's own connection to the database: the
// SQLite file read-only when path is set, else PostgreSQL at pgdsn. The
// test's cleanup closes it.
func samplerDB(t *testing.T, path, pgdsn string) (*sql.DB, *pgx.Conn) {
	t.Helper()
	if path != "" {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { _ = db.Close() })
		return db, nil
	}
	c, err := pgx.Connect(context.Background(), pgdsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return nil, c
}
