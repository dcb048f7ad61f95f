package main

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
)

// TestBehindPooler: storeserver serves a PostgreSQL database behind a
// connection pooler in transaction mode (PgBouncer) given the server's
// own address for the migrations and the change feed's LISTEN, with
// --direct-dsn or STORAGE_DIRECT_DSN (as the store command does): it
// starts, writes and reads, and a watch sees a change. Before, it had
// neither, and refused to start (exit 2, invalid option: the DSN reaches
// the server through a connection pooler).
func TestBehindPooler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	dsn := pgtest.NewRole(t, "sb", pgtest.BouncerDSN(t), "default_query_exec_mode", "exec")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	direct := pgtest.WithUser(t, pgtest.AdminDSN(t), u.User.Username())
	bin := buildServer(t)
	auth := writeAuthFile(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", nil, []string{"--dsn", dsn, "--direct-dsn", direct}},
		{"environment", []string{"STORAGE_DSN=" + dsn, "STORAGE_DIRECT_DSN=" + direct}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startEnv(t, bin, tc.env, append(tc.args, "--auth", auth)...)
			admin := s.client(t, adminToken)
			ns := storage.InNamespace("pooled")
			ctx := t.Context()
			if err := admin.Set(ctx, "k", tc.name, ns); err != nil {
				t.Fatalf("Set: %v\n%s", err, s.log())
			}
			if e, err := admin.Get(ctx, "k", ns); err != nil || string(e.Value) != `"`+tc.name+`"` {
				t.Fatalf("Get: %v %v", e.Value, err)
			}
			// A watch from now on sees the next change (the feed listens
			// on the direct connection).
			started := make(chan int64, 1)
			got := make(chan error, 1)
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			go func() {
				for ev, err := range admin.Watch(wctx, ns, storage.OnStart(func(r int64) { started <- r })) {
					if err != nil {
						got <- err
						return
					}
					if ev.Key == "next" {
						got <- nil
						return
					}
				}
				got <- wctx.Err()
			}()
			select {
			case <-started:
			case err := <-got:
				t.Fatalf("the watch ended before it started: %v\n%s", err, s.log())
			}
			if err := admin.Set(ctx, "next", 1, ns); err != nil {
				t.Fatal(err)
			}
			if err := <-got; err != nil {
				t.Fatalf("the watch did not see the change: %v\n%s", err, s.log())
			}
			if code := s.stop(t); code != 0 {
				t.Fatalf("exit %d after SIGTERM:\n%s", code, s.log())
			}
		})
	}
}
