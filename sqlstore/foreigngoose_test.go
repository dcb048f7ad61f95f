package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/schema"
)

// TestOpenForeignGooseVersions: a database where another program that
// migrates with goose keeps its versions in goose's default table (dated
// versions, 20240101 and 20240102, none of the engine's: its own tables) is at a version
// above every migration this build knows, and Open says so as it does for
// a newer build's schema: ErrUnsupported alone, nothing created. It was
// ErrUnavailable ("the database refused to open the store (a migration or
// a check of its schema failed)"), which calls a permanent condition
// retryable, because goose's Up failed first on the engine's migrations
// being "missing" below the table's highest version.
func TestOpenForeignGooseVersions(t *testing.T) {
	for _, c := range configs[1:] {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			dsn := c.dsn(t)
			db := rawDB(t, dsn)
			other := fstest.MapFS{
				"20240101_customers.sql": {Data: []byte("-- +goose Up\nCREATE TABLE customers (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE customers;\n")},
				"20240102_orders.sql":    {Data: []byte("-- +goose Up\nCREATE TABLE orders (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE orders;\n")},
			}
			gd := goose.DialectSQLite3
			if !strings.HasPrefix(dsn, "sqlite:") {
				gd = goose.DialectPostgres
			}
			p, err := goose.NewProvider(gd, db, other, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatal(err)
			}
			for _, opts := range [][]Option{nil, {WithoutMigrate()}} {
				s, err := Open(ctx, dsn, opts...)
				if err == nil {
					_ = s.Close()
					t.Fatal("Open succeeded")
				}
				wantSentinel(t, "Open", err, storage.ErrUnsupported)
				if !strings.Contains(err.Error(), "newer than this build knows") {
					t.Errorf("Open (%d options): %q does not say the schema is newer", len(opts), err)
				}
			}
			var n int
			q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
			if !strings.HasPrefix(dsn, "sqlite:") {
				q = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`
			}
			if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 3 {
				t.Errorf("the database has %d tables after the refused Open, want the other program's 3 (%s, customers, orders)", n, schema.VersionTable)
			}
		})
	}
}

// rawDB opens dsn's database with database/sql, to set it up and look
// behind the engine.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	var db *sql.DB
	if p, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		var err error
		if db, err = sql.Open("sqlite", "file:"+p+"?_pragma=busy_timeout(5000)"); err != nil {
			t.Fatal(err)
		}
	} else {
		pc, err := pgxpool.ParseConfig(dsn) // takes the pool's parameters
		if err != nil {
			t.Fatal(err)
		}
		db = stdlib.OpenDB(*pc.ConnConfig)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
