package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestInvalidInputExits2: every input the store refuses, given on the
// command line or stdin, is a usage error, exit 2, as a bad flag is (an
// invalid key or namespace was exit 1); a failure of the run stays exit 1.
func TestInvalidInputExits2(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"STORAGE_DSN": "sqlite:" + filepath.Join(dir, "s.db")}
	runCLI(t, env, "", "set", "k", "1").want(t, exitOK)
	runCLI(t, env, "", "ns", "create", "team").want(t, exitOK)
	long := strings.Repeat("k", 2000)
	for _, args := range [][]string{
		{"get", ""}, {"get", long}, {"has", ""}, {"delete", ""}, {"meta", ""}, {"meta", "", "{}"},
		{"set", "", "1"}, {"set", long, "1"}, {"set", "a\x00b", "1"},
		{"get", "k", "-n", "a/b"}, {"set", "k", "1", "-n", "a/b"}, {"list", "-n", "a/b"}, {"query", "-n", "a/b"},
		{"count", "-n", "a/b"}, {"clear", "-n", "a/b"}, {"ns", "create", "a/b"}, {"ns", "delete", "a/b"},
		{"index", "create", "a/b", "f"}, {"index", "create", "team", "a..b"}, {"index", "drop", "team", "a b"},
		{"set", "k", `{"a":1,"a":2}`}, {"set", "k", "nope"}, {"set", "k", "1", "--metadata", `{"a":1,"a":2}`},
		{"set", "k", "1", "--metadata", "[1]"}, {"meta", "k", `{"a":1,"a":2}`}, {"meta", "k", "[1]"},
		{"query", `{"field":"a","operator":"eq"}`}, {"query", `{"field":"a","operator":"like","value":1}`},
		{"count", `{"field":"a b","operator":"eq","value":1}`}, {"query", "--sort", "a b"}, {"query", "--sort", "a:up"},
		{"set", "k", "1", "--ttl", "0s"}, {"set", "k", "1", "--ttl", "-5m"}, {"set", "k", "1", "--ttl", "soon"},
		{"set", "k", "1", "--expires-at", "tomorrow"}, {"set", "k", "1", "--ttl", "1m", "--keep-ttl"},
		{"list", "--limit", "-1"}, {"list", "--limit", "x"}, {"list", "--cursor", "\x00"}, {"list", "--pattern", strings.Repeat("*", 5000)},
		{"delete", "k", "--if-version", "0"}, {"import", "--batch-size", "0"}, {"import", "--on-conflict", "maybe"},
		{"get", "k", "--dsn", "mysql://x"}, {"get", "k", "--dsn", "sqlite:" + filepath.Join(dir, "s.db") + "?nosuch=1"},
	} {
		r := runCLI(t, env, "", args...)
		if r.code != exitUsage {
			t.Errorf("store %q: exit %d, want %d (usage)\nstderr: %s", args, r.code, exitUsage, r.stderr)
		}
		j := runCLI(t, env, "", append(args, "--json")...)
		if m := j.decode(t); m["ok"] != false || m["exitCode"] != float64(exitUsage) {
			t.Errorf("store %q --json: %v, want ok false and exitCode 2", args, m)
		}
	}
	// The run failed, not the command line: exit 1.
	for _, args := range [][]string{
		{"get", "k", "--dsn", "sqlite:" + filepath.Join(dir, "missing.db")},
		{"import", filepath.Join(dir, "no-such-file.ndjson")},
	} {
		runCLI(t, env, "", args...).want(t, exitFailure)
	}
	// A key the target refuses in an import's file is the file's fault:
	// exit 1 (a malformed import), not a usage error.
	bad := filepath.Join(dir, "bad.ndjson")
	runCLI(t, env, "", "export", bad).want(t, exitOK)
	b, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, bytes.Replace(b, []byte(`"key":"k"`), []byte(`"key":""`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	other := map[string]string{"STORAGE_DSN": "sqlite:" + filepath.Join(dir, "other.db")}
	runCLI(t, other, "", "import", bad).want(t, exitFailure)
}

// TestJSONAnswersShape: every command's --json answer is one object that
// begins with "command" (the command's name) and "ok" (true), as a
// failure's does with false (get, has, meta, list, query, count, ns list
// and status lacked "ok").
func TestJSONAnswersShape(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"STORAGE_DSN": "sqlite:" + filepath.Join(dir, "s.db")}
	other := "sqlite:" + filepath.Join(dir, "copy.db")
	file := filepath.Join(dir, "x.ndjson")
	for _, args := range [][]string{
		{"set", "k", `{"a":1}`}, {"get", "k"}, {"has", "k"}, {"meta", "k"}, {"meta", "k", `{"m":1}`},
		{"list"}, {"query"}, {"query", `{"field":"a","operator":"eq","value":null}`}, {"count"}, {"status"},
		{"ns", "create", "team"}, {"ns", "list"}, {"index", "create", "team", "f"}, {"index", "drop", "team", "f"},
		{"ns", "delete", "team"}, {"export", file}, {"import", "--check", file}, {"import", file},
		{"copy", "--to", other}, {"clear", "-n", "default"}, {"delete", "k", "-n", "other"}, {"has", "k"},
	} {
		code := exitOK
		switch {
		case args[0] == "delete":
			code = exitNotFound
		case args[0] == "has" && slices.Contains(args, "-n"):
			code = exitNotFound
		}
		r := runCLI(t, env, "", append(args, "--json")...)
		if args[0] == "has" && r.code == exitNotFound { // after clear
			code = exitNotFound
		}
		r.want(t, code)
		// list, query and ns list stream their results and say "ok"
		// after them.
		keys := objectKeys(t, []byte(r.stdout))
		streamed := args[0] == "list" || args[0] == "query" || (args[0] == "ns" && args[1] == "list")
		if len(keys) < 2 || keys[0] != "command" || (keys[1] != "ok" && !streamed) || !slices.Contains(keys, "ok") {
			t.Errorf("store %q --json: members %v, want command and ok first\n%s", args, keys, r.stdout)
			continue
		}
		m := r.decode(t)
		if m["command"] != args[0] || m["ok"] != (code == exitOK || args[0] == "has") {
			t.Errorf("store %q --json: command %v, ok %v\n%s", args, m["command"], m["ok"], r.stdout)
		}
	}
	// An export to stdout: the data on stdout, the answer on stderr.
	r := runCLI(t, env, "", "export", "--json").want(t, exitOK)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stderr), &m); err != nil || m["command"] != "export" || m["ok"] != true {
		t.Errorf("export --json to stdout: answer on stderr %q (%v)", r.stderr, err)
	}
}

