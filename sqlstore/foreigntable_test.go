package sqlstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/schema"
)

// TestOpenForeignTable: Open on another application's database, which
// holds a table by one of the engine's names (entries), fails with
// ErrCorrupt alone (the engine cannot use that database until the table is
// renamed or the store given a database of its own: permanent), not with
// ErrUnavailable (retry later), and leaves nothing behind: not goose's
// version table. Before, Open said ErrUnavailable and left
// goose_db_version in the application's database.
func TestOpenForeignTable(t *testing.T) {
	for _, c := range configs[1:] {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			dsn := c.dsn(t)
			db := rawDB(t, dsn)
			if _, err := db.ExecContext(ctx, `CREATE TABLE entries (id integer PRIMARY KEY, body text)`); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				s, err := Open(ctx, dsn)
				if err == nil {
					_ = s.Close()
					t.Fatal("Open succeeded")
				}
				wantSentinel(t, "Open", err, storage.ErrCorrupt)
				if strings.Contains(err.Error(), "already exists") {
					t.Errorf("Open: %q carries the driver's text", err)
				}
				q := `SELECT coalesce(group_concat(name, ','), '') FROM (SELECT name FROM sqlite_master
					WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name)`
				if !strings.HasPrefix(dsn, "sqlite:") {
					q = `SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') FROM pg_tables WHERE schemaname = current_schema()`
				}
				var names string
				if err := db.QueryRowContext(ctx, q).Scan(&names); err != nil {
					t.Fatal(err)
				}
				if names != "entries" {
					t.Errorf("tables after the refused Open = %v, want the application's [entries] alone", names)
				}
			}
		})
	}
}

// TestOpenForeignTableWithoutMigrate: Open WithoutMigrate of another
// application's database (no goose version table) fails with
// ErrUnsupported (its schema is not the engine's current one) and leaves
// it as it was. The check of the schema's version was goose's
// GetVersions, which created goose_db_version in it.
func TestOpenForeignTableWithoutMigrate(t *testing.T) {
	for _, c := range configs[1:] {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			dsn := c.dsn(t)
			db := rawDB(t, dsn)
			if _, err := db.ExecContext(ctx, `CREATE TABLE customers (id integer PRIMARY KEY, body text)`); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, dsn, WithoutMigrate())
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			wantSentinel(t, "Open", err, storage.ErrUnsupported)
			q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
			if !strings.HasPrefix(dsn, "sqlite:") {
				q = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`
			}
			var n int
			if err := db.QueryRowContext(ctx, q, schema.VersionTable).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("Open WithoutMigrate left %s in another application's database", schema.VersionTable)
			}
		})
	}
}
