package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestProgressLinesEveryInterval: progress as plain lines (stderr not a
// terminal) prints its first line one interval after the start, as it
// says (a line every five seconds), not at once: an import, export or
// copy that takes milliseconds prints its summary alone. Before, the first
// update always printed a line ("import: 1 entry, …, 64%, ETA 0s") just
// before the summary.
func TestProgressLinesEveryInterval(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"STORAGE_DSN": "sqlite:" + filepath.Join(dir, "p.db")}
	runCLI(t, env, "", "set", "a", "1").want(t, exitOK)
	runCLI(t, env, "", "set", "b", "2", "-n", "other").want(t, exitOK)
	file := filepath.Join(dir, "p.ndjson")
	other := "sqlite:" + filepath.Join(dir, "q.db")
	for _, args := range [][]string{
		{"export", file, "--progress", "lines"},
		{"import", file, "--progress", "lines", "--dsn", other, "--batch-size", "1"},
		{"copy", "--to", "sqlite:" + filepath.Join(dir, "c.db"), "--progress", "lines", "--batch-size", "1"},
	} {
		r := runCLI(t, env, "", args...).want(t, exitOK)
		if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || strings.HasPrefix(lines[0], args[0]+":") {
			t.Errorf("store %q: stderr %q; want the summary alone", args, r.stderr)
		}
	}
}
