package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/routes"
)

// wireKeys are the JSON names of v's fields as the wire writes them.
func wireKeys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// result is one in-process run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var o, e bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, args, strings.NewReader(stdin), &o, &e, func(k string) string { return env[k] })
	return result{code, o.String(), e.String()}
}

// want fails the test unless r exited with code.
func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// decode parses r's stdout as JSON.
func (r result) decode(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	return m
}

// targets are the databases the commands run on; a name is the dialect the
// status command reports.
var targets = []testdb.Config{
	{Name: "sqlite", DSN: testdb.SQLiteFile},
	{Name: "postgres", DSN: func(t testing.TB) string { return testdb.Postgres(t, "cli") }},
}

func TestCommands(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.Name, func(t *testing.T) {
			dsn := tg.DSN(t)
			env := map[string]string{"STORAGE_DSN": dsn}
			cli := func(stdin string, args ...string) result {
				t.Helper()
				return runCLI(t, env, stdin, args...)
			}

			// set: human and JSON, value from an argument and from stdin.
			r := cli("", "set", "user:1", `{"name":"Ada","age":36,"tags":["x"]}`, "--metadata", `{"owner":"ops"}`).want(t, exitOK)
			if !strings.Contains(r.stdout, `set "user:1" in namespace "default" (version 1, revision `) {
				t.Errorf("set: %q", r.stdout)
			}
			m := cli(`{"name":"Bob","age":17}`, "--json", "set", "user:2", "-").want(t, exitOK).decode(t)
			if m["ok"] != true || m["version"] != float64(1) || m["key"] != "user:2" {
				t.Errorf("set --json: %v", m)
			}
			cli("", "set", "user:1", `{"name":"Ada","age":37}`, "--if-version", "1", "--actor", "ada").want(t, exitOK)
			// --if-revision: a stale revision is a conflict; the entry's own
			// revision (shown by get) succeeds, on set and on delete.
			cli("", "set", "rev:tmp", `1`).want(t, exitOK)
			revOf := func() string {
				g := cli("", "--json", "get", "rev:tmp").want(t, exitOK).decode(t)
				rev, _ := g["revision"].(float64)
				if rev < 1 {
					t.Fatalf("get --json: no revision in %v", g)
				}
				return fmt.Sprint(int64(rev))
			}
			rev := revOf()
			cli("", "set", "rev:tmp", `2`, "--if-revision", rev+"0").want(t, exitConflict)
			cli("", "set", "rev:tmp", `2`, "--if-revision", rev).want(t, exitOK)
			cli("", "delete", "rev:tmp", "--if-revision", rev).want(t, exitConflict)
			cli("", "delete", "rev:tmp", "--if-revision", revOf()).want(t, exitOK)
			cli("", "set", "user:1", `{"name":"Ada"}`, "--if-version", "1").want(t, exitConflict)
			cli("", "set", "user:1", `1`, "--no-overwrite").want(t, exitConflict)
			cli("", "set", "user:3", `not json`).want(t, exitUsage)
			cli("", "-n", "other", "set", "doc", `"text"`).want(t, exitOK)

			// get
			r = cli("", "get", "user:1").want(t, exitOK)
			for _, s := range []string{"namespace: default", "key:       user:1", "version:   2", `metadata:  {"owner":"ops"}`, `"name": "Ada"`, "Z by ada\n"} {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("get: no %q in\n%s", s, r.stdout)
				}
			}
			m = cli("", "get", "--json", "user:1").want(t, exitOK).decode(t)
			if m["version"] != float64(2) || m["value"].(map[string]any)["age"] != float64(37) || m["metadata"].(map[string]any)["owner"] != "ops" ||
				m["updatedBy"] != "ada" || m["createdBy"] != nil {
				t.Errorf("get --json: %v", m)
			}
			// One shape for an entry: every field of the wire's entry
			// (routes.EntryJSON) is there, under the wire's name.
			for _, k := range wireKeys(t, routes.EntryJSON{}) {
				if _, ok := m[k]; !ok && k != "expiresAt" {
					t.Errorf("get --json has no %q (the wire's name): %v", k, m)
				}
			}
			r = cli("", "get", "missing").want(t, exitNotFound)
			if !strings.Contains(r.stderr, `key "missing": not found`) {
				t.Errorf("get missing: %q", r.stderr)
			}
			m = cli("", "--json", "get", "missing").want(t, exitNotFound).decode(t)
			if m["ok"] != false || m["exitCode"] != float64(exitNotFound) || !strings.Contains(m["error"].(string), "not found") {
				t.Errorf("get missing --json: %v", m)
			}
			if r := cli("", "get", "doc", "--namespace", "other").want(t, exitOK); !strings.Contains(r.stdout, `"text"`) {
				t.Errorf("get -n: %s", r.stdout)
			}

			// list with pages
			for _, k := range []string{"a", "b", "c"} {
				cli("", "set", k, "1").want(t, exitOK)
			}
			r = cli("", "list", "--limit", "2").want(t, exitOK)
			if r.stdout != "a\nb\n" || !strings.Contains(r.stderr, "--cursor ") {
				t.Errorf("list page 1: %q %q", r.stdout, r.stderr)
			}
			m = cli("", "list", "--limit", "2", "--json").want(t, exitOK).decode(t)
			cursor, _ := m["cursor"].(string)
			if cursor == "" || len(m["keys"].([]any)) != 2 {
				t.Fatalf("list --json: %v", m)
			}
			r = cli("", "list", "--limit", "10", "--cursor", cursor).want(t, exitOK)
			if r.stdout != "c\nuser:1\nuser:2\n" {
				t.Errorf("list page 2: %q", r.stdout)
			}
			if r := cli("", "list", "--pattern", "user:*").want(t, exitOK); r.stdout != "user:1\nuser:2\n" {
				t.Errorf("list --pattern: %q", r.stdout)
			}
			if r := cli("", "list", "--offset", "4").want(t, exitOK); r.stdout != "user:2\n" {
				t.Errorf("list --offset: %q", r.stdout)
			}

			// query and count
			filter := `{"field":"age","operator":"gte","value":18}`
			r = cli("", "query", filter).want(t, exitOK)
			if !regexp.MustCompile(`(?m)^KEY\s+VERSION\s+UPDATED\s+VALUE\n user:1\s+2\s`).MatchString(" "+r.stdout) && !strings.Contains(r.stdout, "user:1  2") {
				t.Errorf("query table:\n%s", r.stdout)
			}
			if strings.Contains(r.stdout, "user:2") {
				t.Errorf("query matched Bob:\n%s", r.stdout)
			}
			if !strings.Contains(r.stderr, "(1 entry)") {
				t.Errorf("query's count on stderr: %q", r.stderr)
			}
			m = cli("", "query", "--json", "--sort", "age:desc", `{"field":"age","operator":"exists","value":true}`).want(t, exitOK).decode(t)
			es := m["entries"].([]any)
			if len(es) != 2 || es[0].(map[string]any)["key"] != "user:1" {
				t.Errorf("query --sort: %v", m)
			}
			m = cli(filter, "query", "--json", "-").want(t, exitOK).decode(t)
			if len(m["entries"].([]any)) != 1 {
				t.Errorf("query from stdin: %v", m)
			}
			r = cli("", "query", `{"field":"age","operator":"bogus","value":1}`).want(t, exitUsage)
			if !strings.Contains(r.stderr, "invalid filter") {
				t.Errorf("bad filter: %q", r.stderr)
			}
			cli("", "query", "--sort", "age:sideways").want(t, exitUsage)
			// A sort field that can never exist: the sort's error, in its words.
			if r := cli("", "query", "--sort", "$key.first"); r.code != exitUsage || !strings.Contains(r.stderr, "invalid sort: ") ||
				strings.Contains(r.stderr, "invalid filter") {
				t.Errorf("query --sort $key.first: exit %d, %q", r.code, r.stderr)
			}
			if r := cli("", "count").want(t, exitOK); r.stdout != "5\n" {
				t.Errorf("count: %q", r.stdout)
			}
			if m := cli("", "count", "--json", filter).want(t, exitOK).decode(t); m["count"] != float64(1) {
				t.Errorf("count --json: %v", m)
			}

			// namespaces
			cli("", "ns", "create", "team", "--metadata", `{"lead":"ada"}`).want(t, exitOK)
			cli("", "ns", "create", "team").want(t, exitConflict)
			cli("", "ns", "create", "bad/name").want(t, exitUsage) // invalid input, as a bad flag
			// indexes
			cli("", "index", "create", "team", "lead").want(t, exitOK)
			cli("", "index", "create", "team", "lead").want(t, exitConflict)
			cli("", "index", "create", "nope", "lead").want(t, exitNotFound)
			cli("", "index", "create", "team", "$key").want(t, exitUsage)
			if m := cli("", "index", "drop", "team", "lead", "--json").want(t, exitOK).decode(t); m["ok"] != true || m["field"] != "lead" {
				t.Errorf("index drop --json: %v", m)
			}
			cli("", "index", "drop", "team", "lead").want(t, exitNotFound)
			cli("", "index", "rename", "team", "lead").want(t, exitUsage)
			r = cli("", "ns", "list").want(t, exitOK)
			if !regexp.MustCompile(`(?m)^team\s+0\s+\S+\s+-\s+-\s+\{"lead":"ada"\}$`).MatchString(r.stdout) ||
				!regexp.MustCompile(`(?m)^default\s+5\s`).MatchString(r.stdout) {
				t.Errorf("ns list:\n%s", r.stdout)
			}
			m = cli("", "ns", "list", "--json").want(t, exitOK).decode(t)
			if n := len(m["namespaces"].([]any)); n != 3 {
				t.Errorf("ns list --json: %v", m)
			}
			for _, n := range m["namespaces"].([]any) {
				// The wire's namespace shape: createdAt, not created_at.
				if n := n.(map[string]any); n["createdAt"] == nil || n["created_at"] != nil {
					t.Errorf("ns list --json: namespace %v", n)
				}
			}
			cli("", "ns", "delete", "other").want(t, exitConflict) // not empty
			cli("", "ns", "delete", "other", "--recursive").want(t, exitOK)
			cli("", "ns", "delete", "other").want(t, exitNotFound)
			if m := cli("", "ns", "delete", "team", "--json").want(t, exitOK).decode(t); m["ok"] != true {
				t.Errorf("ns delete --json: %v", m)
			}
			cli("", "ns", "rename", "x").want(t, exitUsage)

			// delete
			cli("", "delete", "a").want(t, exitOK)
			cli("", "delete", "a").want(t, exitNotFound)
			cli("", "delete", "b", "--if-version", "9").want(t, exitConflict)
			if m := cli("", "--json", "delete", "b").want(t, exitOK).decode(t); m["ok"] != true {
				t.Errorf("delete --json: %v", m)
			}

			// status
			r = cli("", "status").want(t, exitOK)
			if !strings.Contains(r.stdout, "healthy:        true") || !strings.Contains(r.stdout, "entries:        3") ||
				!regexp.MustCompile(`(?m)^revision: +[1-9][0-9]* \(oldest retained [1-9][0-9]*\)$`).MatchString(r.stdout) {
				t.Errorf("status:\n%s", r.stdout)
			}
			m = cli("", "status", "--json").want(t, exitOK).decode(t)
			// The wire's getStatus shape (routes.StatusJSON): size, schemaVersion.
			if m["healthy"] != true || m["size"] != float64(3) || m["dialect"] != tg.Name || m["schemaVersion"] == nil ||
				m["schemaVersion"] == float64(0) || m["revision"] == nil || m["schema_version"] != nil || m["read_only"] != nil {
				t.Errorf("status --json: %v", m)
			}

			// export, import, copy
			dir := t.TempDir()
			file := filepath.Join(dir, "out.ndjson")
			r = cli("", "export", file).want(t, exitOK)
			if !strings.Contains(r.stderr, "exported 3 entries in 1 namespace ") {
				t.Errorf("export: %q", r.stderr)
			}
			r = cli("", "export").want(t, exitOK) // to stdout
			if !strings.HasPrefix(r.stdout, `{"type":"header","format":"mycelia-storage-ndjson"`) || strings.Count(r.stdout, "\n") != 6 {
				t.Errorf("export to stdout:\n%s", r.stdout)
			}
			m = cli("", "export", "--json", file).want(t, exitOK).decode(t)
			if m["entries"] != float64(3) {
				t.Errorf("export --json: %v", m)
			}
			m = cli("", "import", "--json", "--check", file).want(t, exitOK).decode(t)
			if m["check"] != true || m["entries"] != float64(3) {
				t.Errorf("import --check: %v", m)
			}
			r = cli("", "import", file).want(t, exitOK)
			if !strings.Contains(r.stderr, "imported 3 entries (0 new, 3 unchanged") {
				t.Errorf("reimport: %q", r.stderr)
			}
			other := tg.DSN(t)
			data, _ := os.ReadFile(file)
			m = runCLI(t, nil, string(data), "--dsn", other, "--json", "import").want(t, exitOK).decode(t)
			if m["inserted"] != float64(3) {
				t.Errorf("import from stdin: %v", m)
			}
			third := tg.DSN(t)
			m = runCLI(t, nil, "", "copy", "--from", dsn, "--to", third, "--json").want(t, exitOK).decode(t)
			if m["inserted"] != float64(3) {
				t.Errorf("copy --json: %v", m)
			}
			r = runCLI(t, nil, "", "copy", "--from", dsn, "--to", third, "-n", "default").want(t, exitOK)
			if !strings.Contains(r.stderr, "copied 3 entries (0 new, 3 unchanged") {
				t.Errorf("copy again: %q", r.stderr)
			}
			if r := runCLI(t, nil, "", "--dsn", third, "get", "user:1", "--json").want(t, exitOK); !strings.Contains(r.stdout, `"version": 2`) {
				t.Errorf("copied entry: %s", r.stdout)
			}
		})
	}
}

