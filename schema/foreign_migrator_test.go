package schema

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"

	"github.com/mycelia-kernel/storage"
)

// migratorLeavesNothing: every Migrator method that may write, run on
// another application's database db with a table entries, by one of the
// engine's names, refuses with ErrCorrupt (Up, UpTo) or does nothing
// (Down, DownTo, Reset, Redo: nothing is applied) and leaves the database
// as it found it: no goose version table. schema.Up did, but the
// Migrator's Up and UpTo (cmd/migrate up, up-to) left goose_db_version
// behind.
func migratorLeavesNothing(t *testing.T, d Dialect, db *sql.DB) {
	ctx := context.Background()
	m, err := NewMigrator(d, db)
	if err != nil {
		t.Fatal(err)
	}
	only := func(what string) {
		t.Helper()
		if got := tables(t, d, db); !slices.Equal(got, []string{"entries"}) {
			t.Errorf("tables after %s = %v, want only the application's [entries]", what, got)
		}
	}
	_, err = m.Up(ctx)
	wantSentinel(t, "Migrator.Up", err, storage.ErrCorrupt, true)
	var me *MigrationError
	if !errors.As(err, &me) {
		t.Errorf("Migrator.Up = %v, want a *MigrationError", err)
	}
	only("Migrator.Up")
	_, err = m.UpTo(ctx, 3)
	wantSentinel(t, "Migrator.UpTo", err, storage.ErrCorrupt, true)
	only("Migrator.UpTo")
	for name, f := range map[string]func(context.Context) ([]*goose.MigrationResult, error){
		"Down": m.Down, "Reset": m.Reset,
		"DownTo": func(ctx context.Context) ([]*goose.MigrationResult, error) { return m.DownTo(ctx, 1) },
	} {
		if res, err := f(ctx); err != nil || len(res) != 0 {
			t.Errorf("Migrator.%s = %v, %v: want nothing done", name, res, err)
		}
		only("Migrator." + name)
	}
	_, err = m.Redo(ctx)
	wantSentinel(t, "Migrator.Redo", err, storage.ErrNotFound, false)
	only("Migrator.Redo")
	if _, err := m.Status(ctx); err != nil {
		t.Errorf("Migrator.Status: %v", err)
	}
	only("Migrator.Status")
}

// TestMigratorArgumentErrorsWrapSentinels: the errors of package schema
// that goose's or the package's own checks make (no migration applied to
// redo, a version out of range, an unknown dialect, migrations WithFS that
// goose refuses) wrap exactly one storage sentinel, as the database's do.
// They came bare (ErrNothingToRedo, "schema: unknown dialect", goose's
// "no migrations found"), or as ErrCorrupt (goose's "invalid version").
func TestMigratorArgumentErrorsWrapSentinels(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	m, err := NewMigrator(SQLite, db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Redo(ctx)
	wantSentinel(t, "Redo with nothing applied", err, storage.ErrNotFound, false)
	if !errors.Is(err, ErrNothingToRedo) {
		t.Errorf("Redo: %v does not wrap ErrNothingToRedo", err)
	}
	_, err = m.UpTo(ctx, 0)
	wantSentinel(t, "UpTo(0)", err, storage.ErrInvalidOption, false)
	_, err = m.DownTo(ctx, -1)
	wantSentinel(t, "DownTo(-1)", err, storage.ErrInvalidOption, false)
	if v, err := m.Version(ctx); err != nil || v != 0 {
		t.Errorf("Version after the refused calls = %d, %v; want 0 (nothing applied)", v, err)
	}

	_, err = Up(ctx, "mysql", db)
	wantSentinel(t, "Up of an unknown dialect", err, storage.ErrInvalidOption, false)
	_, err = Version(ctx, "mysql", db)
	wantSentinel(t, "Version of an unknown dialect", err, storage.ErrInvalidOption, false)
	_, err = NewMigrator("mysql", db)
	wantSentinel(t, "NewMigrator of an unknown dialect", err, storage.ErrInvalidOption, false)
	_, err = NewProvider("mysql", db)
	wantSentinel(t, "NewProvider of an unknown dialect", err, storage.ErrInvalidOption, false)

	empty := fstest.MapFS{"README": {Data: []byte("no migrations here")}}
	_, err = NewMigrator(SQLite, db, WithFS(empty))
	wantSentinel(t, "NewMigrator WithFS of no migrations", err, storage.ErrInvalidOption, false)
	_, err = Up(ctx, SQLite, db, WithFS(empty))
	wantSentinel(t, "Up WithFS of no migrations", err, storage.ErrInvalidOption, false)
}
