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
			// WithoutMigrate: ErrUnsupported (the schema is not the
			// engine's), and nothing created either. Its check was goose's
			// GetVersions, which created goose_db_version.
			s, err := Open(ctx, dsn, WithoutMigrate())
			if err == nil {
				_ = s.Close()
				t.Fatal("Open WithoutMigrate succeeded")
			}
			wantSentinel(t, "Open WithoutMigrate", err, storage.ErrUnsupported)
			var has bool
			q := `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)`
			if !strings.HasPrefix(dsn, "sqlite:") {
				q = `SELECT to_regclass(quote_ident($1)) IS NOT NULL`
			}
			if err := db.QueryRowContext(ctx, q, schema.VersionTable).Scan(&has); err != nil || has {
				t.Errorf("Open WithoutMigrate left %s (%v) in another application's database", schema.VersionTable, err)
			}
		})
	}
}