// TestNsListPages: ns list reads the namespaces a page at a time
// (ListNamespaces with Limit and After) and prints each page as it is
// read: a namespace deleted while the first page is printed is not listed
// (it was, when the whole list was read first), with more namespaces than
// a page, as a table and as --json.
func TestNsListPages(t *testing.T) {
	defer func(n int) { readPage = n }(readPage)
	readPage = 2
	for _, asJSON := range []bool{false, true} {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
		ctx := context.Background()
		s, err := sqlstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7"}
		for _, n := range names {
			if err := s.CreateNamespace(ctx, n, storage.WithNamespaceMetadata(map[string]any{"n": n})); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Set(ctx, "k", 1, storage.InNamespace("a3")); err != nil {
			t.Fatal(err)
		}
		names = append(names, "default") // created by Open
		args := []string{"--dsn", dsn, "ns", "list"}
		if asJSON {
			args = append(args, "--json")
		}
		// Without interference: every namespace, in order.
		var o, e bytes.Buffer
		if code := run(ctx, args, strings.NewReader(""), &o, &e, func(string) string { return "" }); code != exitOK {
			t.Fatalf("ns list: exit %d: %s", code, e.String())
		}
		if got := listed(t, o.String(), asJSON); !slices.Equal(got, names) {
			t.Errorf("ns list (json %v): %v, want %v\n%s", asJSON, got, names, o.String())
		}
		if asJSON && !strings.Contains(o.String(), `"entries": 1`) {
			t.Errorf("ns list --json: a3's entry is not counted:\n%s", o.String())
		}
		// The last namespace is deleted when the first output is written.
		w := &onFirstWrite{fn: func() {
			if err := s.DeleteNamespace(ctx, "a7"); err != nil {
				t.Error(err)
			}
		}}
		if code := run(ctx, args, strings.NewReader(""), w, &e, func(string) string { return "" }); code != exitOK {
			t.Fatalf("ns list: exit %d: %s", code, e.String())
		}
		want := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "a7" })
		if got := listed(t, w.buf.String(), asJSON); !slices.Equal(got, want) {
			t.Errorf("ns list (json %v) with a7 deleted after the first page: %v, want %v: the list was read before it was printed", asJSON, got, want)
		}
		_ = s.Close()
	}
}

