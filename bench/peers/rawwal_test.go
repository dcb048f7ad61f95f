package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestRawSQLiteCheckpoints: the hand-written baseline's single writes let
// SQLite checkpoint its WAL (wal_autocheckpoint, 1000 pages), as the
// engine's do (sqlstore/walhook.go): 5000 Sets of ~256-byte values must not
// leave a WAL of thousands of pages.
func TestRawSQLiteCheckpoints(t *testing.T) {
	for _, c := range []struct{ name, driver string }{{sModernc, "sqlite"}, {sMattn, "sqlite3"}} {
		t.Run(c.name, func(t *testing.T) { rawCheckpoints(t, c.name, c.driver) })
	}
}

func rawCheckpoints(t *testing.T, name, driver string) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "raw.db")
	w, r := sqliteDSN(path, false), sqliteReaderDSN(path)
	if driver == "sqlite3" {
		w, r = mattnDSN(path, false, true), mattnDSN(path, false, false)
	}
	x, err := openRawSQLite(ctx, name, "synchronous=NORMAL", driver, w, r, path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for i := range 5000 {
		if err := x.Set(ctx, fmt.Sprintf("k%06d", i), value(i, 256)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// 1000 pages of 4 KiB plus their frame headers, and the pages of the
	// commit that passed them.
	if limit := int64(1100 * (4096 + 24)); st.Size() > limit {
		t.Errorf("WAL of %d bytes after 5000 Sets (%d pages): never checkpointed", st.Size(), st.Size()/(4096+24))
	}
}
