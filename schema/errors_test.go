package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"

	"github.com/mycelia-kernel/storage"
)

// wantSentinel fails unless err wraps want and no other storage sentinel,
// says nothing of the driver's (its words in driverText), and still
// leads errors.As to the driver's error when driverErr is set.
func wantSentinel(t *testing.T, what string, err, want error, driverErr bool, driverText ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	var got []error
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			got = append(got, s)
		}
	}
	if len(got) != 1 || !errors.Is(got[0], want) {
		t.Errorf("%s: %v wraps %v, want %v alone", what, err, got, want)
	}
	for _, w := range driverText {
		if strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q carries the driver's text %q", what, err, w)
		}
	}
	if driverErr {
		var se *sqlite.Error
		var pe *pgconn.PgError
		if !errors.As(err, &se) && !errors.As(err, &pe) {
			t.Errorf("%s: %v: errors.As finds no driver error", what, err)
		}
	}
}

// tables lists the database's tables (PostgreSQL: the current schema's;
// SQLite: not its own, such as sqlite_sequence, which AUTOINCREMENT
// creates and nothing drops).
func tables(t *testing.T, d Dialect, db *sql.DB) []string {
	t.Helper()
	q := `SELECT coalesce(group_concat(name, ','), '') FROM (SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name)`
	if d == Postgres {
		q = `SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') FROM pg_tables WHERE schemaname = current_schema()`
	}
	var names string
	if err := db.QueryRow(q).Scan(&names); err != nil {
		t.Fatal(err)
	}
	return strings.Split(names, ",")
}

func openFresh(t *testing.T, d Dialect) *sql.DB {
	if d == Postgres {
		return openPostgres(t)
	}
	return openSQLite(t, filepath.Join(t.TempDir(), "app.db"))
}

// TestUpForeignTable: another application's database holds a table by one
// of the engine's names. Up fails with ErrCorrupt (permanent, not the
// retryable ErrUnavailable), without the driver's text, and leaves the
// database as it was: no goose version table.
func TestUpForeignTable(t *testing.T) {
	ctx := context.Background()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := openFresh(t, d)
			if _, err := db.Exec(`CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT)`); err != nil {
				t.Fatal(err)
			}
			_, err := Up(ctx, d, db)
			wantSentinel(t, "Up", err, storage.ErrCorrupt, true, "already exists")
			if got := tables(t, d, db); !slices.Equal(got, []string{"entries"}) {
				t.Errorf("tables after the failed Up = %v, want only the application's [entries]", got)
			}
			if d == SQLite {
				var n int
				if err := db.QueryRow(`SELECT count(*) FROM sqlite_sequence`).Scan(&n); err != nil || n != 0 {
					t.Errorf("sqlite_sequence holds %d rows (%v), want none", n, err)
				}
			}
			// The same through a Migrator: its MigrationError wraps the
			// sentinel too, and every method leaves the database as it was.
			migratorLeavesNothing(t, d, db)
		})
	}
}

// TestMigrationErrorsWrapSentinels: a schema newer than the build, a
// migration lock held past the timeout, a migration the database refuses,
// a missing privilege: each wraps exactly one storage sentinel.
func TestMigrationErrorsWrapSentinels(t *testing.T) {
	ctx := context.Background()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			var path string
			var db *sql.DB
			if d == Postgres {
				db = openPostgres(t)
			} else {
				path = filepath.Join(t.TempDir(), "app.db")
				db = openSQLite(t, path)
			}

			// A failed migration (a WithFS one the database refuses).
			fsys := withExtra(t, d, map[string]string{
				"09001_bad.sql": "-- +goose Up\nINSERT INTO missing_table VALUES (1);\n-- +goose Down\nSELECT 1;\n",
			})
			m, err := NewMigrator(d, db, WithFS(fsys))
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Up(ctx)
			wantSentinel(t, "failed migration", err, storage.ErrCorrupt, true)
			_, err = Up(ctx, d, db, WithFS(fsys))
			wantSentinel(t, "Up of a failed migration", err, storage.ErrCorrupt, true, "missing_table")

			// A schema newer than the build.
			if _, err := db.Exec(fmt.Sprintf(`INSERT INTO %s (version_id, is_applied) VALUES (99999, true)`, VersionTable)); err != nil {
				t.Fatal(err)
			}
			m, err = NewMigrator(d, db)
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Up(ctx)
			wantSentinel(t, "newer schema", err, storage.ErrUnsupported, false)
			if !errors.Is(err, ErrSchemaNewer) {
				t.Errorf("newer schema: %v does not wrap ErrSchemaNewer", err)
			}
			if _, err := db.Exec(fmt.Sprintf(`DELETE FROM %s WHERE version_id = 99999`, VersionTable)); err != nil {
				t.Fatal(err)
			}

			// The migration lock held by another migrator past the timeout.
			if d == SQLite {
				holdLock(t, path)
			} else {
				id, err := postgresLockID(db)
				if err != nil {
					t.Fatal(err)
				}
				conn, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, id); err != nil {
					t.Fatal(err)
				}
			}
			_, err = Up(ctx, d, db, WithFS(fsys), WithLockTimeout(100*time.Millisecond))
			wantSentinel(t, "lock timeout", err, storage.ErrUnavailable, false, "failed to acquire lock", "failed to initialize")
		})
	}
}

// TestUpForeignGooseVersions: another program's dated versions in goose's
// table (its migrations are unknown to this build, the engine's "missing"
// below them): Up fails with ErrUnsupported, not goose's text.
func TestUpForeignGooseVersions(t *testing.T) {
	ctx := context.Background()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := openFresh(t, d)
			gd, _, err := d.source()
			if err != nil {
				t.Fatal(err)
			}
			other := fstest.MapFS{"20240101_customers.sql": {Data: []byte(
				"-- +goose Up\nCREATE TABLE customers (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE customers;\n")}}
			p, err := goose.NewProvider(gd, db, other, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatal(err)
			}
			_, err = Up(ctx, d, db)
			wantSentinel(t, "Up", err, storage.ErrUnsupported, false, "missing")
		})
	}
}

// TestUpPermissionDenied: a role that may not create tables in the
// database's schema (PostgreSQL 15's default for public) gets
// ErrUnavailable, as the engine reports a missing privilege, not goose's
// or the server's text.
func TestUpPermissionDenied(t *testing.T) {
	dsn := postgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	role := fmt.Sprintf("schema_test_role_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec(`CREATE ROLE ` + role + ` LOGIN`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP ROLE IF EXISTS ` + role); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	if _, err := admin.Exec(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Up(context.Background(), Postgres, db)
	_ = db.Close() // before the test's database is dropped
	wantSentinel(t, "permission denied", err, storage.ErrUnavailable, true, "permission denied", "SQLSTATE")
}