// listed returns the namespace names in ns list's output.
func listed(t *testing.T, out string, asJSON bool) []string {
	t.Helper()
	var names []string
	if asJSON {
		var v struct {
			Command    string
			OK         bool
			Namespaces []struct{ Name string }
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Command != "ns" || !v.OK {
			t.Fatalf("ns list --json: %v\n%s", err, out)
		}
		for _, n := range v.Namespaces {
			names = append(names, n.Name)
		}
		return names
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "NAME" {
			names = append(names, f[0])
		}
	}
	return names
}

// onFirstWrite is a writer that calls fn before its first write.
type onFirstWrite struct {
	fn   func()
	done bool
	buf  bytes.Buffer
}

func (w *onFirstWrite) Write(p []byte) (int, error) {
	if !w.done {
		w.done = true
		w.fn()
	}
	return w.buf.Write(p)
}

var _ io.Writer = (*onFirstWrite)(nil)

// TestFilterLeafWithoutValue: a filter leaf without "value" is refused
// (exit 2, invalid filter) by query and count, not read as eq null; an
// explicit "value": null matches null.
func TestFilterLeafWithoutValue(t *testing.T) {
	env := map[string]string{"STORAGE_DSN": "sqlite:" + filepath.Join(t.TempDir(), "s.db")}
	runCLI(t, env, "", "set", "n", `{"a":null}`).want(t, exitOK)
	runCLI(t, env, "", "set", "one", `{"a":1}`).want(t, exitOK)
	for _, cmd := range []string{"query", "count"} {
		r := runCLI(t, env, "", cmd, `{"field":"a","operator":"eq"}`).want(t, exitUsage)
		if !strings.Contains(r.stderr, "invalid filter") {
			t.Errorf("%s: %s", cmd, r.stderr)
		}
	}
	if got := strings.TrimSpace(runCLI(t, env, "", "count", `{"field":"a","operator":"eq","value":null}`).want(t, exitOK).stdout); got != "1" {
		t.Errorf(`count a = null: %s, want 1`, got)
	}
	_ = time.Second
}

// TestListQueryPages: list and query without --limit read every result a
// page at a time and print each page as it is read (they read every key or
// entry at once, and held them): a key deleted while the first page is
// printed is not listed; --limit, --offset and the cursor answer as one
// call would.
func TestListQueryPages(t *testing.T) {
	defer func(n int) { readPage = n }(readPage)
	readPage = 2
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	keys := []string{"k1", "k2", "k3", "k4", "k5"}
	for i, k := range keys {
		if err := s.Set(ctx, k, map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"STORAGE_DSN": dsn}
	lines := func(out string) []string { return strings.Fields(out) }
	if got := lines(runCLI(t, env, "", "list").want(t, exitOK).stdout); !slices.Equal(got, keys) {
		t.Errorf("list: %v, want %v", got, keys)
	}
	r := runCLI(t, env, "", "list", "--limit", "3", "--offset", "1").want(t, exitOK)
	if got := lines(r.stdout); !slices.Equal(got, keys[1:4]) || !strings.Contains(r.stderr, "(more: add --cursor") {
		t.Errorf("list --limit 3 --offset 1: %v, stderr %q; want %v and a cursor", got, r.stderr, keys[1:4])
	}
	var page struct {
		Keys   []string
		Cursor string
		OK     bool
	}
	if err := json.Unmarshal([]byte(runCLI(t, env, "", "list", "--limit", "3", "--json").want(t, exitOK).stdout), &page); err != nil ||
		!slices.Equal(page.Keys, keys[:3]) || page.Cursor == "" || !page.OK {
		t.Fatalf("list --limit 3 --json: %+v, %v", page, err)
	}
	if err := json.Unmarshal([]byte(runCLI(t, env, "", "list", "--cursor", page.Cursor, "--json").want(t, exitOK).stdout), &page); err != nil ||
		!slices.Equal(page.Keys, keys[3:]) || page.Cursor != "" {
		t.Errorf("list --cursor --json: %+v, %v", page, err)
	}
	var q struct {
		Entries []struct{ Key string }
		Cursor  string
		OK      bool
	}
	if err := json.Unmarshal([]byte(runCLI(t, env, "", "query", `{"field":"i","operator":"gte","value":1}`, "--sort", "i:desc", "--json").want(t, exitOK).stdout), &q); err != nil ||
		len(q.Entries) != 4 || q.Entries[0].Key != "k5" || q.Entries[3].Key != "k2" || !q.OK {
		t.Errorf("query --sort i:desc --json: %+v, %v", q, err)
	}
	// The last key is deleted when the first output is written.
	for _, args := range [][]string{{"list"}, {"query"}, {"list", "--json"}, {"query", "--json"}} {
		if err := s.Set(ctx, "k5", 1); err != nil {
			t.Fatal(err)
		}
		w := &onFirstWrite{fn: func() {
			if err := s.Delete(ctx, "k5"); err != nil {
				t.Error(err)
			}
		}}
		var e bytes.Buffer
		if code := run(ctx, append([]string{"--dsn", dsn}, args...), strings.NewReader(""), w, &e, func(string) string { return "" }); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, e.String())
		}
		if strings.Contains(w.buf.String(), "k5") {
			t.Errorf("%v: k5, deleted after the first page was printed, is listed: everything was read before it was printed\n%s", args, w.buf.String())
		}
	}
}
