package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/schema"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// schemaDump is pg_dump --schema-only of one schema, run inside the
// container, without the lines that name the dump itself.
func (c *pgContainer) schemaDump(t *testing.T, schemaName string) string {
	t.Helper()
	out := c.exec(t, "pg_dump", "--schema-only", "--no-owner", "--no-privileges",
		"-U", "storage", "-d", "storage", "-n", schemaName)
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "-- Dumped") || strings.HasPrefix(l, "\\restrict") || strings.HasPrefix(l, "\\unrestrict") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// migrationsWithExtra copies the embedded migrations into a directory and
// adds one more migration per dialect, numbered after the latest.
func migrationsWithExtra(t *testing.T, extra func(v int64) (name, sql string)) (dir string, latest int64) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range schema.Dialects {
		f, err := schema.EmbeddedFS(d)
		if err != nil {
			t.Fatal(err)
		}
		files, err := schema.ListFiles(f)
		if err != nil {
			t.Fatal(err)
		}
		latest = files[len(files)-1].Version
		sub := filepath.Join(dir, string(d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, mf := range files {
			b, err := fs.ReadFile(f, mf.File)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(sub, mf.File), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if extra != nil {
			name, sql := extra(latest + 1)
			if err := os.WriteFile(filepath.Join(sub, name), []byte(sql), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir, latest
}

type cliResult struct {
	OK         bool  `json:"ok"`
	Version    int64 `json:"version"`
	Latest     int64 `json:"latest"`
	Migrations []struct {
		Version   int64  `json:"version"`
		File      string `json:"file"`
		Direction string `json:"direction"`
	} `json:"migrations"`
}

func decodeResult(t *testing.T, out string) cliResult {
	t.Helper()
	var r cliResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("migrate --json output: %v\n%s", err, out)
	}
	return r
}

// TestMigrateCLI runs the built migrate binary against the container: up,
// data written through the store, redo (the schema is the same after it),
// later ups (the data survives), down and reset.
func TestMigrateCLI(t *testing.T) {
	pg := startPostgres(t, pgOptions{})
	dsn, name := pg.newSchema(t)
	ctx := context.Background()

	// The embedded migrations first.
	r := decodeResult(t, migrate(t, "--dsn", dsn, "--json", "up"))
	if !r.OK || r.Version != r.Latest || len(r.Migrations) != int(r.Latest) {
		t.Fatalf("up = %+v", r)
	}
	latest := r.Latest
	human := migrate(t, "--dsn", dsn, "status")
	if regexp.MustCompile(`(?m)^\d+ +\S+\.sql +applied +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`).FindAllString(human, -1) == nil {
		t.Errorf("status shows no applied migration with its time:\n%s", human)
	}
	before := pg.schemaDump(t, name)
	if !strings.Contains(before, "CREATE TABLE "+name+".entries") {
		t.Fatalf("pg_dump shows no entries table:\n%s", before)
	}

	// Data written after up.
	s, err := sqlstore.Open(ctx, dsn, sqlstore.WithoutMigrate())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := s.Set(ctx, fmt.Sprintf("k%03d", i), map[string]any{"i": i}, storage.InNamespace("kept")); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	// Checked with SQL: the store refuses a schema newer than it knows.
	checkKept := func(when string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("%s: connect: %v", when, err)
		}
		defer conn.Close(ctx)
		var n int
		var v string
		err = conn.QueryRow(ctx, `SELECT count(*), max(e.value->>'i') FROM entries e
			JOIN namespaces ns ON ns.id = e.namespace_id WHERE ns.name = 'kept'`).Scan(&n, &v)
		if err != nil || n != 50 || v != "9" { // max of the strings "0".."49"
			t.Errorf("%s: %d entries kept, max %q (%v), want 50, \"9\"", when, n, v, err)
		}
	}
	// A later up that changes nothing, and one that applies a new migration.
	if r := decodeResult(t, migrate(t, "--dsn", dsn, "--json", "up")); len(r.Migrations) != 0 {
		t.Errorf("second up applied %+v", r.Migrations)
	}
	checkKept("after a second up")
	dir, _ := migrationsWithExtra(t, func(v int64) (string, string) {
		return fmt.Sprintf("%05d_audit.sql", v), "-- +goose Up\nCREATE TABLE audit (id BIGINT PRIMARY KEY, note TEXT NOT NULL);\n" +
			"-- +goose Down\nDROP TABLE audit;\n"
	})
	if r := decodeResult(t, migrate(t, "--dsn", dsn, "--dir", dir, "--json", "up")); r.Version != latest+1 {
		t.Errorf("up with a new migration: %+v", r)
	}
	checkKept("after an up that applied a new migration")
	withAudit := pg.schemaDump(t, name)

	// redo of the new migration: the same schema after it.
	r = decodeResult(t, migrate(t, "--dsn", dsn, "--dir", dir, "--json", "redo"))
	if len(r.Migrations) != 2 || r.Version != latest+1 {
		t.Errorf("redo = %+v", r)
	}
	if got := pg.schemaDump(t, name); got != withAudit {
		t.Errorf("schema after redo differs from before:\n--- before\n%s\n--- after\n%s", withAudit, got)
	}
	checkKept("after redo")

	// down: back to the embedded schema exactly.
	migrate(t, "--dsn", dsn, "--dir", dir, "down")
	if got := pg.schemaDump(t, name); got != before {
		t.Errorf("schema after down differs from the schema before the new migration:\n--- before\n%s\n--- after\n%s", before, got)
	}
	checkKept("after down")

	// redo of the embedded latest: the schema is the same (its data is not:
	// the latest migration's down drops tables).
	migrate(t, "--dsn", dsn, "redo")
	if got := pg.schemaDump(t, name); got != before {
		t.Errorf("schema after redo of %d differs:\n--- before\n%s\n--- after\n%s", latest, before, got)
	}

	// reset: nothing but goose's table; up again: the same schema.
	r = decodeResult(t, migrate(t, "--dsn", dsn, "--json", "reset"))
	if r.Version != 0 || len(r.Migrations) != int(latest) {
		t.Errorf("reset = %+v", r)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables []string
	rows, _ := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, name)
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) != 1 || tables[0] != schema.VersionTable {
		t.Errorf("tables after reset = %v (%v), want only %s", tables, err, schema.VersionTable)
	}
	migrate(t, "--dsn", dsn, "up")
	if got := pg.schemaDump(t, name); got != before {
		t.Errorf("schema after reset and up differs:\n--- before\n%s\n--- after\n%s", before, got)
	}
	if v := strings.TrimSpace(migrate(t, "--dsn", dsn, "version")); v != fmt.Sprint(latest) {
		t.Errorf("version = %s, want %d", v, latest)
	}
}

// TestMigrateConcurrentUp: four migrate up processes at once, on fresh
// databases, apply each migration exactly once.
func TestMigrateConcurrentUp(t *testing.T) {
	pg := startPostgres(t, pgOptions{})
	migrateBinary(t) // build before timing anything
	dir, latest := migrationsWithExtra(t, func(v int64) (string, string) {
		return fmt.Sprintf("%05d_extra.sql", v), "-- +goose Up\nCREATE TABLE extra (x INTEGER);\nINSERT INTO extra VALUES (1);\n" +
			"-- +goose Down\nDROP TABLE extra;\n"
	})
	total := latest + 1
	for round := range 3 {
		dsn := pg.newDatabase(t)
		const procs = 4
		outs := make([]string, procs)
		codes := make([]int, procs)
		errs := make([]string, procs)
		var wg sync.WaitGroup
		for i := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], codes[i], errs[i] = migrateCode(t, "--dsn", dsn, "--dir", dir, "--json", "up")
			}()
		}
		wg.Wait()
		applied := 0
		for i := range procs {
			if codes[i] != 0 {
				t.Fatalf("round %d: process %d: exit %d\n%s\n%s", round, i, codes[i], outs[i], errs[i])
			}
			r := decodeResult(t, outs[i])
			applied += len(r.Migrations)
			if r.Version != total {
				t.Errorf("round %d: process %d ended at version %d, want %d", round, i, r.Version, total)
			}
		}
		if applied != int(total) {
			t.Errorf("round %d: %d migrations applied in all by %d processes, want %d", round, applied, procs, total)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		rows, _ := conn.Query(ctx, `SELECT version_id, count(*) FROM `+schema.VersionTable+` GROUP BY 1 ORDER BY 1`)
		type vc struct{ V, N int64 }
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[vc])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != int(total)+1 {
			t.Errorf("round %d: version rows %v, want versions 0..%d once each", round, got, total)
		}
		for _, g := range got {
			if g.N != 1 {
				t.Errorf("round %d: version %d recorded %d times", round, g.V, g.N)
			}
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM extra`).Scan(&n); err != nil || n != 1 {
			t.Errorf("round %d: extra has %d rows (%v), want 1", round, n, err)
		}
		_ = conn.Close(ctx)
		cancel()
	}
}
