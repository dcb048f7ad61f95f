package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/migratecache"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestSQLiteTemplateSameDatabase checks that a store opened from the tests'
// migrated copy (migratecache.With) has what the migrations give a fresh
// database: the same schema, versions, rows (times aside) and journal
// mode; and that a file already there is not replaced by the copy.
func TestSQLiteTemplateSameDatabase(t *testing.T) {
	dump := func(s *Store) string {
		t.Helper()
		db := s.Backend().Writer
		var b strings.Builder
		for _, q := range []string{
			"SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name",
			"SELECT version_id, is_applied FROM goose_db_version ORDER BY id",
			"SELECT id, name, owner, json(metadata), entry_count, created_at > 0 FROM namespaces ORDER BY id",
			"SELECT * FROM capacity_guard",
			"SELECT * FROM revision_counter",
			"SELECT * FROM change_log_state",
			"SELECT count(*) FROM changes",
			"SELECT count(*) FROM entries",
			"SELECT count(*) FROM index_entries",
			"SELECT count(*) FROM index_fields",
			"SELECT count(*) FROM change_ends",
			"SELECT count(*) FROM unlinked",
			"PRAGMA journal_mode",
		} {
			fmt.Fprintf(&b, "%s:\n%s\n", q, rowsText(t, db, q))
		}
		return b.String()
	}
	ref := openTest(t, testdb.SQLiteFile(t))
	migrated := dump(ref)
	// Closed before the test ends: a store left open keeps its WAL
	// restarter running into later tests, which change its settings.
	if err := ref.Close(); err != nil {
		t.Fatal(err)
	}
	for _, dsn := range []string{testdb.SQLiteFile(t), testdb.SQLiteMemory(t), testdb.SQLiteFile(t)} {
		s := openTestCtx(t, migratecache.With(context.Background()), dsn)
		if got := dump(s); got != migrated {
			t.Errorf("%s from the migrated copy:\n%s\nwant, as migrated:\n%s", dsn, got, migrated)
		}
		_ = s.Close()
	}

	// A file already there is opened as it is.
	path := filepath.Join(t.TempDir(), "there.db")
	s := openTest(t, "sqlite:"+path)
	if _, err := s.Backend().Writer.Exec("INSERT INTO namespaces (name, metadata, created_at) VALUES ('mine', jsonb('{}'), 1)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	s = openTestCtx(t, migratecache.With(context.Background()), "sqlite:"+path)
	defer s.Close()
	if got := rowsText(t, s.Backend().Writer, "SELECT name FROM namespaces ORDER BY name"); got != "default\nmine\n" {
		t.Errorf("namespaces of a file already there, reopened with migratecache.With: %q, want default and mine", got)
	}
}

// rowsText is the rows of q, a line each, columns separated by "|".
func rowsText(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if i > 0 {
				b.WriteString("|")
			}
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprint(&b, v)
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
