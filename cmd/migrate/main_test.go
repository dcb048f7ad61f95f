package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
	"github.com/mycelia-kernel/storage/schema"
)

// binary is the migrate command built by TestMain, for the tests that need
// separate processes.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "migrate-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "migrate")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// result is one in-process run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var o, e bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, args, &o, &e, func(k string) string { return env[k] })
	return result{code, o.String(), e.String()}
}

func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runCLI(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("migrate %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return m
}

// backend is a database the tests run the CLI against.
type backend struct {
	name string
	d    schema.Dialect
	// fresh returns the DSN of a new, empty database (or schema).
	fresh func(t *testing.T) string
}

var backends = []backend{
	{"sqlite", schema.SQLite, func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "store.db")
	}},
	{"postgres", schema.Postgres, newPGSchema},
}

// newPGSchema gives the test a fresh schema, dropped when it ends.
func newPGSchema(t *testing.T) string {
	t.Helper()
	return pgtest.NewSchema(t, "migrate")
}

// openDB opens the DSN's database with database/sql, to look behind the CLI.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if p, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		db, err = sql.Open("sqlite", "file:"+p+"?_pragma=busy_timeout(10000)")
	} else {
		db, err = sql.Open("pgx", dsn)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// appliedRows returns goose's rows per version (version 0 included).
func appliedRows(t *testing.T, db *sql.DB) map[int64]int {
	t.Helper()
	rows, err := db.Query(`SELECT version_id, count(*) FROM ` + schema.VersionTable + ` GROUP BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64]int{}
	for rows.Next() {
		var v int64
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		got[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func tableExists(t *testing.T, d schema.Dialect, db *sql.DB, name string) bool {
	t.Helper()
	var ok bool
	var err error
	if d == schema.SQLite {
		err = db.QueryRow(`SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type='table' AND name=?)`, name).Scan(&ok)
	} else {
		err = db.QueryRow(`SELECT to_regclass(quote_ident($1)) IS NOT NULL`, name).Scan(&ok)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// latestEmbedded is the highest embedded migration version (both dialects
// have the same ones; validate checks that).
func latestEmbedded(t *testing.T) int64 {
	t.Helper()
	f, err := schema.EmbeddedFS(schema.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	files, err := schema.ListFiles(f)
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v (%d files)", err, len(files))
	}
	return files[len(files)-1].Version
}

// migrationsDir copies the embedded migrations of both dialects into a new
// directory and adds extra files: name -> {dialect: SQL}.
func migrationsDir(t *testing.T, extra map[string]map[schema.Dialect]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range schema.Dialects {
		sub := filepath.Join(dir, string(d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := schema.EmbeddedFS(d)
		if err != nil {
			t.Fatal(err)
		}
		err = fs.WalkDir(f, ".", func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			b, err := fs.ReadFile(f, p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(sub, p), b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, bodies := range extra {
			if err := os.WriteFile(filepath.Join(sub, name), []byte(bodies[d]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func both(sql string) map[schema.Dialect]string {
	return map[schema.Dialect]string{schema.SQLite: sql, schema.Postgres: sql}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		r := runCLI(t, nil, arg)
		if r.code != exitOK {
			t.Errorf("%s: exit %d, want 0", arg, r.code)
		}
		for _, c := range commands {
			if !strings.Contains(r.stderr, "  "+c.name+" ") {
				t.Errorf("%s does not document command %q:\n%s", arg, c.name, r.stderr)
			}
		}
		for _, f := range []string{"-dsn", "-json", "-dir", "-lock-timeout", "STORAGE_DSN", "Exit status"} {
			if !strings.Contains(r.stderr, f) {
				t.Errorf("%s does not document %q", arg, f)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	tests := []struct {
		name string
		args []string
	}{
		{"no command", []string{"--dsn", dsn}},
		{"unknown command", []string{"--dsn", dsn, "sideways"}},
		{"unknown flag", []string{"--frobnicate", "up"}},
		{"missing version", []string{"--dsn", dsn, "up-to"}},
		{"bad version", []string{"--dsn", dsn, "down-to", "two"}},
		{"negative version", []string{"--dsn", dsn, "down-to", "-1"}},
		{"extra argument", []string{"--dsn", dsn, "up", "now"}},
		{"create without name", []string{"create"}},
		{"bad DSN", []string{"--dsn", "mysql://x", "up"}},
		{"bad sqlite parameter", []string{"--dsn", dsn + "?colour=blue", "up"}},
		// A lock timeout that is not positive meant the default, five
		// minutes, where one would expect no wait at all.
		{"zero lock timeout", []string{"--dsn", dsn, "--lock-timeout", "0", "status"}},
		{"negative lock timeout", []string{"--dsn", dsn, "--lock-timeout", "-1s", "up"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, exitUsage, r.stderr)
			}
			if r.stderr == "" {
				t.Error("no message on stderr")
			}
		})
	}
	// With --json every usage error is a JSON document on stdout too, a
	// flag that does not parse among them (it was text on stderr alone,
	// and stdout empty, where store answered JSON).
	for _, args := range [][]string{
		{"--json", "--dsn", dsn, "sideways"},
		{"--json", "--frobnicate", "up"},
		{"up", "--lock-timeout", "soon", "--json"},
	} {
		t.Run("json "+strings.Join(args, " "), func(t *testing.T) {
			r := runCLI(t, nil, args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want 2", r.code)
			}
			m := decode(t, r.stdout)
			if m["ok"] != false || m["exitCode"] != float64(exitUsage) || m["error"] == "" {
				t.Errorf("JSON error = %v", m)
			}
		})
	}
}

func TestDSNFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	envDSN := "sqlite:" + filepath.Join(dir, "env.db")
	flagDSN := "sqlite:" + filepath.Join(dir, "flag.db")
	if r := runCLI(t, map[string]string{"STORAGE_DSN": envDSN}, "up"); r.code != 0 {
		t.Fatalf("up with STORAGE_DSN: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "env.db")); err != nil {
		t.Errorf("STORAGE_DSN not used: %v", err)
	}
	if r := runCLI(t, map[string]string{"STORAGE_DSN": envDSN}, "--dsn", flagDSN, "up"); r.code != 0 {
		t.Fatalf("up with --dsn: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "flag.db")); err != nil {
		t.Errorf("--dsn does not win over STORAGE_DSN: %v", err)
	}
	// The default is sqlite:storage.db in the current directory.
	t.Chdir(dir)
	if r := runCLI(t, nil, "up"); r.code != 0 {
		t.Fatalf("up with the default DSN: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "storage.db")); err != nil {
		t.Errorf("default DSN %s not used: %v", DefaultDSN, err)
	}
}

var appliedLine = regexp.MustCompile(`(?m)^up   (\d+_\w+\.sql) \(\d[\d.]*[nµm]?s\)$`)

func TestLifecycle(t *testing.T) {
	latest := latestEmbedded(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.fresh(t)
			db := openDB(t, dsn)

			if r := mustRun(t, "--dsn", dsn, "version"); strings.TrimSpace(r.stdout) != "0" {
				t.Errorf("version of a fresh database = %q, want 0", r.stdout)
			}
			r := mustRun(t, "--dsn", dsn, "status")
			if !strings.Contains(r.stdout, "pending") || !strings.Contains(r.stdout, "VERSION") {
				t.Errorf("status of a fresh database:\n%s", r.stdout)
			}

			r = mustRun(t, "--dsn", dsn, "up")
			if n := len(appliedLine.FindAllString(r.stdout, -1)); int64(n) != latest {
				t.Errorf("up printed %d applied lines, want %d:\n%s", n, latest, r.stdout)
			}
			r = mustRun(t, "--dsn", dsn, "up")
			if !strings.Contains(r.stdout, "nothing to do") {
				t.Errorf("second up:\n%s", r.stdout)
			}
			if r := mustRun(t, "--dsn", dsn, "version"); strings.TrimSpace(r.stdout) != fmt.Sprint(latest) {
				t.Errorf("version = %q, want %d", r.stdout, latest)
			}

			// status: an aligned table with applied times.
			r = mustRun(t, "status", "--dsn", dsn) // flags after the command too
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			col := strings.Index(lines[0], "APPLIED AT")
			for _, l := range lines[1 : 1+latest] {
				if !strings.Contains(l, "applied") {
					t.Errorf("status line %q: not applied", l)
				}
				if len(l) < col || !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`).MatchString(l[col:]) {
					t.Errorf("status line %q: no applied time under the header", l)
				}
			}
			js := decode(t, mustRun(t, "--dsn", dsn, "--json", "status").stdout)
			migs, _ := js["migrations"].([]any)
			if len(migs) != int(latest) || js["version"] != float64(latest) {
				t.Errorf("status --json = %v", js)
			}
			for _, m := range migs {
				if m.(map[string]any)["appliedAt"] == nil {
					t.Errorf("status --json: %v has no appliedAt", m)
				}
			}

			// Data written after up survives later commands that change nothing.
			if _, err := db.Exec(`INSERT INTO namespaces (name, metadata, created_at) VALUES ('kept', ` +
				map[schema.Dialect]string{schema.SQLite: "jsonb('{}'), 1", schema.Postgres: "'{}', now()"}[b.d] + `)`); err != nil {
				t.Fatalf("insert: %v", err)
			}
			mustRun(t, "--dsn", dsn, "up")
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM namespaces WHERE name = 'kept'`).Scan(&n); err != nil || n != 1 {
				t.Errorf("row written after up: count %d, %v", n, err)
			}

			// redo: the latest migration down and up again.
			js = decode(t, mustRun(t, "--dsn", dsn, "--json", "redo").stdout)
			migs, _ = js["migrations"].([]any)
			if len(migs) != 2 || migs[0].(map[string]any)["direction"] != "down" ||
				migs[1].(map[string]any)["direction"] != "up" || js["version"] != float64(latest) {
				t.Errorf("redo --json = %v", js)
			}

			// down, down-to, up-to, reset.
			mustRun(t, "--dsn", dsn, "down")
			if r := mustRun(t, "--dsn", dsn, "version"); strings.TrimSpace(r.stdout) != fmt.Sprint(latest-1) {
				t.Errorf("version after down = %q, want %d", r.stdout, latest-1)
			}
			mustRun(t, "--dsn", dsn, "down-to", "0")
			if r := mustRun(t, "--dsn", dsn, "version"); strings.TrimSpace(r.stdout) != "0" {
				t.Errorf("version after down-to 0 = %q", r.stdout)
			}
			mustRun(t, "--dsn", dsn, "up-to", "1")
			if r := mustRun(t, "--dsn", dsn, "version"); strings.TrimSpace(r.stdout) != "1" {
				t.Errorf("version after up-to 1 = %q", r.stdout)
			}
			mustRun(t, "--dsn", dsn, "up")
			r = mustRun(t, "--dsn", dsn, "reset")
			if !strings.Contains(r.stdout, "down ") {
				t.Errorf("reset printed no down line:\n%s", r.stdout)
			}
			if tableExists(t, b.d, db, "namespaces") {
				t.Error("namespaces still exists after reset")
			}
			if r := runCLI(t, nil, "--dsn", dsn, "redo"); r.code != exitFailure {
				t.Errorf("redo with nothing applied: exit %d, want 1", r.code)
			}
			js = decode(t, mustRun(t, "--dsn", dsn, "--json", "up").stdout)
			if js["version"] != float64(latest) || js["ok"] != true {
				t.Errorf("up --json = %v", js)
			}
			if v := js["migrations"].([]any)[0].(map[string]any); v["file"] == "" || v["durationMs"] == nil {
				t.Errorf("up --json migration = %v", v)
			}
		})
	}
}

// TestFailingMigration: a migration that fails leaves the schema at the last
// good version, rolls back its own statements, and the message names the
// file and the statement.
func TestFailingMigration(t *testing.T) {
	latest := latestEmbedded(t)
	good := fmt.Sprintf("%05d_good.sql", latest+1)
	bad := fmt.Sprintf("%05d_broken.sql", latest+2)
	after := fmt.Sprintf("%05d_after.sql", latest+3)
	dir := migrationsDir(t, map[string]map[schema.Dialect]string{
		good: both("-- +goose Up\nCREATE TABLE t_good (x INTEGER);\n-- +goose Down\nDROP TABLE t_good;\n"),
		bad: both("-- +goose Up\nCREATE TABLE t_partial (x INTEGER);\n" +
			"INSERT INTO no_such_table (x) VALUES (1);\n-- +goose Down\nDROP TABLE t_partial;\n"),
		after: both("-- +goose Up\nCREATE TABLE t_after (x INTEGER);\n-- +goose Down\nDROP TABLE t_after;\n"),
	})
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.fresh(t)
			db := openDB(t, dsn)
			r := runCLI(t, nil, "--dsn", dsn, "--dir", dir, "up")
			if r.code != exitFailure {
				t.Fatalf("up: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{bad, "INSERT INTO no_such_table (x) VALUES (1)", "no_such_table",
				fmt.Sprintf("schema is at version %d", latest+1)} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("error message does not contain %q:\n%s", want, r.stderr)
				}
			}
			if !strings.Contains(r.stdout, good) {
				t.Errorf("the good migration before the failure is not reported:\n%s", r.stdout)
			}
			if got := mustRun(t, "--dsn", dsn, "--dir", dir, "version").stdout; strings.TrimSpace(got) != fmt.Sprint(latest+1) {
				t.Errorf("version after the failure = %q, want %d", got, latest+1)
			}
			if !tableExists(t, b.d, db, "t_good") {
				t.Error("t_good (the last good migration) is missing")
			}
			if tableExists(t, b.d, db, "t_partial") {
				t.Error("t_partial exists: the failed migration was not rolled back")
			}
			if tableExists(t, b.d, db, "t_after") {
				t.Error("t_after exists: a migration after the failure ran")
			}
			// --json names them too.
			r = runCLI(t, nil, "--dsn", dsn, "--dir", dir, "--json", "up")
			js := decode(t, r.stdout)
			f, _ := js["failed"].(map[string]any)
			if r.code != exitFailure || f["file"] != bad || !strings.Contains(fmt.Sprint(f["statement"]), "no_such_table") {
				t.Errorf("up --json: exit %d, %v", r.code, js)
			}
		})
	}
}

// TestConcurrentUp: four processes of the built binary run up at once; each
// migration is applied exactly once.
func TestConcurrentUp(t *testing.T) {
	latest := latestEmbedded(t)
	extra := map[string]map[schema.Dialect]string{}
	for i := int64(1); i <= 3; i++ {
		extra[fmt.Sprintf("%05d_extra_%d.sql", latest+i, i)] = both(fmt.Sprintf(
			"-- +goose Up\nCREATE TABLE extra_%d (x INTEGER);\nINSERT INTO extra_%d VALUES (1);\n"+
				"-- +goose Down\nDROP TABLE extra_%d;\n", i, i, i))
	}
	dir := migrationsDir(t, extra)
	total := latest + 3
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for round := 0; round < 3; round++ {
				dsn := b.fresh(t)
				const procs = 4
				var wg sync.WaitGroup
				outs := make([][]byte, procs)
				errs := make([]error, procs)
				for i := range procs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						cmd := exec.Command(binary, "--dsn", dsn, "--dir", dir, "--json", "up")
						cmd.Env = append(os.Environ(), "STORAGE_DSN=")
						var stderr bytes.Buffer
						cmd.Stderr = &stderr
						outs[i], errs[i] = cmd.Output()
						if errs[i] != nil {
							errs[i] = fmt.Errorf("%w: %s", errs[i], stderr.String())
						}
					}()
				}
				wg.Wait()
				applied := 0
				for i := range procs {
					if errs[i] != nil {
						t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
					}
					js := decode(t, string(outs[i]))
					applied += len(js["migrations"].([]any))
					if js["version"] != float64(total) {
						t.Errorf("process %d ended at version %v, want %d", i, js["version"], total)
					}
				}
				if applied != int(total) {
					t.Errorf("round %d: the processes applied %d migrations in all, want %d", round, applied, total)
				}
				db := openDB(t, dsn)
				got := appliedRows(t, db)
				for v := int64(0); v <= total; v++ {
					if got[v] != 1 {
						t.Errorf("round %d: version %d recorded %d times, want once (%v)", round, v, got[v], got)
					}
				}
				for i := 1; i <= 3; i++ {
					var n int
					if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM extra_%d", i)).Scan(&n); err != nil || n != 1 {
						t.Errorf("extra_%d has %d rows (%v), want 1", i, n, err)
					}
				}
			}
		})
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	r := mustRun(t, "create", "Add user index")
	want := []string{
		filepath.Join("migrations", "sqlite", "00001_add_user_index.sql"),
		filepath.Join("migrations", "postgres", "00001_add_user_index.sql"),
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("create output does not name %s:\n%s", w, r.stdout)
		}
		b, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "-- +goose Up") || !strings.Contains(string(b), "-- +goose Down") {
			t.Errorf("%s lacks goose annotations:\n%s", w, b)
		}
	}
	// The next number follows the highest of either dialect.
	if err := os.WriteFile(filepath.Join("migrations", "postgres", "00007_pg_only.sql"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	js := decode(t, mustRun(t, "--json", "create", "next-one").stdout)
	files := fmt.Sprint(js["files"])
	if !strings.Contains(files, filepath.Join("sqlite", "00008_next_one.sql")) ||
		!strings.Contains(files, filepath.Join("postgres", "00008_next_one.sql")) {
		t.Errorf("create --json = %v", js)
	}
	// --dir chooses the directory.
	other := filepath.Join(dir, "elsewhere")
	mustRun(t, "--dir", other, "create", "first")
	if _, err := os.Stat(filepath.Join(other, "postgres", "00001_first.sql")); err != nil {
		t.Error(err)
	}
	if r := runCLI(t, nil, "create", "***"); r.code != exitUsage {
		t.Errorf("create *** : exit %d, want 2", r.code)
	}
}

func TestValidate(t *testing.T) {
	r := mustRun(t, "validate")
	if !strings.HasPrefix(r.stdout, "ok:") {
		t.Errorf("validate of the embedded migrations:\n%s", r.stdout)
	}
	latest := latestEmbedded(t)
	tests := []struct {
		name  string
		files map[string]map[schema.Dialect]string
		want  string
	}{
		{"no down", map[string]map[schema.Dialect]string{
			fmt.Sprintf("%05d_x.sql", latest+1): both("-- +goose Up\nCREATE TABLE x (a INTEGER);\n"),
		}, "want one +goose Down"},
		{"unterminated", map[string]map[schema.Dialect]string{
			fmt.Sprintf("%05d_x.sql", latest+1): both("-- +goose Up\nCREATE TABLE x (a INTEGER)\n-- +goose Down\nDROP TABLE x;\n"),
		}, "does not end with ';'"},
		{"open block", map[string]map[schema.Dialect]string{
			fmt.Sprintf("%05d_x.sql", latest+1): both("-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE x (a INTEGER);\n-- +goose Down\nDROP TABLE x;\n"),
		}, "StatementBegin"},
		{"one dialect only", map[string]map[schema.Dialect]string{
			fmt.Sprintf("%05d_x.sql", latest+1): {schema.Postgres: "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n"},
		}, "sqlite does not"},
		{"bad SQL", map[string]map[schema.Dialect]string{
			fmt.Sprintf("%05d_x.sql", latest+1): both("-- +goose Up\nCREATE TABLE x (a INTEGER);\n-- +goose Down\nDROP TABLE no_such;\n"),
		}, "no_such"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := migrationsDir(t, tc.files)
			if tc.name == "one dialect only" {
				_ = os.Remove(filepath.Join(dir, "sqlite", fmt.Sprintf("%05d_x.sql", latest+1)))
			}
			r := runCLI(t, nil, "--dir", dir, "validate")
			if r.code != exitFailure || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want 1 and %q in:\n%s", r.code, tc.want, r.stderr)
			}
		})
	}
}
