package main

import (
	"path/filepath"
	"testing"
)

// TestJSONErrorCodes: a --json failure carries "code", the storage
// sentinel its error wraps in the wire's words (package routes), as the
// HTTP API's errors do: a mistake in the command line (a flag, a command,
// an argument) invalid_option, a SQLite file that does not exist
// unavailable, a missing key not_found. It
// carried only "error" and "exitCode".
func TestJSONErrorCodes(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "s.db")
	runCLI(t, nil, "", "--dsn", dsn, "set", "k", "1").want(t, exitOK)
	for _, c := range []struct {
		args []string
		code string
		exit int
	}{
		{[]string{"--no-such-flag", "get", "k"}, "invalid_option", exitUsage},
		{[]string{"--dsn", dsn, "bogus"}, "invalid_option", exitUsage},
		{[]string{"--dsn", dsn, "list", "--limit", "-1"}, "invalid_option", exitUsage},
		{[]string{"--dsn", dsn, "get", "absent"}, "not_found", exitNotFound},
		{[]string{"--dsn", "sqlite:" + filepath.Join(dir, "absent.db"), "get", "k"}, "unavailable", exitFailure},
	} {
		r := runCLI(t, nil, "", append([]string{"--json"}, c.args...)...)
		m := r.decode(t)
		if r.code != c.exit || m["ok"] != false || m["code"] != c.code {
			t.Errorf("store --json %v: exit %d, %v; want exit %d, code %q", c.args, r.code, m, c.exit, c.code)
		}
	}
}
