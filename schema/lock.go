package schema

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pressly/goose/v3/lock"

	"github.com/mycelia-kernel/storage/driver"
)

// LockFileSuffix is appended to the SQLite database path to name the file
// that serializes migrators.
const LockFileSuffix = ".migrate.lock"

// fileLocker is a goose lock.SessionLocker for SQLite: an exclusive advisory
// lock on "<database>.migrate.lock", which serializes migrators across
// processes and across *sql.DB handles of one process (the lock belongs to
// an open file, not to a process). The in-memory database takes no lock.
type fileLocker struct {
	path    string // database file; "" means ask the connection
	timeout time.Duration

	mu   sync.Mutex
	file *os.File // held lock, nil when unlocked
}

var _ lock.SessionLocker = (*fileLocker)(nil)

const (
	minPoll = 5 * time.Millisecond
	maxPoll = 200 * time.Millisecond
)

// SessionLock takes the lock, polling until it is free, the context ends or
// the timeout passes.
func (l *fileLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	path := l.path
	if path == "" {
		var err error
		if path, err = mainFile(ctx, conn); err != nil {
			return err
		}
	}
	if path == "" || path == ":memory:" {
		return nil // in-memory: nobody else can reach it
	}
	// SQLite follows symbolic links to the database file: a migrator
	// naming it by a link and one naming it by its real path open one
	// database, so they must take one lock.
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	name := path + LockFileSuffix
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("schema: open migration lock: %w", err)
	}
	deadline := time.Now().Add(l.timeout)
	wait := minPoll
	for {
		ok, err := tryLockFile(f)
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("schema: migration lock %s: %w", name, err)
		}
		if ok {
			l.mu.Lock()
			l.file = f
			l.mu.Unlock()
			return nil
		}
		if !time.Now().Before(deadline) {
			_ = f.Close()
			return &Error{driver.ErrUnavailable, fmt.Sprintf("migration lock %s: still held by another migrator after %v", name, l.timeout), nil}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return fmt.Errorf("schema: waiting for migration lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxPoll)
	}
}

// SessionUnlock releases the lock taken by SessionLock, if any.
func (l *fileLocker) SessionUnlock(_ context.Context, _ *sql.Conn) error {
	l.mu.Lock()
	f := l.file
	l.file = nil
	l.mu.Unlock()
	if f == nil {
		return nil
	}
	uerr := unlockFile(f)
	cerr := f.Close() // closing releases the lock even if unlock failed
	if uerr != nil {
		return fmt.Errorf("schema: release migration lock: %w", uerr)
	}
	if cerr != nil {
		return fmt.Errorf("schema: close migration lock: %w", cerr)
	}
	return nil
}

// mainFile returns the path of the connection's main database file, "" for
// an in-memory or temporary database.
func mainFile(ctx context.Context, conn *sql.Conn) (string, error) {
	var file sql.NullString
	err := conn.QueryRowContext(ctx,
		`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file)
	if err != nil {
		return "", fmt.Errorf("schema: find the SQLite database file: %w", err)
	}
	return file.String, nil
}