func TestImportErrors(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.Name, func(t *testing.T) {
			dsn := tg.DSN(t)
			env := map[string]string{"STORAGE_DSN": dsn}
			for _, k := range []string{"a", "b", "c", "d"} {
				runCLI(t, env, "", "set", k, `"`+k+`"`).want(t, exitOK)
			}
			file := filepath.Join(t.TempDir(), "x.ndjson")
			runCLI(t, env, "", "export", file, "-q").want(t, exitOK)
			data, _ := os.ReadFile(file)
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")

			// A conflict: the target has "c" with another value.
			target := tg.DSN(t)
			tenv := map[string]string{"STORAGE_DSN": target}
			runCLI(t, tenv, "", "set", "c", `"mine"`).want(t, exitOK)
			r := runCLI(t, tenv, "", "import", file, "--batch-size", "2").want(t, exitConflict)
			// lines: 1 header, 2 namespace, 3 a, 4 b, 5 c, 6 d, 7 trailer
			if !strings.Contains(r.stderr, `line 5: restore namespace "default" key "c": already exists`) ||
				!strings.Contains(r.stderr, "imported 2 entries through line 4; the batch of lines 5-6 was rolled back") {
				t.Errorf("conflict message: %q", r.stderr)
			}
			m := runCLI(t, tenv, "", "import", file, "--json", "--batch-size", "2").want(t, exitConflict).decode(t)
			if im := m["imported"].(map[string]any); m["line"] != float64(5) || im["entries"] != float64(2) ||
				im["lastCommittedLine"] != float64(4) || im["last_committed_line"] != nil ||
				m["exitCode"] != float64(exitConflict) || m["rolledBackLines"] == nil {
				t.Errorf("conflict --json: %v", m)
			}
			runCLI(t, tenv, "", "import", file, "--on-conflict", "skip", "-q").want(t, exitOK)
			if r := runCLI(t, tenv, "", "get", "c", "--json").want(t, exitOK); !strings.Contains(r.stdout, `"mine"`) {
				t.Errorf("skip overwrote: %s", r.stdout)
			}
			runCLI(t, tenv, "", "import", file, "--on-conflict", "overwrite", "-q").want(t, exitOK)
			if r := runCLI(t, tenv, "", "get", "c", "--json").want(t, exitOK); !strings.Contains(r.stdout, `"value": "c"`) {
				t.Errorf("overwrite: %s", r.stdout)
			}
			runCLI(t, tenv, "", "import", file, "--on-conflict", "maybe").want(t, exitUsage)

			// A truncated file.
			cut := filepath.Join(t.TempDir(), "cut.ndjson")
			_ = os.WriteFile(cut, []byte(strings.Join(lines[:4], "\n")+"\n"), 0o600)
			fresh := tg.DSN(t)
			r = runCLI(t, nil, "", "--dsn", fresh, "import", cut).want(t, exitFailure)
			if !strings.Contains(r.stderr, "truncated") || !strings.Contains(r.stderr, "imported 2 entries through line 4") {
				t.Errorf("truncated: %q", r.stderr)
			}
			r = runCLI(t, nil, "", "--dsn", fresh, "import", "--check", cut).want(t, exitFailure)
			if !strings.Contains(r.stderr, "truncated") {
				t.Errorf("check truncated: %q", r.stderr)
			}
			// A malformed line.
			bad := filepath.Join(t.TempDir(), "bad.ndjson")
			_ = os.WriteFile(bad, []byte(strings.Join(append(append([]string{}, lines[:3]...), "{oops", lines[4]), "\n")+"\n"), 0o600)
			r = runCLI(t, nil, "", "--dsn", tg.DSN(t), "import", bad).want(t, exitFailure)
			if !strings.Contains(r.stderr, "line 4: malformed line") || !strings.Contains(r.stderr, "imported 1 entry through line 3") {
				t.Errorf("malformed: %q", r.stderr)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "u.db")
	cases := []struct {
		args []string
		code int
		err  string
	}{
		{nil, exitUsage, "no command given"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"get"}, exitUsage, "usage: store get KEY"},
		{[]string{"get", "a", "b"}, exitUsage, "usage: store get KEY"},
		{[]string{"--limit", "x", "list"}, exitUsage, "invalid value"},
		{[]string{"copy", "--from", dsn}, exitUsage, "the same DSN"}, // --to defaults to --dsn
		{[]string{"clear"}, exitUsage, "clear needs --namespace NAME, or --all"},
		{[]string{"meta", "k", "--merge"}, exitUsage, "--merge needs an OBJECT"},
		{[]string{"--dsn", "mysql://x", "status"}, exitUsage, "mysql"},
		{[]string{"status"}, exitFailure, "does not exist"}, // read commands do not create a database
		{[]string{"set", "k", "1", "--metadata", "[1]"}, exitUsage, "--metadata must be a JSON object"},
	}
	for _, c := range cases {
		args := c.args
		if len(args) == 0 || args[0] != "--dsn" {
			args = append([]string{"--dsn", dsn}, args...)
		}
		r := runCLI(t, nil, "", args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, r.code, r.stderr, c.code, c.err)
		}
	}
	r := runCLI(t, nil, "", "-h")
	if r.code != exitOK || !strings.Contains(r.stderr, "Exit status: 0 ok, 1 failure, 2 usage or input the store refuses") {
		t.Errorf("-h: %d %q", r.code, r.stderr)
	}
	// The default DSN is the migrate command's.
	if DefaultDSN != "sqlite:storage.db" {
		t.Errorf("DefaultDSN %q", DefaultDSN)
	}
}

