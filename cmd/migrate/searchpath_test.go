package main

import (
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
)

// TestSearchPathWithoutSchema: a DSN whose search_path names no schema
// that exists is refused in one line that says so, wrapping
// storage.ErrInvalidOption, by every command. It was goose's "read current
// schema: sql: Scan error on column index 0, name \"current_schema\":
// converting NULL to string is unsupported".
func TestSearchPathWithoutSchema(t *testing.T) {
	dsn := pgtest.MissingSchemaDSN(t)
	for _, cmd := range []string{"up", "version", "status", "down"} {
		r := runCLI(t, nil, "--dsn", dsn, cmd)
		if r.code != exitFailure || strings.Count(r.stderr, "\n") != 1 ||
			!strings.Contains(r.stderr, "storage: invalid option: ") || !strings.Contains(r.stderr, "search_path") {
			t.Errorf("migrate %s: exit %d, stderr %q; want %d and one line: storage: invalid option: … search_path …", cmd, r.code, r.stderr, exitFailure)
		}
	}
}
