package schema

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"
)

// TestRedoBesideAnotherMigrator: Redo reads the schema version, then takes
// the lock for its down and again for its up; another migrator may run
// before either. What Redo applies again is the migration its down rolled
// back, never what the version it read before the lock names. Before the
// fix it applied every migration up to that version: after another
// migrator's down-to 0, a redo of a database at 0 applied all three
// migrations; after another's up, it rolled back the top migration and
// left it so (up to the older version was nothing to do).
func TestRedoBesideAnotherMigrator(t *testing.T) {
	ctx := context.Background()
	files := fstest.MapFS{}
	for _, f := range []string{"00001_a", "00002_b", "00003_c"} {
		files[f+".sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE t" + f + " (x INTEGER);\n-- +goose Down\nDROP TABLE t" + f + ";\n")}
	}
	for _, tc := range []struct {
		name        string
		start       int64                               // the version before the redo reads it
		other       func(*Migrator) error               // the other migrator, while the redo waits for the lock
		wantVersion int64                               // after the redo
		wantRedo    func([]*goose.MigrationResult) bool // the redo's results
		wantErr     error
	}{
		{"down-to 0 first", 3, func(m *Migrator) error { _, err := m.DownTo(ctx, 0); return err }, 0,
			func(r []*goose.MigrationResult) bool { return len(r) == 0 }, ErrNothingToRedo},
		{"up first", 2, func(m *Migrator) error { _, err := m.Up(ctx); return err }, 3,
			func(r []*goose.MigrationResult) bool {
				return len(r) == 2 && r[0].Source.Version == 3 && r[0].Direction == "down" &&
					r[1].Source.Version == 3 && r[1].Direction == "up"
			}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "redo.db")
			db := openSQLite(t, path)
			redo, err := NewMigrator(SQLite, db, WithFS(files), WithSQLiteFile(path))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := redo.UpTo(ctx, tc.start); err != nil {
				t.Fatal(err)
			}
			// The other migrator works on the same database under a lock
			// file of its own, so that it runs while the test holds the
			// redo's lock.
			other, err := NewMigrator(SQLite, openSQLite(t, path), WithFS(files), WithSQLiteFile(path+"-other"))
			if err != nil {
				t.Fatal(err)
			}
			lockFile := holdLock(t, path)
			type answer struct {
				res []*goose.MigrationResult
				err error
			}
			done := make(chan answer, 1)
			go func() {
				res, err := redo.Redo(ctx)
				done <- answer{res, err}
			}()
			time.Sleep(300 * time.Millisecond) // the redo has read the version and waits for the lock
			if err := tc.other(other); err != nil {
				t.Fatal(err)
			}
			if err := unlockFile(lockFile); err != nil {
				t.Fatal(err)
			}
			a := <-done
			if !errors.Is(a.err, tc.wantErr) || (a.err == nil) != (tc.wantErr == nil) || !tc.wantRedo(a.res) {
				var did []string
				for _, r := range a.res {
					did = append(did, r.Direction+" "+r.Source.Path)
				}
				t.Errorf("Redo = %q, %v; want the migration its down rolled back applied again (error %v)", did, a.err, tc.wantErr)
			}
			if v, err := redo.Version(ctx); err != nil || v != tc.wantVersion {
				t.Errorf("version after the redo = %d, %v; want %d", v, err, tc.wantVersion)
			}
		})
	}
}
