package dialect

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

func TestClassifySQLite(t *testing.T) {
	ctx := context.Background()
	d, _ := ForName(SQLite)
	path := filepath.Join(t.TempDir(), "c.db")
	o := DefaultSQLiteOptions
	o.BusyTimeout = 10 * time.Millisecond
	db, err := sql.Open("sqlite", SQLiteDriverDSN(path, o, true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE p (id INTEGER PRIMARY KEY)",
		"CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p (id), u TEXT UNIQUE)",
		"INSERT INTO p VALUES (1)",
		"INSERT INTO c VALUES (1, 1, 'x')",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cases := []struct {
		q    string
		want ErrorClass
	}{
		{"INSERT INTO c VALUES (2, 1, 'x')", ClassUniqueViolation},
		{"INSERT INTO c VALUES (1, 1, 'y')", ClassUniqueViolation},
		{"INSERT INTO c VALUES (3, 9, 'z')", ClassForeignKey},
		{"INSERT INTO c VALUES (4, NULL, 'w')", ClassNotNull},
		{"SELECT * FROM nowhere", ClassCorrupt},
		{"SELECT missing FROM p", ClassCorrupt},
		{"SELECT json('not json')", ClassCorrupt},
		{"SELECT json(x'ff00')", ClassCorrupt},
		{"SELECT json_extract('{}', 'x')", ClassCorrupt},
		{"SELECT zeroblob(2000000000)", ClassTooLarge},
		{"SELEC 1", ClassOther},
	}
	for _, c := range cases {
		_, err := db.ExecContext(ctx, c.q)
		if got := d.Classify(err); got != c.want {
			t.Errorf("%s: Classify(%v) = %v, want %v", c.q, err, got, c.want)
		}
	}

	// A column of another type than the Go value it is read into.
	var n int64
	err = db.QueryRowContext(ctx, "SELECT 'x'").Scan(&n)
	if got := d.Classify(err); got != ClassCorrupt {
		t.Errorf("Scan of text into an int64: Classify(%v) = %v, want corrupt", err, got)
	}

	// A second writer meets the first one's lock: busy.
	other, err := sql.Open("sqlite", SQLiteDriverDSN(path, o, true))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	_, err = other.ExecContext(ctx, "INSERT INTO p VALUES (2)")
	if got := d.Classify(err); got != ClassBusy {
		t.Errorf("write while locked: Classify(%v) = %v, want busy", err, got)
	}
}
