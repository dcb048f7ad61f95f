package main

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
)

// TestPoolerNeedsDirectDSN: store pointed at a connection pooler in
// transaction mode refuses to migrate through it (exit 2,
// storage.ErrInvalidOption, naming --direct-dsn), and works with
// --direct-dsn, the server's own address, for the migrations; then
// --no-migrate, which only reads the schema's version, works without it.
// There was no --direct-dsn: the CLI migrated through the pooler, where
// the migrations' advisory lock serializes nothing.
func TestPoolerNeedsDirectDSN(t *testing.T) {
	dsn := pgtest.NewRole(t, "sp", pgtest.BouncerDSN(t), "default_query_exec_mode", "exec")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	direct := pgtest.WithUser(t, pgtest.AdminDSN(t), u.User.Username())
	r := runCLI(t, nil, "", "--dsn", dsn, "set", "k", "1")
	if r.code != exitUsage || !strings.Contains(r.stderr, "invalid option") || !strings.Contains(r.stderr, "--direct-dsn") {
		t.Errorf("store set through a pooler: exit %d\nstderr: %s\nwant exit %d: invalid option … --direct-dsn", r.code, r.stderr, exitUsage)
	}
	runCLI(t, nil, "", "--dsn", dsn, "--direct-dsn", direct, "set", "k", "1").want(t, exitOK)
	r = runCLI(t, nil, "", "--dsn", dsn, "--no-migrate", "get", "k").want(t, exitOK)
	if !strings.Contains(r.stdout, "1") {
		t.Errorf("get through the pooler: %q", r.stdout)
	}
}

// TestDirectDSNFromEnvironment: --direct-dsn has its environment variable,
// STORAGE_DIRECT_DSN, as --dsn has STORAGE_DSN: with the DSN of a pooler
// in STORAGE_DSN, the server's own address in STORAGE_DIRECT_DSN migrates
// (a deployment that configures the CLI by its environment gave the one
// and could not give the other: exit 2, --direct-dsn needed); the flag
// wins over the variable.
func TestDirectDSNFromEnvironment(t *testing.T) {
	dsn := pgtest.NewRole(t, "se", pgtest.BouncerDSN(t), "default_query_exec_mode", "exec")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	direct := pgtest.WithUser(t, pgtest.AdminDSN(t), u.User.Username())
	env := map[string]string{"STORAGE_DSN": dsn, "STORAGE_DIRECT_DSN": direct}
	r := runCLI(t, env, "", "set", "k", "1")
	if r.code != exitOK {
		t.Fatalf("store set with STORAGE_DSN a pooler's and STORAGE_DIRECT_DSN the server's: exit %d\nstderr: %s", r.code, r.stderr)
	}
	// The flag wins: a --direct-dsn that reaches another database is
	// refused by Open's check, whatever the variable says.
	other := pgtest.WithUser(t, pgtest.AdminDSN(t), "postgres")
	if r := runCLI(t, env, "", "--direct-dsn", other, "set", "k", "2"); r.code == exitOK {
		t.Errorf("store --direct-dsn (another schema) with STORAGE_DIRECT_DSN set: exit 0, the flag was ignored\nstderr: %s", r.stderr)
	}
}

// TestDirectDSNEnvironmentSQLite: STORAGE_DIRECT_DSN, a PostgreSQL
// setting, is left aside for a SQLite --dsn (a shell that exports it for
// its PostgreSQL store may still work on a local file), while
// --direct-dsn given with one stays a mistake (exit 2).
func TestDirectDSNEnvironmentSQLite(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	env := map[string]string{"STORAGE_DIRECT_DSN": "postgres://app@db:5432/app"}
	if r := runCLI(t, env, "", "--dsn", dsn, "set", "k", "1"); r.code != exitOK {
		t.Errorf("store --dsn sqlite:… set with STORAGE_DIRECT_DSN set: exit %d\nstderr: %s", r.code, r.stderr)
	}
	runCLI(t, nil, "", "--dsn", dsn, "--direct-dsn", "postgres://app@db:5432/app", "get", "k").want(t, exitUsage)
}
