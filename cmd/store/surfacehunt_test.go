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

// TestFormFlagsNotTaken: a flag of one form of a command given to another
// is a usage error, as any flag a command does not take is. ns create
// --recursive, ns delete --metadata and ns list with either were ignored
// (the check was by command, ns, not by its form), and so were meta KEY
// --if-version and --if-revision, conditions of a write given to the read.
func TestFormFlagsNotTaken(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "forms.db")
	runCLI(t, nil, "", "--dsn", dsn, "set", "k", "1").want(t, exitOK)
	for _, args := range [][]string{
		{"ns", "create", "formsns", "--recursive"},
		{"ns", "delete", "default", "--metadata", "{}"},
		{"ns", "list", "--recursive"},
		{"ns", "list", "--metadata", "{}"},
		{"meta", "k", "--if-version", "7"},
		{"meta", "k", "--if-revision", "7"},
	} {
		r := runCLI(t, nil, "", append([]string{"--dsn", dsn}, args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "does not take --") {
			t.Errorf("%v: exit %d, stderr %q; want %d: does not take", args, r.code, r.stderr, exitUsage)
		}
	}
	// Nothing was created, and the forms still take their own flags.
	runCLI(t, nil, "", "--dsn", dsn, "ns", "create", "formsns", "--metadata", `{"a":1}`).want(t, exitOK)
	runCLI(t, nil, "", "--dsn", dsn, "ns", "delete", "formsns", "--recursive").want(t, exitOK)
	runCLI(t, nil, "", "--dsn", dsn, "meta", "k", "{}", "--if-version", "1").want(t, exitOK)
}
