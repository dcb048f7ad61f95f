package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/schema"
)

// TestNewerSchema: a database that a newer build migrated (its version is
// above every migration this binary knows) is refused by every command
// that would change it, with exit 1 and a message that says so, and
// nothing changes; status and version still report it.
func TestNewerSchema(t *testing.T) {
	latest := latestEmbedded(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.fresh(t)
			mustRun(t, "--dsn", dsn, "up")
			db := openDB(t, dsn)
			newer := latest + 5
			insert := `INSERT INTO ` + schema.VersionTable + ` (version_id, is_applied) VALUES ($1, true)`
			if b.d == schema.SQLite {
				insert = `INSERT INTO ` + schema.VersionTable + ` (version_id, is_applied) VALUES (?, 1)`
			}
			if _, err := db.Exec(insert, newer); err != nil {
				t.Fatal(err)
			}
			before := appliedRows(t, db)
			for _, args := range [][]string{{"up"}, {"up-to", "3"}, {"down"}, {"down-to", "3"}, {"redo"}, {"reset"}} {
				r := runCLI(t, nil, append([]string{"--dsn", dsn}, args...)...)
				if r.code != exitFailure || !strings.Contains(r.stderr, "newer than every migration this build knows") {
					t.Errorf("migrate %s on a newer schema: exit %d, want %d\nstdout: %s\nstderr: %s",
						strings.Join(args, " "), r.code, exitFailure, r.stdout, r.stderr)
				}
				if after := appliedRows(t, db); !maps.Equal(after, before) {
					t.Fatalf("migrate %s changed the versions: %v, was %v", strings.Join(args, " "), after, before)
				}
				if !tableExists(t, b.d, db, "entries") {
					t.Fatalf("migrate %s dropped entries", strings.Join(args, " "))
				}
			}
			r := runCLI(t, nil, "--json", "--dsn", dsn, "up")
			if m := decode(t, r.stdout); r.code != exitFailure || m["ok"] != false || m["exitCode"] != float64(exitFailure) {
				t.Errorf("--json up on a newer schema: exit %d, %v", r.code, m)
			}
			if r := mustRun(t, "--dsn", dsn, "status"); !strings.Contains(r.stdout, "newer") {
				t.Errorf("status does not warn:\n%s", r.stdout)
			}
		})
	}
}

// TestReadCommandsWriteNothing: status, version and the roll-backs on a
// database without the store's schema report version 0 and change nothing:
// a SQLite file that does not exist is not created (nor its lock file), and
// another program's database does not get goose's version table.
func TestReadCommandsWriteNothing(t *testing.T) {
	commands := [][]string{{"status"}, {"version"}, {"down"}, {"down-to", "0"}, {"reset"}, {"--json", "status"}}
	t.Run("missing sqlite file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "typo.db")
		for _, args := range commands {
			r := mustRun(t, append([]string{"--dsn", "sqlite:" + path}, args...)...)
			if args[0] == "version" && strings.TrimSpace(r.stdout) != "0" {
				t.Errorf("version = %q, want 0", r.stdout)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("migrate %s created %v", strings.Join(args, " "), ents)
			}
		}
		if r := runCLI(t, nil, "--dsn", "sqlite:"+path, "redo"); r.code != exitFailure {
			t.Errorf("redo with nothing applied: exit %d, want 1", r.code)
		}
		r := runCLI(t, nil, "--dsn", "sqlite:"+filepath.Join(dir, "no", "dir.db"), "up")
		if r.code != exitFailure || !strings.Contains(r.stderr, "does not exist") {
			t.Errorf("up in a missing directory: exit %d, stderr %s", r.code, r.stderr)
		}
		r = runCLI(t, nil, "--dsn", "sqlite:"+path, "--dir", filepath.Join(dir, "nomigrations"), "up")
		if r.code != exitUsage || !strings.Contains(r.stderr, "--dir") {
			t.Errorf("up with a --dir that does not exist: exit %d, stderr %s", r.code, r.stderr)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("up with a --dir that does not exist created %v", ents)
		}
	})
	for _, b := range backends {
		t.Run("other program's "+b.name, func(t *testing.T) {
			dsn := b.fresh(t)
			db := openDB(t, dsn)
			if _, err := db.Exec(`CREATE TABLE theirs (x integer)`); err != nil {
				t.Fatal(err)
			}
			for _, args := range commands {
				mustRun(t, append([]string{"--dsn", dsn}, args...)...)
				if tableExists(t, b.d, db, schema.VersionTable) {
					t.Fatalf("migrate %s created %s", strings.Join(args, " "), schema.VersionTable)
				}
			}
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM theirs`).Scan(&n); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConnectFailureOneLine: a database that cannot be reached is one line
// naming it (host, port and database; never the user or the password) and
// why, in the engine's words with its sentinel, as sqlstore.Open says it;
// it was pgx's own text ("failed to connect to `user=someone …`: dial
// error: …").
func TestConnectFailureOneLine(t *testing.T) {
	dsn := "postgres://someone:secret@127.0.0.1:1/thedb?sslmode=disable&connect_timeout=2"
	for _, cmd := range []string{"up", "status", "version", "down"} {
		r := runCLI(t, nil, "--dsn", dsn, cmd)
		want := "migrate: open postgres at 127.0.0.1:1/thedb: storage: database unavailable: "
		if r.code != exitFailure || !strings.HasPrefix(r.stderr, want) || !strings.HasSuffix(r.stderr, ": connection refused\n") ||
			strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("migrate %s: exit %d, stderr %q; want %d and one line %q…: connection refused", cmd, r.code, r.stderr, exitFailure, want)
		}
		for _, leak := range []string{"secret", "someone", "failed to connect", "dial"} {
			if strings.Contains(r.stderr, leak) {
				t.Errorf("migrate %s: stderr %q shows %q", cmd, r.stderr, leak)
			}
		}
		j := runCLI(t, nil, "--json", "--dsn", dsn, cmd)
		if m := decode(t, j.stdout); j.code != exitFailure || m["ok"] != false || !strings.HasPrefix(m["error"].(string), "open postgres at 127.0.0.1:1/thedb: ") {
			t.Errorf("migrate --json %s: exit %d, %v", cmd, j.code, m)
		}
	}
}

// TestDSNParseErrorHidesCredentials: a PostgreSQL DSN that does not parse
// is a usage error that says why without quoting the DSN: pgx's message
// quotes it with the user and the password redacted only as best it can
// ("postgres://someone:xxxxx@cret@h…" for the password "se@cret").
func TestDSNParseErrorHidesCredentials(t *testing.T) {
	for dsn, why := range map[string]string{
		"postgres://someone:se@cret@h:99999999/db":        "invalid port",
		"postgres://someone:s3cr3t@h/db?pool_max_conns=x": "cannot parse pool_max_conns",
	} {
		r := runCLI(t, nil, "--dsn", dsn, "up")
		if r.code != exitUsage || !strings.Contains(r.stderr, "migrate: DSN: the PostgreSQL DSN does not parse: "+why) {
			t.Errorf("migrate --dsn %s up: exit %d, stderr %q; want %d and why: %s", dsn, r.code, r.stderr, exitUsage, why)
		}
		for _, leak := range []string{"cret", "s3cr3t", "someone"} {
			if strings.Contains(r.stderr, leak) {
				t.Errorf("migrate --dsn %s up: stderr %q shows %q", dsn, r.stderr, leak)
			}
		}
	}
}
