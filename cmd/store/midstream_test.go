//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/cmdline"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestJSONListingFailsAfterFirstPage: list, query and ns list --json
// print their first page before they read the next, so a failure after it
// must still end one valid object, with "ok": false, the error, its "code"
// and the "exitCode" the process exits with: for a namespace deleted
// under the listing, not found (3); for Ctrl-C, 130 (the "exitCode" of a
// failure that fail prints, cmdline.ExitCodeFor; the streamed answer said
// 1 while the process exited 130).
func TestJSONListingFailsAfterFirstPage(t *testing.T) {
	defer func(n int) { readPage = n }(readPage)
	readPage = 2
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	bg := context.Background()
	s, err := sqlstore.Open(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	check := checkFailedListing(t)
	// Ctrl-C after the first page, as main runs: the answer's exitCode is
	// the one main exits with.
	for _, args := range [][]string{{"list", "-n", "a"}, {"query", "-n", "a"}, {"ns", "list"}} {
		for _, n := range []string{"a1", "a2", "a3"} {
			if err := s.Set(bg, n, n, storage.InNamespace("a")); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateNamespace(bg, n); err != nil && !errors.Is(err, storage.ErrNamespaceExists) {
				t.Fatal(err)
			}
		}
		ctx, sig := cmdline.NotifySignals(bg)
		w := &onText{text: `"a2"`, fn: func() {
			if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
				t.Error(err)
			}
			<-ctx.Done()
		}}
		var e strings.Builder
		code := run(ctx, append([]string{"--dsn", dsn, "--json"}, args...), strings.NewReader(""), w, &e, func(string) string { return "" })
		sig.Stop()
		code = sig.ExitCode(code)
		check(strings.Join(args, " ")+", Ctrl-C after the first page", w.buf.String(), code, 130, "canceled")
	}
}

// onText is a writer that calls fn once what was written holds text: a
// listing's first page has been printed.
type onText struct {
	text string
	fn   func()
	done bool
	buf  strings.Builder
}

func (w *onText) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.text) {
		w.done = true
		w.fn()
	}
	return n, err
}

// checkFailedListing returns a check of a --json listing that failed after
// its first page: one JSON object, "ok" false, an error, the wire code
// wantWire and "exitCode" the exit status, wantCode.
func checkFailedListing(t *testing.T) func(what, out string, code, wantCode int, wantWire string) {
	type answer struct {
		Command  string
		OK       *bool
		Error    string
		Code     string
		ExitCode *int
	}
	return func(what string, out string, code int, wantCode int, wantWire string) {
		t.Helper()
		var a answer
		if err := json.Unmarshal([]byte(out), &a); err != nil {
			t.Errorf("%s: not one JSON object (%v):\n%s", what, err, out)
			return
		}
		if code != wantCode || a.OK == nil || *a.OK || a.Error == "" || a.Code != wantWire ||
			a.ExitCode == nil || *a.ExitCode != code {
			t.Errorf("%s: exit %d, answer ok %v, error %q, code %q, exitCode %v; want exit %d, ok false, code %q and exitCode the exit status\n%s",
				what, code, a.OK, a.Error, a.Code, a.ExitCode, wantCode, wantWire, out)
		}
	}
}

// TestPGJSONListingFailsAfterFirstPage: a PostgreSQL server that goes away
// after a --json listing's first page (the role's sessions ended, its
// login refused) ends the streamed answer with "ok": false, the code
// unavailable and the exit status, 1.
func TestPGJSONListingFailsAfterFirstPage(t *testing.T) {
	defer func(n int) { readPage = n }(readPage)
	readPage = 2
	admin := pgtest.AdminDSN(t)
	dsn := pgtest.NewRole(t, "ms", admin, "connect_timeout", "2")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	role := u.User.Username()
	bg := context.Background()
	s, err := sqlstore.Open(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
		if err := s.Set(bg, k, k); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	db, err := pgx.Connect(bg, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close(bg) }()
	id := pgx.Identifier{role}.Sanitize()
	check := checkFailedListing(t)
	for _, args := range [][]string{{"list"}, {"query"}} {
		if _, err := db.Exec(bg, "ALTER ROLE "+id+" LOGIN"); err != nil {
			t.Fatal(err)
		}
		w := &onText{text: `"k2"`, fn: func() {
			// The server goes away for this role: its sessions end and
			// it may not log in again.
			if _, err := db.Exec(bg, "ALTER ROLE "+id+" NOLOGIN"); err != nil {
				t.Error(err)
			}
			if _, err := db.Exec(bg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role); err != nil {
				t.Error(err)
			}
		}}
		var e strings.Builder
		code := run(bg, append([]string{"--dsn", dsn, "--json"}, args...), strings.NewReader(""), w, &e, func(string) string { return "" })
		if !strings.Contains(w.buf.String(), `"k1"`) {
			t.Errorf("%v: the first page was not printed:\n%s", args, w.buf.String())
		}
		check(strings.Join(args, " ")+", the server gone after the first page", w.buf.String(), code, exitFailure, "unavailable")
	}
}
