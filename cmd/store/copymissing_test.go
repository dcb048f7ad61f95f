package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyMissingNamespaceCreatesNothing: copy -n of a namespace the
// source does not have fails as not found, with the source's error alone,
// and creates nothing: no target database, no namespace in an existing
// one. It opened (created and migrated) the target first and then failed
// with the import's truncation wrapping the export's error ("dump: line 2:
// export namespace …; imported 0 entries (export side: …)").
func TestCopyMissingNamespaceCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	src := "sqlite:" + filepath.Join(dir, "src.db")
	absent := filepath.Join(dir, "absent.db")
	runCLI(t, nil, "", "--dsn", src, "set", "k", "1").want(t, exitOK)
	r := runCLI(t, nil, "", "copy", "--from", src, "--to", "sqlite:"+absent, "-n", "nosuch").want(t, exitNotFound)
	if strings.Contains(r.stderr, "line") || !strings.Contains(r.stderr, `"nosuch"`) {
		t.Errorf("copy -n nosuch: stderr %q; want the source's not-found error alone", r.stderr)
	}
	if m, _ := filepath.Glob(absent + "*"); len(m) != 0 {
		t.Errorf("copy -n nosuch created %v", m)
	}
	m := runCLI(t, nil, "", "copy", "--from", src, "--to", "sqlite:"+absent, "-n", "nosuch", "--json").want(t, exitNotFound).decode(t)
	if m["ok"] != false || m["code"] != "namespace_not_found" {
		t.Errorf("copy -n nosuch --json: %v", m)
	}
}
