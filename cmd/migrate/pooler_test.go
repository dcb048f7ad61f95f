package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
	"github.com/mycelia-kernel/storage/schema"
)

// TestPoolerRefused: migrate pointed at a connection pooler (PgBouncer in
// transaction pooling mode) refuses, in one line wrapping
// storage.ErrInvalidOption, before it writes anything. Through one, the
// migrations' session-level advisory lock serializes nothing (a lock taken
// on one server connection is re-entered by the next migrator the pooler
// hands that connection to: two concurrent ups both applied 00001, one
// failing with "relation namespaces already exists"), and pgx's default
// statement cache fails at random with "prepared statement … already
// exists" (42P05) in the driver's words.
func TestPoolerRefused(t *testing.T) {
	for _, mode := range []string{"cache_statement", "exec"} {
		t.Run(mode, func(t *testing.T) {
			dsn := pgtest.NewRole(t, "mp", pgtest.BouncerDSN(t), "default_query_exec_mode", mode)
			for _, cmd := range []string{"up", "version", "status", "down"} {
				r := runCLI(t, nil, "--dsn", dsn, cmd)
				if r.code != exitFailure || strings.Count(r.stderr, "\n") != 1 ||
					!strings.Contains(r.stderr, ": storage: invalid option: ") || !strings.Contains(r.stderr, "pooler") {
					t.Errorf("migrate %s through a pooler: exit %d\nstdout: %s\nstderr: %s\nwant exit %d and one line: storage: invalid option: … pooler …",
						cmd, r.code, r.stdout, r.stderr, exitFailure)
				}
				j := runCLI(t, nil, "--json", "--dsn", dsn, cmd)
				if m := decode(t, j.stdout); j.code != exitFailure || m["ok"] != false {
					t.Errorf("migrate --json %s through a pooler: exit %d, %v", cmd, j.code, m)
				}
			}
			// Nothing was written: the role's schema has no version table.
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			db := openDB(t, pgtest.WithUser(t, pgtest.AdminDSN(t), u.User.Username()))
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = $1`, u.User.Username()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("the role's schema has %d table(s) after the refused runs, want none (%s)", n, schema.VersionTable)
			}
		})
	}
}
