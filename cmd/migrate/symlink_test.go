//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLockThroughSymlink: a migrator that names the SQLite database by a
// symbolic link waits for one that names it by its real path (SQLite
// itself resolves the link: both open one database). The lock file was
// named after the path as given, so the two took different locks, and the
// one through the link migrated while the other held the lock.
func TestLockThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.db")
	link := filepath.Join(dir, "link.db")
	mustRun(t, "--dsn", "sqlite:"+real, "up-to", "2")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(real+".migrate.lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil { // another migrator, by the real path
		t.Fatal(err)
	}
	r := runCLI(t, nil, "--dsn", "sqlite:"+link, "--lock-timeout", "300ms", "up")
	if r.code != exitFailure || !strings.Contains(r.stderr, "still held by another migrator") {
		t.Errorf("migrate up through a link while the real path's lock is held: exit %d\nstdout: %s\nstderr: %s\nwant exit %d, the lock still held",
			r.code, r.stdout, r.stderr, exitFailure)
	}
	if r := mustRun(t, "--dsn", "sqlite:"+real, "version"); strings.TrimSpace(r.stdout) != "2" {
		t.Errorf("version %s, want 2: the migrator through the link ran", r.stdout)
	}
}
