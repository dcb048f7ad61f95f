package sqlstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// sqliteFileWithData writes a store file with the fixture's data and
// entries over many pages, closes it and returns its path.
func sqliteFileWithData(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	s := openTest(t, "sqlite:"+path, WithSweepInterval(-1))
	corruptFixture(t, s)
	big := bytes.Repeat([]byte("y"), 1000)
	items := make([]storage.Item, 300)
	for i := range items {
		items[i] = storage.Item{Key: "b" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Value: map[string]any{"s": string(big)}}
	}
	if _, err := s.SetMany(t.Context(), items, storage.InNamespace("n")); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Logf("%s left after Close", suffix)
		}
	}
	return path
}

// overwritePages writes garbage over the 4 KiB pages of the file at path
// from the offset first gives for its size.
func overwritePages(t *testing.T, path string, first func(size int64) int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	st, err := f.Stat()
	must(t, err)
	garbage := bytes.Repeat([]byte{0xa5, 0x5a, 0xff, 0x00}, 1024)
	for off := first(st.Size()); off < st.Size(); off += 4096 {
		if _, err := f.WriteAt(garbage, off); err != nil {
			t.Fatal(err)
		}
	}
	must(t, f.Close())
}

// TestSQLiteCorruptFile overwrites pages of a closed store's file (every
// page but the first, which holds the header and the schema; or the last
// few, which hold entries) and opens it again: Open, and every operation,
// fails with ErrCorrupt or works; none returns the driver's SQLITE_CORRUPT
// text.
func TestSQLiteCorruptFile(t *testing.T) {
	for _, c := range []struct {
		name  string
		first func(size int64) int64
	}{
		{"all but the first page", func(int64) int64 { return 4096 }},
		{"the last pages", func(size int64) int64 { return size - 8*4096 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := sqliteFileWithData(t)
			overwritePages(t, path, c.first)
			s, err := Open(t.Context(), "sqlite:"+path, WithSweepInterval(-1))
			if err != nil {
				wantSentinel(t, "Open", err, storage.ErrCorrupt)
				return
			}
			defer func() { _ = s.Close() }()
			wantCorruptOps(t, s, &faultLog{})
		})
	}
}

// TestSQLiteCorruptPagesOpen overwrites the last pages of an open store's
// file (after a checkpoint moved every page there, and a write made every
// connection drop its page cache): every operation fails with ErrCorrupt
// or works.
func TestSQLiteCorruptPagesOpen(t *testing.T) {
	path := sqliteFileWithData(t)
	s := openTest(t, "sqlite:"+path, WithSweepInterval(-1))
	defer func() { _ = s.Close() }()
	ctx := t.Context()
	if _, err := s.Backend().Writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	overwritePages(t, path, func(size int64) int64 { return size / 2 / 4096 * 4096 })
	var l faultLog
	l.typed("Set elsewhere", s.Set(ctx, "z", 1, storage.InNamespace("other")), false)
	wantCorruptOps(t, s, &l)
}

// TestSQLiteNotADatabase replaces a store's file by one that is not a
// database: Open fails with ErrCorrupt.
func TestSQLiteNotADatabase(t *testing.T) {
	path := sqliteFileWithData(t)
	must(t, os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600))
	s, err := Open(t.Context(), "sqlite:"+path, WithSweepInterval(-1))
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a file that is not a database succeeded")
	}
	wantSentinel(t, "Open", err, storage.ErrCorrupt)
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Logf("Open: %v", err)
	}
}