func TestProgress(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
	env := map[string]string{"STORAGE_DSN": dsn}
	for i := range 30 {
		runCLI(t, env, "", "set", "k"+string(rune('a'+i%26))+string(rune('a'+i/26)), "1").want(t, exitOK)
	}
	old := lineInterval
	lineInterval = 0
	defer func() { lineInterval = old }()
	file := filepath.Join(t.TempDir(), "p.ndjson")
	r := runCLI(t, env, "", "export", file, "--progress", "bar").want(t, exitOK)
	if !strings.Contains(r.stderr, "\rexport [") || !strings.Contains(r.stderr, "100%") || !strings.Contains(r.stderr, "30 entries") {
		t.Errorf("bar: %q", r.stderr)
	}
	r = runCLI(t, map[string]string{"STORAGE_DSN": "sqlite:" + filepath.Join(t.TempDir(), "q.db")}, "", "import", file, "--batch-size", "10", "--progress", "lines").want(t, exitOK)
	if !regexp.MustCompile(`(?m)^import: 10 entries, 1 namespace, .*%, ETA`).MatchString(r.stderr) || strings.Contains(r.stderr, "\r") {
		t.Errorf("lines: %q", r.stderr)
	}
	r = runCLI(t, env, "", "export", file, "-q", "--progress", "bar").want(t, exitOK)
	if r.stderr != "" {
		t.Errorf("--quiet printed %q", r.stderr)
	}
}

