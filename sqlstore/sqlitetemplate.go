package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"modernc.org/sqlite"

	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/internal/migratecache"
	"github.com/mycelia-kernel/storage/schema"
)

// sqliteTemplate is a migrated empty SQLite database, the bytes of its
// file, for the stores opened with migratecache.With (the tests).
var sqliteTemplate struct {
	mu   sync.Mutex
	data []byte
	made time.Time
}

// fromTemplate writes the migrated template to path when ctx asks for it
// (migratecache.With) and no file is there yet. The migrations then find
// nothing pending.
func fromTemplate(ctx context.Context, path string, o dialect.SQLiteOptions) error {
	if !migratecache.Enabled(ctx) {
		return nil
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there already, or not to be looked at: as without the template
	}
	sqliteTemplate.mu.Lock()
	defer sqliteTemplate.mu.Unlock()
	if sqliteTemplate.data == nil || time.Since(sqliteTemplate.made) > migratecache.MaxAge {
		data, err := migratedSQLite(ctx, o)
		if err != nil {
			return fmt.Errorf("migrated template: %w", err)
		}
		sqliteTemplate.data, sqliteTemplate.made = data, time.Now()
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.Write(sqliteTemplate.data)
	return errors.Join(err, f.Close())
}

// migratedSQLite migrates a fresh database in a directory of its own and
// returns its file, checkpointed whole (no WAL beside it).
func migratedSQLite(ctx context.Context, o dialect.SQLiteOptions) ([]byte, error) {
	dir, err := os.MkdirTemp("", "storage-template-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, memoryFile)
	c, err := sqlite.NewConnector(dialect.SQLiteDriverDSN(path, o, true))
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	if _, err := schema.Up(ctx, schema.SQLite, db, schema.WithSQLiteFile(path)); err != nil {
		_ = db.Close()
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}
