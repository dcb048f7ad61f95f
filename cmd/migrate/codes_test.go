package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/mycelia-kernel/storage/schema"
)

// TestJSONErrorCodes: every --json failure carries "code", the storage
// sentinel its error wraps in the wire format's words (routes.CodeOf):
// invalid_option for a mistake in the command line, unavailable for a
// database that cannot be created, corrupt for another application's
// database the migrations conflict with, unsupported for a schema newer
// than the binary, not_found for redo with nothing applied. And up, up-to,
// down, redo and status leave another application's database as they
// found it: up and up-to left goose_db_version behind (the Migrator, unlike
// schema.Up, did not drop it), and the failures carried no code.
func TestJSONErrorCodes(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT)`); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	mustRun(t, "--dsn", "sqlite:"+newer, "up")
	ndb, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	defer ndb.Close()
	if _, err := ndb.Exec(`INSERT INTO ` + schema.VersionTable + ` (version_id, is_applied) VALUES (99999, 1)`); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	for _, c := range []struct {
		args []string
		code string
		exit int
	}{
		{[]string{"bogus"}, "invalid_option", exitUsage},
		{[]string{"up-to", "x"}, "invalid_option", exitUsage},
		{[]string{"--dsn", "mysql://x", "up"}, "invalid_option", exitUsage},
		{[]string{"--dsn", "sqlite:" + filepath.Join(dir, "no", "such", "x.db"), "up"}, "unavailable", exitFailure},
		{[]string{"--dsn", "sqlite:" + foreign, "up"}, "corrupt", exitFailure},
		{[]string{"--dsn", "sqlite:" + foreign, "up-to", "3"}, "corrupt", exitFailure},
		{[]string{"--dsn", "sqlite:" + foreign, "redo"}, "not_found", exitFailure},
		{[]string{"--dsn", "sqlite:" + empty, "redo"}, "not_found", exitFailure},
		{[]string{"--dsn", "sqlite:" + newer, "up"}, "unsupported", exitFailure},
		{[]string{"--dsn", "sqlite:" + newer, "down"}, "unsupported", exitFailure},
		{[]string{"--dir", filepath.Join(dir, "nodir"), "validate"}, "invalid_option", exitFailure},
	} {
		r := runCLI(t, nil, append([]string{"--json"}, c.args...)...)
		m := decode(t, r.stdout)
		if r.code != c.exit || m["ok"] != false || m["code"] != c.code {
			t.Errorf("migrate --json %v: exit %d, %v; want exit %d, code %q", c.args, r.code, m, c.exit, c.code)
		}
	}
	for _, cmd := range []string{"down", "status", "version", "reset"} {
		mustRun(t, "--dsn", "sqlite:"+foreign, cmd)
	}
	var names string
	if err := db.QueryRow(`SELECT group_concat(name, ',') FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if names != "entries" {
		t.Errorf("the application's database has tables %s after migrate's refusals, want entries alone", names)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Errorf("redo created %s", empty)
	}
}