// A redraw that reaches the terminal's last column wraps, and every update
// then scrolls a line: the bar's line must fit the width, whatever it is.
func TestProgressBarFitsTheTerminal(t *testing.T) {
	x := dump.Progress{Entries: 123456, TotalEntries: 1000000, Bytes: 98765432, Elapsed: 3 * time.Second}
	for _, cols := range []int{0, 20, 40, 60, 80, 200} {
		p := &progress{mode: progressBar, verb: "import", cols: cols}
		line := p.barLine(x)
		limit := cols - 1
		if cols == 0 {
			limit = defaultCols - 1
		}
		if n := utf8.RuneCountInString(line); n > limit {
			t.Errorf("cols %d: the line has %d runes, more than %d: %q", cols, n, limit, line)
		}
		if cols >= 80 && !strings.Contains(line, "[") {
			t.Errorf("cols %d: no bar in %q", cols, line)
		}
		if cols == 200 && !strings.Contains(line, "["+strings.Repeat("#", 3)+strings.Repeat("-", 27)+"]") {
			t.Errorf("cols 200: want the full 30-cell bar at 12%%: %q", line)
		}
	}
}

func TestVersionAndShortUsage(t *testing.T) {
	r := runCLI(t, nil, "", "--version").want(t, exitOK)
	if !strings.HasPrefix(r.stdout, "store ") {
		t.Errorf("--version printed %q", r.stdout)
	}
	r = runCLI(t, nil, "", "--frobnicate", "list").want(t, exitUsage)
	if strings.Count(r.stderr, "\n") != 2 || !strings.Contains(r.stderr, "-frobnicate") || strings.Contains(r.stderr, "Commands:") {
		t.Errorf("an unknown flag printed more than its line and the usage line:\n%s", r.stderr)
	}
}

