package schema

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// withExtra returns d's embedded migrations plus extra files.
func withExtra(t *testing.T, d Dialect, extra map[string]string) fs.FS {
	t.Helper()
	src, err := EmbeddedFS(d)
	if err != nil {
		t.Fatal(err)
	}
	m := fstest.MapFS{}
	files, err := ListFiles(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(src, f.File)
		if err != nil {
			t.Fatal(err)
		}
		m[f.File] = &fstest.MapFile{Data: b}
	}
	for name, body := range extra {
		m[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return m
}

func TestMigratorFailureNamesFileAndStatement(t *testing.T) {
	ctx := context.Background()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			var sqlDB *sql.DB
			if d == Postgres {
				sqlDB = openPostgres(t)
			} else {
				sqlDB = openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
			}
			fsys := withExtra(t, d, map[string]string{
				"09001_good.sql": "-- +goose Up\nCREATE TABLE good (x INTEGER);\n-- +goose Down\nDROP TABLE good;\n",
				"09002_bad.sql": "-- +goose Up\nCREATE TABLE partial (x INTEGER);\nINSERT INTO missing_table VALUES (1);\n" +
					"-- +goose Down\nDROP TABLE partial;\n",
			})
			m, err := NewMigrator(d, sqlDB, WithFS(fsys))
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Up(ctx)
			var me *MigrationError
			if !errors.As(err, &me) {
				t.Fatalf("Up error = %v, want a *MigrationError", err)
			}
			if me.File != "09002_bad.sql" || me.Version != 9002 || me.Direction != "up" ||
				!strings.Contains(me.Statement, "INSERT INTO missing_table") {
				t.Errorf("MigrationError = %+v", me)
			}
			if !strings.Contains(err.Error(), "09002_bad.sql") || !strings.Contains(err.Error(), "INSERT INTO missing_table") {
				t.Errorf("message does not name the file and statement: %v", err)
			}
			if len(res) == 0 || res[len(res)-1].Source.Version != 9001 {
				t.Errorf("applied before the failure = %v, want ending with 9001", res)
			}
			if v, err := m.Version(ctx); err != nil || v != 9001 {
				t.Errorf("Version = %d, %v; want 9001", v, err)
			}
			// Down, Redo, Reset.
			if r, err := m.Redo(ctx); err != nil || len(r) != 2 {
				t.Errorf("Redo = %v, %v", r, err)
			}
			if r, err := m.Down(ctx); err != nil || len(r) != 1 || r[0].Source.Version != 9001 {
				t.Errorf("Down = %v, %v", r, err)
			}
			if _, err := m.Reset(ctx); err != nil {
				t.Fatal(err)
			}
			if v, _ := m.Version(ctx); v != 0 {
				t.Errorf("Version after Reset = %d", v)
			}
			if r, err := m.Down(ctx); err != nil || len(r) != 0 {
				t.Errorf("Down with nothing applied = %v, %v", r, err)
			}
			if _, err := m.Redo(ctx); !errors.Is(err, ErrNothingToRedo) {
				t.Errorf("Redo with nothing applied = %v", err)
			}
		})
	}
}

func TestValidateEmbedded(t *testing.T) {
	if err := ValidateEmbedded(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateFiles(t *testing.T) {
	good := "-- +goose Up\nCREATE TABLE x (a INT);\n-- +goose Down\nDROP TABLE x;\n"
	tests := []struct {
		name  string
		files map[Dialect]fstest.MapFS
		want  string // "" = valid
	}{
		{"valid", map[Dialect]fstest.MapFS{
			SQLite:   {"00001_x.sql": {Data: []byte(good)}},
			Postgres: {"00001_x.sql": {Data: []byte(good)}},
		}, ""},
		{"bad name", map[Dialect]fstest.MapFS{SQLite: {"1-x.sql": {Data: []byte(good)}}}, "want NNNNN_name.sql"},
		{"duplicate version", map[Dialect]fstest.MapFS{SQLite: {
			"00001_x.sql": {Data: []byte(good)}, "001_y.sql": {Data: []byte(good)},
		}}, "same version"},
		{"no up", map[Dialect]fstest.MapFS{SQLite: {"00001_x.sql": {Data: []byte("-- +goose Down\nSELECT 1;\n")}}}, "one +goose Up"},
		{"statement before up", map[Dialect]fstest.MapFS{SQLite: {"00001_x.sql": {Data: []byte("SELECT 1;\n" + good)}}}, "before +goose Up"},
		{"no semicolon", map[Dialect]fstest.MapFS{SQLite: {"00001_x.sql": {Data: []byte("-- +goose Up\nSELECT 1\n-- +goose Down\nSELECT 1;\n")}}}, "does not end with ';'"},
		{"semicolon before comment", map[Dialect]fstest.MapFS{SQLite: {"00001_x.sql": {Data: []byte("-- +goose Up\nSELECT 1; -- fine\n-- +goose Down\nSELECT 1;\n")}}}, ""},
		{"unbalanced block", map[Dialect]fstest.MapFS{SQLite: {"00001_x.sql": {Data: []byte("-- +goose Up\n-- +goose StatementEnd\n-- +goose Down\n")}}}, "StatementEnd without StatementBegin"},
		{"dialects differ", map[Dialect]fstest.MapFS{
			SQLite:   {"00001_x.sql": {Data: []byte(good)}},
			Postgres: {"00001_x.sql": {Data: []byte(good)}, "00002_y.sql": {Data: []byte(good)}},
		}, "postgres has 00002_y.sql, sqlite does not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := map[Dialect]fs.FS{}
			for d, f := range tc.files {
				in[d] = f
			}
			err := ValidateFiles(in)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ValidateFiles = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ValidateFiles = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	paths, err := Create(dir, "Add  the-Index!")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "sqlite", "00001_add_the_index.sql"),
		filepath.Join(dir, "postgres", "00001_add_the_index.sql"),
	}
	if strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Errorf("Create = %v, want %v", paths, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "sqlite", "00041_later.sql"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err = Create(dir, "next")
	if err != nil || !strings.HasSuffix(paths[1], filepath.Join("postgres", "00042_next.sql")) {
		t.Errorf("Create = %v, %v; want 00042 in both", paths, err)
	}
	// The new files validate (an empty migration is allowed).
	if err := os.Remove(filepath.Join(dir, "sqlite", "00041_later.sql")); err != nil {
		t.Fatal(err)
	}
	if err := ValidateFiles(map[Dialect]fs.FS{
		SQLite: os.DirFS(filepath.Join(dir, "sqlite")), Postgres: os.DirFS(filepath.Join(dir, "postgres")),
	}); err != nil {
		t.Errorf("created files do not validate: %v", err)
	}
	if _, err := Create(dir, "--"); err == nil {
		t.Error("Create with an empty name succeeded")
	}
}
