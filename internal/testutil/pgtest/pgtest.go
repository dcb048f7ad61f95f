// Package pgtest gives tests a PostgreSQL schema of their own on the server
// named by STORAGE_TEST_POSTGRES_DSN, dropped when the test ends.
//
//	dsn := pgtest.NewSchema(t, "t") // skips, or fails with CI=true, without a server
//
// .ci/postgres.sh starts such a server and prints its DSN.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvDSN names the variable holding the test server's DSN.
const EnvDSN = "STORAGE_TEST_POSTGRES_DSN"

const howTo = `export STORAGE_TEST_POSTGRES_DSN="$(bash .ci/postgres.sh)"`

// AdminDSN returns the test server's DSN. Without one the test is skipped
// with a message saying how to enable it, or fails when CI=true.
func AdminDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvDSN + " is not set, and CI=true needs the Postgres half: " + howTo)
		}
		t.Skip("Postgres tests skipped: set " + EnvDSN + " to enable them, e.g. " + howTo)
	}
	return dsn
}

// NewSchema creates a fresh schema named prefix_<random>, dropped with
// everything in it when the test ends, and returns a DSN whose search_path
// selects it. extra query parameters are added to the DSN.
func NewSchema(t testing.TB, prefix string, extra ...string) string {
	t.Helper()
	admin := AdminDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	exec(t, admin, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { exec(t, admin, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE") })
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDSN, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func exec(t testing.TB, dsn, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("connect to test Postgres: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Errorf("%s: %v", stmt, err)
	}
}

// EnvBouncerDSN names the variable holding the DSN of a PgBouncer in
// transaction pooling mode in front of the test server (.ci/pgbouncer.sh),
// which forwards every database name to the same name on the server.
const EnvBouncerDSN = "STORAGE_TEST_PGBOUNCER_DSN"

// BouncerDSN returns the DSN of the PgBouncer in front of the test server.
// Without one the test is skipped, or fails when CI=true.
func BouncerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvBouncerDSN)
	if dsn == "" {
		how := howTo + `; export ` + EnvBouncerDSN + `="$(bash .ci/pgbouncer.sh)"`
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvBouncerDSN + " is not set, and CI=true needs the PgBouncer tests: " + how)
		}
		t.Skip("PgBouncer tests skipped: set " + EnvBouncerDSN + " to enable them, e.g. " + how)
	}
	WaitListening(t, dsn, 10*time.Second)
	return dsn
}

// WaitListening waits until something accepts TCP connections at dsn's
// host, for at most wait. .ci/pgbouncer.sh runs the pooler supervised: one
// that exited (Debian 12's PgBouncer does, on a FATAL assertion the chaos
// tests can provoke) is started again within a fraction of a second, and a
// test that begins in that moment waits for it instead of failing.
func WaitListening(t testing.TB, dsn string, wait time.Duration) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", dsn, err)
	}
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing answers at %s after %s: %v (has the pooler exited? .ci/pgbouncer.sh stop prints its restarts)", u.Host, wait, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// EnvReplicaDSN names the variable holding the DSN of a hot standby of the
// test server (.ci/replica.sh), for sqlstore.WithReplica.
const EnvReplicaDSN = "STORAGE_TEST_REPLICA_DSN"

// ReplicaDSN returns the DSN of the standby of the test server with the
// query parameters of primary (a schema's search_path among them), so that
// it reaches the same schema. Without one the test is skipped, or fails
// when CI=true.
func ReplicaDSN(t testing.TB, primary string) string {
	t.Helper()
	dsn := os.Getenv(EnvReplicaDSN)
	if dsn == "" {
		how := howTo + `; export ` + EnvReplicaDSN + `="$(bash .ci/replica.sh)"`
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvReplicaDSN + " is not set, and CI=true needs the standby tests: " + how)
		}
		t.Skip("standby tests skipped: set " + EnvReplicaDSN + " to enable them, e.g. " + how)
	}
	r, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvReplicaDSN, err)
	}
	p, err := url.Parse(primary)
	if err != nil {
		t.Fatalf("parse %s: %v", primary, err)
	}
	p.Host = r.Host
	return p.String()
}