func TestHasMetaClear(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "hmc.db")
	env := map[string]string{"STORAGE_DSN": dsn}
	runCLI(t, env, "", "set", "a", `{"n":1}`, "--metadata", `{"owner":"ada","tag":"x"}`).want(t, exitOK)
	runCLI(t, env, "", "set", "b", `2`, "-n", "other").want(t, exitOK)

	if r := runCLI(t, env, "", "has", "a").want(t, exitOK); strings.TrimSpace(r.stdout) != "true" {
		t.Errorf("has a printed %q", r.stdout)
	}
	if r := runCLI(t, env, "", "has", "zz").want(t, exitNotFound); strings.TrimSpace(r.stdout) != "false" || r.stderr != "" {
		t.Errorf("has zz printed %q, %q on stderr", r.stdout, r.stderr)
	}
	// --json: one object, the answer.
	if m := runCLI(t, env, "", "has", "zz", "--json").want(t, exitNotFound).decode(t); m["exists"] != false {
		t.Errorf("has zz --json = %v", m)
	}

	r := runCLI(t, env, "", "meta", "a", "--json").want(t, exitOK)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatal(err)
	}
	if md, _ := m["metadata"].(map[string]any); md["owner"] != "ada" || m["version"] != float64(1) || m["createdAt"] == nil ||
		m["createRevision"] == nil {
		t.Errorf("meta --json = %v", m)
	}
	// The wire's shape: no actor and no expiry is no field, not "" or null.
	for _, k := range []string{"createdBy", "updatedBy", "expiresAt"} {
		if _, ok := m[k]; ok {
			t.Errorf("meta --json has %s: %v", k, m)
		}
	}
	runCLI(t, env, "", "meta", "a", `{"tag":null,"n":2}`, "--merge").want(t, exitOK)
	r = runCLI(t, env, "", "meta", "a", "--json").want(t, exitOK)
	if !strings.Contains(r.stdout, `"owner": "ada"`) || strings.Contains(r.stdout, `"tag"`) || !strings.Contains(r.stdout, `"version": 2`) {
		t.Errorf("after a merge: %s", r.stdout)
	}
	runCLI(t, env, "", "meta", "a", `{"only":true}`, "--if-version", "1").want(t, exitConflict)
	runCLI(t, env, "", "meta", "a", `{"only":true}`).want(t, exitOK)
	if r = runCLI(t, env, "", "meta", "a").want(t, exitOK); !strings.Contains(r.stdout, `"only": true`) || strings.Contains(r.stdout, "owner") {
		t.Errorf("after a replace: %s", r.stdout)
	}
	runCLI(t, env, "", "meta", "missing").want(t, exitNotFound)

	// set --merge patches the value (RFC 7396).
	runCLI(t, env, "", "set", "a", `{"m":3,"n":null}`, "--merge").want(t, exitOK)
	if r := runCLI(t, env, "", "get", "a", "--json").want(t, exitOK); !strings.Contains(r.stdout, `"m": 3`) || strings.Contains(r.stdout, `"n"`) {
		t.Errorf("after set --merge: %s", r.stdout)
	}
	runCLI(t, env, "", "set", "a", `{"x":1}`, "--merge", "--no-overwrite").want(t, exitUsage)

	runCLI(t, env, "", "clear", "-n", "other").want(t, exitOK)
	runCLI(t, env, "", "has", "b", "-n", "other").want(t, exitNotFound)
	runCLI(t, env, "", "has", "a").want(t, exitOK)
	runCLI(t, env, "", "clear", "--all").want(t, exitOK)
	runCLI(t, env, "", "has", "a").want(t, exitNotFound)
}

func TestCopyTakesTheOtherSideFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	src, dst := "sqlite:"+filepath.Join(dir, "src.db"), "sqlite:"+filepath.Join(dir, "dst.db")
	runCLI(t, map[string]string{"STORAGE_DSN": src}, "", "set", "k", "1").want(t, exitOK)
	r := runCLI(t, map[string]string{"STORAGE_DSN": src}, "", "copy", "--to", dst, "-q").want(t, exitOK)
	_ = r
	if r := runCLI(t, map[string]string{"STORAGE_DSN": dst}, "", "get", "k").want(t, exitOK); !strings.Contains(r.stdout, "value:\n1") {
		t.Errorf("the copy has %q", r.stdout)
	}
	if r := runCLI(t, map[string]string{"STORAGE_DSN": src}, "", "copy", "--to", dst).want(t, exitOK); !strings.Contains(r.stderr, "1 entry") || strings.Contains(r.stderr, "1 namespaces") {
		t.Errorf("summary %q", r.stderr)
	}
}

func TestMissingDirectory(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")
	r := runCLI(t, map[string]string{"STORAGE_DSN": dsn}, "", "set", "k", "1").want(t, exitFailure)
	if !strings.Contains(r.stderr, "does not exist") || !strings.Contains(r.stderr, filepath.Join("no", "such", "dir")) {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestSetTTL(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "ttl.db")
	env := map[string]string{"STORAGE_DSN": dsn}
	before := time.Now()
	r := runCLI(t, env, "", "set", "s", `1`, "--ttl", "10m", "--json").want(t, exitOK)
	m := r.decode(t)
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["expiresAt"]))
	if err != nil || at.Before(before.Add(10*time.Minute-time.Second)) || at.After(time.Now().Add(10*time.Minute+time.Second)) {
		t.Fatalf("set --ttl 10m --json = %v", m)
	}
	if r := runCLI(t, env, "", "get", "s").want(t, exitOK); !strings.Contains(r.stdout, "expires:") || strings.Contains(r.stdout, "never") {
		t.Errorf("get of an expiring entry: %s", r.stdout)
	}
	if r := runCLI(t, env, "", "meta", "s", "--json").want(t, exitOK); !strings.Contains(r.stdout, `"expiresAt"`) {
		t.Errorf("meta --json lacks expiresAt: %s", r.stdout)
	}
	runCLI(t, env, "", "set", "s", `2`, "--keep-ttl").want(t, exitOK)
	if r := runCLI(t, env, "", "get", "s", "--json").want(t, exitOK); !strings.Contains(r.stdout, `"expiresAt"`) {
		t.Errorf("set --keep-ttl lost the expiry: %s", r.stdout)
	}
	runCLI(t, env, "", "set", "s", `3`).want(t, exitOK)
	if r := runCLI(t, env, "", "get", "s").want(t, exitOK); !strings.Contains(r.stdout, "never") {
		t.Errorf("an overwrite without --ttl kept the expiry: %s", r.stdout)
	}
	runCLI(t, env, "", "set", "n", `1`, "--ttl", "30").want(t, exitOK) // whole seconds
	runCLI(t, env, "", "set", "past", `1`, "--expires-at", "2001-01-01T00:00:00Z").want(t, exitUsage)
	for _, bad := range [][]string{{"--ttl", "0s"}, {"--ttl", "-5m"}, {"--ttl", "1.5"}, {"--ttl", "soon"}, {"--ttl", "1m", "--keep-ttl"}} {
		if r := runCLI(t, env, "", append([]string{"set", "bad", `1`}, bad...)...); r.code == exitOK {
			t.Errorf("set %v succeeded", bad)
		}
	}
	runCLI(t, env, "", "has", "bad").want(t, exitNotFound)
	runCLI(t, env, "", "has", "past").want(t, exitNotFound)
}
