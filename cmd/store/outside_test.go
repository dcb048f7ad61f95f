package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNumbersOutOfRange: a numeric flag out of its range (and a --progress
// that names no mode) is a usage error (exit 2) that runs nothing, never
// read as "not given": --if-version 0 must not turn a conditional write
// into an unconditional one.
func TestNumbersOutOfRange(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "s.db")
	out := filepath.Join(dir, "x.ndjson")
	runCLI(t, nil, "", "--dsn", dsn, "set", "k", "1").want(t, exitOK)
	for _, args := range [][]string{
		{"set", "k", "2", "--if-version", "0"},
		{"set", "k", "2", "--if-version", "-1"},
		{"set", "k", "2", "--if-revision", "0"},
		{"delete", "k", "--if-version", "0"},
		{"delete", "k", "--if-revision", "-3"},
		{"meta", "k", `{"a":1}`, "--if-version", "0"},
		{"list", "--limit", "-1"},
		{"list", "--offset", "-1"},
		{"query", "--limit", "-5"},
		{"import", "--batch-size", "0", out},
		{"copy", "--batch-size", "-1", "--from", dsn, "--to", "sqlite::memory:"},
		{"export", "--progress", "bogus", "-q", out},
	} {
		r := runCLI(t, nil, "", append([]string{"--dsn", dsn}, args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "want ") {
			t.Errorf("store %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, exitUsage, r.stdout, r.stderr)
		}
	}
	r := runCLI(t, nil, "", "--dsn", dsn, "--json", "get", "k").want(t, exitOK)
	if m := r.decode(t); m["version"] != float64(1) || m["value"] != float64(1) {
		t.Errorf("k changed: %v", m)
	}
	runCLI(t, nil, "", "--dsn", dsn, "list", "--limit", "0", "--offset", "0").want(t, exitOK)
	runCLI(t, nil, "", "--dsn", dsn, "set", "k", "3", "--if-version", "1").want(t, exitOK)
}

// endless is stdin that never ends, as from yes(1).
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestHugeStdin: a value, metadata or filter read from stdin is read up to
// the largest value the store takes, then refused (exit 2, value too
// large: invalid input), so that endless input (yes | store set k) cannot fill the memory;
// here 64 MiB of it.
func TestHugeStdin(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	runCLI(t, nil, "", "--dsn", dsn, "set", "k", "1").want(t, exitOK)
	for _, args := range [][]string{{"set", "k"}, {"set", "k", "-"}, {"meta", "k", "-"}, {"query", "-"}, {"count", "-"}} {
		var o, e bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		in := io.MultiReader(strings.NewReader(`"`), io.LimitReader(endless{}, 64<<20))
		code := run(ctx, append([]string{"--dsn", dsn}, args...), in, &o, &e, func(string) string { return "" })
		cancel()
		if code != exitUsage || !strings.Contains(e.String(), "too large") {
			t.Errorf("store %s with endless stdin: exit %d, want %d\nstderr: %.300s", strings.Join(args, " "), code, exitUsage, e.String())
		}
	}
}

// TestExportFailureKeepsFile: an export that fails leaves FILE as it was
// (an earlier backup is not truncated) and no partial file beside it; one
// that succeeds replaces it whole, keeping its mode.
func TestExportFailureKeepsFile(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "s.db")
	backup := filepath.Join(dir, "backup.ndjson")
	const earlier = "an earlier backup\n"
	if err := os.WriteFile(backup, []byte(earlier), 0o640); err != nil {
		t.Fatal(err)
	}
	runCLI(t, nil, "", "--dsn", dsn, "set", "k", "1").want(t, exitOK)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--dsn", dsn, "export", "-n", "nosuch", backup}, exitNotFound},
		{[]string{"--dsn", "sqlite:" + filepath.Join(dir, "missing.db"), "export", backup}, exitFailure},
	} {
		runCLI(t, nil, "", tc.args...).want(t, tc.code)
		if b, err := os.ReadFile(backup); err != nil || string(b) != earlier {
			t.Fatalf("store %s: the earlier file is now %q (%v)", strings.Join(tc.args, " "), b, err)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), "ndjson") && e.Name() != "backup.ndjson" {
				t.Fatalf("store %s left %s", strings.Join(tc.args, " "), e.Name())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new.ndjson")); err == nil {
		t.Fatal("new.ndjson exists")
	}
	runCLI(t, nil, "", "--dsn", dsn, "export", "-n", "nosuch", filepath.Join(dir, "new.ndjson")).want(t, exitNotFound)
	if _, err := os.Stat(filepath.Join(dir, "new.ndjson")); err == nil {
		t.Error("a failed export left new.ndjson")
	}
	runCLI(t, nil, "", "--dsn", dsn, "-q", "export", backup).want(t, exitOK)
	fi, err := os.Stat(backup)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("backup after export: %v, %v", fi, err)
	}
	runCLI(t, nil, "", "--dsn", "sqlite:"+filepath.Join(dir, "copy.db"), "-q", "import", backup).want(t, exitOK)
}

// TestFlagsNotTaken: a flag the command does not take is a usage error
// (exit 2) that runs nothing, not ignored: query --pattern answered every
// entry, count --pattern counted them all.
func TestFlagsNotTaken(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "s.db")
	runCLI(t, nil, "", "--dsn", dsn, "set", "k", "1").want(t, exitOK)
	for _, args := range [][]string{
		{"query", "--pattern", "nomatch*"},
		{"count", "--pattern", "nomatch*"},
		{"list", "--sort", "age"},
		{"get", "k", "--if-version", "3"},
		{"delete", "k", "--no-overwrite"},
		{"has", "k", "--ttl", "5m"},
		{"export", "--check", filepath.Join(dir, "x.ndjson")},
		{"set", "k", "2", "--recursive"},
		{"clear", "-n", "default", "--pattern", "x*"},
	} {
		r := runCLI(t, nil, "", append([]string{"--dsn", dsn}, args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "does not take --") {
			t.Errorf("store %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, exitUsage, r.stdout, r.stderr)
		}
	}
	r := runCLI(t, nil, "", "--dsn", dsn, "--json", "get", "k").want(t, exitOK)
	if m := r.decode(t); m["version"] != float64(1) {
		t.Errorf("k changed: %v", m)
	}
	// Every command takes the common flags, and its own.
	runCLI(t, nil, "", "--dsn", dsn, "--json", "-n", "default", "--no-migrate", "--actor", "ops", "-q", "--progress", "none", "get", "k").want(t, exitOK)
	runCLI(t, nil, "", "--dsn", dsn, "list", "--pattern", "k*", "--limit", "5", "--offset", "0").want(t, exitOK)
	runCLI(t, nil, "", "--dsn", dsn, "query", "--sort", "$key:desc", "--limit", "5").want(t, exitOK)
	runCLI(t, nil, "", "--dsn", dsn, "ns", "create", "x", "--metadata", `{"a":1}`).want(t, exitOK)
	runCLI(t, nil, "", "--dsn", dsn, "ns", "delete", "x", "--recursive").want(t, exitOK)
}