// NewRole creates a fresh login role and a schema of the same name
// (prefix_<random>) that it owns and has for search_path, all dropped when
// the test ends, and returns base with the role as its user and the extra
// query parameters (name, value pairs) added. base is the test server's DSN
// or that of a pooler in front of it: a pooler refuses search_path as a
// startup parameter, and pools by database and user, so a role of its own
// gives a test its own schema and its own pool.
func NewRole(t testing.TB, prefix, base string, extra ...string) string {
	t.Helper()
	admin := AdminDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	id := pgx.Identifier{name}.Sanitize()
	exec(t, admin, "CREATE ROLE "+id+" LOGIN; CREATE SCHEMA "+id+" AUTHORIZATION "+id+
		"; ALTER ROLE "+id+" SET search_path = "+id)
	t.Cleanup(func() { dropRole(t, admin, name) })
	return WithUser(t, base, name, extra...)
}

// dropRole ends the role's sessions and drops its schema and the role.
// pg_terminate_backend only signals: a backend drops its temporary tables
// (the engine's COPY path creates one per server connection) as it exits,
// and until then they keep the role from being dropped (2BP01). So it
// waits for the role's backends to be gone and retries the drop for a
// while.
func dropRole(t testing.TB, admin, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("connect to test Postgres: %v", err)
		return
	}
	defer conn.Close(ctx)
	id := pgx.Identifier{name}.Sanitize()
	terminate := "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = " + quote(name)
	drop := "DROP SCHEMA " + id + " CASCADE; DROP ROLE " + id
	for {
		var n int64
		err := conn.QueryRow(ctx, terminate).Scan(&n)
		if err == nil && n == 0 {
			if _, err = conn.Exec(ctx, drop); err == nil {
				return
			}
		}
		var pgErr *pgconn.PgError
		retry := err == nil || (errors.As(err, &pgErr) && pgErr.Code == "2BP01")
		if !retry || ctx.Err() != nil {
			t.Errorf("%s; %s: %v", terminate, drop, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// WithUser returns dsn with its user replaced by user (no password) and the
// extra query parameters (name, value pairs) added.
func WithUser(t testing.TB, dsn, user string, extra ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	u.User = url.User(user)
	q := u.Query()
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// TerminateWhere kills, every few tens of milliseconds, one backend whose
// column of pg_stat_activity (application_name, usename) is value, from a
// connection of its own, until ctx ends; two times in three one that is
// running a statement or is inside a transaction, when there is one
// (where outcomes are in doubt). It returns how many it killed.
func TerminateWhere(t testing.TB, ctx context.Context, column, value string) int {
	conn, err := pgx.Connect(context.Background(), AdminDSN(t))
	if err != nil {
		t.Error(err)
		return 0
	}
	defer conn.Close(context.Background())
	killed := 0
	for ctx.Err() == nil {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM (
			SELECT pid FROM pg_stat_activity WHERE `+pgx.Identifier{column}.Sanitize()+` = $1 AND pid <> pg_backend_pid()
			ORDER BY (state <> 'idle' AND $2) DESC, random() LIMIT 1) p`, value, mrand.IntN(3) > 0).Scan(&n)
		if err != nil && ctx.Err() == nil {
			t.Errorf("terminate: %v", err)
			return killed
		}
		killed += n
		time.Sleep(time.Duration(5+mrand.IntN(30)) * time.Millisecond)
	}
	return killed
}

// MissingSchemaDSN returns the test server's DSN with a search_path that
// names no schema that exists.
func MissingSchemaDSN(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(AdminDSN(t))
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDSN, err)
	}
	q := u.Query()
	q.Set("search_path", "no_such_schema")
	u.RawQuery = q.Encode()
	return u.String()
}
