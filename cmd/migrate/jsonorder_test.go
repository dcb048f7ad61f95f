package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONBeginsWithCommandAndOK: every --json answer, success or
// failure, begins with "command" then "ok", as the store command's do, and
// the other members follow in name order, so that a reader of the stream
// (or a diff of two runs) sees the same shape every time. The answers were
// maps printed in name order: "ok" came after "migrations" (up, status:
// after the whole list) and "code" and "error" before it.
func TestJSONBeginsWithCommandAndOK(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "order.db")
	for _, args := range [][]string{
		{"up", "--json", "--dsn", dsn},
		{"status", "--json", "--dsn", dsn},
		{"version", "--json", "--dsn", dsn},
		{"up-to", "x", "--json", "--dsn", dsn},
	} {
		r := runCLI(t, nil, args...)
		m := decode(t, r.stdout)
		want := `{
  "command": "` + args[0] + `",
  "ok": ` + map[bool]string{true: "true", false: "false"}[m["ok"] == true] + `,
  "`
		if !strings.HasPrefix(r.stdout, want) {
			t.Errorf("%v: --json answer begins\n%.80s\nwant it to begin\n%s", args, r.stdout, want)
		}
		if i, j := strings.Index(r.stdout, `"dialect"`), strings.Index(r.stdout, `"latest"`); i > j {
			t.Errorf("%v: members after command and ok not in name order:\n%s", args, r.stdout)
		}
	}
}
