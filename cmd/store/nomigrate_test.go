package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoMigrateCreatesNothing: with --no-migrate a write command (set,
// import, copy's target) on a SQLite file that does not exist fails as a
// read command does, "does not exist", and leaves no file behind. It
// created an empty database (switched to WAL mode) and then failed with
// "the schema is at version 0, this build needs 34": a store it may not
// migrate cannot be made, and the file it left made later commands on it
// fail the same way instead of saying it does not exist.
func TestNoMigrateCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "absent.db")
	src := "sqlite:" + filepath.Join(dir, "src.db")
	runCLI(t, nil, "", "--dsn", src, "set", "k", "1").want(t, exitOK)
	for _, args := range [][]string{
		{"--dsn", "sqlite:" + path, "set", "k", "1"},
		{"--dsn", "sqlite:" + path, "import"},
		{"copy", "--from", src, "--to", "sqlite:" + path},
	} {
		stdin := ""
		if args[len(args)-1] == "import" {
			stdin = `{"type":"header","format":"mycelia-storage-ndjson","version":2}` + "\n"
		}
		r := runCLI(t, nil, stdin, append(args, "--no-migrate")...)
		if r.code != exitFailure || !strings.Contains(r.stderr, "does not exist") {
			t.Errorf("%v --no-migrate: exit %d, stderr %q; want %d and: does not exist", args, r.code, r.stderr, exitFailure)
		}
		matches, _ := filepath.Glob(path + "*")
		if len(matches) != 0 {
			t.Errorf("%v --no-migrate left %v", args, matches)
			for _, m := range matches {
				_ = os.Remove(m)
			}
		}
	}
}
