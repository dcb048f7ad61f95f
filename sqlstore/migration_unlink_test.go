package sqlstore

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestMigrationUnlink takes a store populated at the latest version down
// to version 32 and up again. On SQLite, first with nothing unlinked: the
// schema and rows are those of a store made at each version (Down puts
// entries' foreign key back, Up takes it away and adds unlinked). Then
// with a cleared namespace not yet purged: Down deletes its entries and
// index rows, writing their change_ends as the purge would, so that the
// foreign key holds; the store at the latest version again answers as
// before. On PostgreSQL 00033 does nothing and 00034 is taken down and up
// with nothing unlinked (TestMigrationUnlinkPostgres has the rest).
func TestMigrationUnlink(t *testing.T) {
	for _, c := range configs {
		if c.name == "sqlite-memory" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := c.dsn(t)
			s := openTest(t, dsn, WithSweepInterval(-1))
			fillIndexedAndPlain(t, s, 6)
			must(t, s.Close())
			if c.name == "postgres" {
				_, mig := pgMigrator(t, dsn)
				if _, err := mig.DownTo(ctx, 32); err != nil {
					t.Fatal(err)
				}
				if _, err := mig.Up(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				path := filepath.Clean(dsn[len("sqlite:"):])
				db, mig := sqliteMigrator(t, path)
				upChecked(t, db, mig, downChecked(t, db, mig, 32))

				// A cleared namespace not yet purged.
				purgerOff = true
				s = openTest(t, dsn, WithSweepInterval(-1))
				purgerOff = false
				must(t, s.Clear(ctx, storage.InNamespace("ix")))
				must(t, s.Close())
				var orphans, ends0, ends1 int64
				must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM entries WHERE namespace_id NOT IN (SELECT id FROM namespaces)`).Scan(&orphans))
				must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM change_ends WHERE namespace = 'ix'`).Scan(&ends0))
				if orphans != 6 {
					t.Fatalf("%d unlinked entries after Clear, want 6", orphans)
				}
				if _, err := mig.DownTo(ctx, 32); err != nil {
					t.Fatal(err)
				}
				must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM change_ends WHERE namespace = 'ix'`).Scan(&ends1))
				var left int64
				must(t, db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM entries WHERE namespace_id NOT IN (SELECT id FROM namespaces))
  + (SELECT count(*) FROM index_entries WHERE ix_ns NOT IN (SELECT id FROM namespaces))`).Scan(&left))
				if left != 0 || ends1 != ends0+6 {
					t.Errorf("after Down: %d unlinked rows left (want 0), change_ends of ix %d → %d (want 6 more)", left, ends0, ends1)
				}
				checkForeignKeys(t, db)
				if _, err := mig.Up(ctx); err != nil {
					t.Fatal(err)
				}
			}
			s = openTest(t, dsn, WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			want := int64(6)
			if c.name != "postgres" {
				want = 0
			}
			if n, err := s.Count(ctx, storage.InNamespace("ix")); err != nil || n != want {
				t.Errorf("Count(ix) = %d, %v; want %d", n, err, want)
			}
			if n, err := s.Count(ctx, storage.InNamespace("plain")); err != nil || n != 6 {
				t.Errorf("Count(plain) = %d, %v; want 6", n, err)
			}
			must(t, s.Set(ctx, "k00", map[string]any{"age": 1}, storage.InNamespace("ix")))
			checkDeclaredIndexes(ctx, t, s, nil, "after Up", "ix", []string{"age", "$metadata.team"})
		})
	}
}

// checkForeignKeys fails the test if a row of db breaks a foreign key.
func checkForeignKeys(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `PRAGMA foreign_key_check`)
	must(t, err)
	defer rows.Close()
	if rows.Next() {
		t.Errorf("a row breaks a foreign key after Down")
	}
	must(t, rows.Err())
}

// TestMigrationUnlinkPostgres takes a PostgreSQL store down to version 33
// and up again (00034): first populated at the latest version with
// nothing unlinked, then with a cleared namespace and a deleted one not
// yet purged, whose entries and index rows Down deletes (unlinked goes,
// and a namespace's delete finds its entries again); the store at the
// latest version again answers as before, and a Clear there unlinks.
func TestMigrationUnlinkPostgres(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	fillIndexedAndPlain(t, s, 6)
	must(t, s.Close())
	db, mig := pgMigrator(t, dsn)
	if _, err := mig.DownTo(ctx, 33); err != nil {
		t.Fatal(err)
	}
	if _, err := mig.Up(ctx); err != nil {
		t.Fatal(err)
	}

	purgerOff = true
	s = openTest(t, dsn, WithSweepInterval(-1))
	purgerOff = false
	must(t, s.Clear(ctx, storage.InNamespace("ix")))
	must(t, s.Set(ctx, "g", 1, storage.InNamespace("gone")))
	must(t, s.DeleteNamespace(ctx, "gone", storage.Recursive()))
	must(t, s.Close())
	orphans := func() (n int64) {
		must(t, db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM entries WHERE namespace_id NOT IN (SELECT id FROM namespaces))
  + (SELECT count(*) FROM index_entries WHERE ix_ns NOT IN (SELECT id FROM namespaces))`).Scan(&n))
		return n
	}
	if n := orphans(); n != 6+12+1 {
		t.Fatalf("%d unlinked rows after Clear and DeleteNamespace, want 19 (6 entries, 12 index rows, 1 entry)", n)
	}
	if _, err := mig.DownTo(ctx, 33); err != nil {
		t.Fatal(err)
	}
	if n := orphans(); n != 0 {
		t.Errorf("after Down: %d unlinked rows left, want 0", n)
	}
	var tables int64
	must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'unlinked' AND schemaname = current_schema()`).Scan(&tables))
	if tables != 0 {
		t.Errorf("after Down: unlinked still there")
	}
	// 00020's check again: a namespace with entries cannot be deleted.
	if _, err := db.ExecContext(ctx, `DELETE FROM namespaces WHERE name = 'plain'`); err == nil {
		t.Errorf("after Down: a namespace with entries was deleted")
	}
	if _, err := mig.Up(ctx); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	if n, err := s.Count(ctx, storage.InNamespace("ix")); err != nil || n != 0 {
		t.Errorf("Count(ix) = %d, %v; want 0", n, err)
	}
	if n, err := s.Count(ctx, storage.InNamespace("plain")); err != nil || n != 6 {
		t.Errorf("Count(plain) = %d, %v; want 6", n, err)
	}
	must(t, s.Set(ctx, "k00", map[string]any{"age": 1}, storage.InNamespace("ix")))
	checkDeclaredIndexes(ctx, t, s, nil, "after Up", "ix", []string{"age", "$metadata.team"})
	must(t, s.Clear(ctx, storage.InNamespace("plain")))
	waitPurged(t, s)
	exactIndexRows(t, s, "after Up, a Clear and its purge")
}
