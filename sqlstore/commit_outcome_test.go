package sqlstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestYieldingCommitOutcome: on PostgreSQL, a CreateIndex whose context
// ends while its COMMIT is in flight reports what the database did, not
// the context's error. A deferred constraint trigger on index_fields makes
// the COMMIT take 400 ms (it swallows a cancel), so the call's 150 ms
// deadline passes after COMMIT was sent and before its answer. When the
// transaction commits, CreateIndex returns nil and the index is there
// (before commitOutcome it returned context.DeadlineExceeded with the
// index in place: CI saw TestIndexBuildEndsWithItsCall fail so, about 2
// runs in 25); when the trigger then fails the commit, the call returns an
// error and nothing is left.
func TestYieldingCommitOutcome(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	db, _ := pgMigrator(t, dsn)
	for _, stmt := range []string{
		`CREATE TABLE slow_commit_mode (abort boolean NOT NULL)`,
		`INSERT INTO slow_commit_mode VALUES (false)`,
		`CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			BEGIN
				PERFORM pg_sleep(0.4);
			EXCEPTION WHEN query_canceled THEN NULL;
			END;
			IF (SELECT abort FROM slow_commit_mode) THEN
				RAISE EXCEPTION 'the commit fails';
			END IF;
			RETURN NULL;
		END $$`,
		`CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON index_fields
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	must(t, s.CreateNamespace(ctx, "p"))
	must(t, s.Set(ctx, "k", map[string]any{"age": 1, "name": "a"}, storage.InNamespace("p")))
	call := func(field string) error {
		cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		return s.CreateIndex(cctx, "p", field)
	}

	if err := call("age"); err != nil {
		t.Fatalf("CreateIndex whose COMMIT succeeded after its deadline: %v", err)
	}
	if got := nsIndexes(t, s, "p"); !slices.Equal(got, []string{"age"}) {
		t.Fatalf("indexes after the committed CreateIndex: %v", got)
	}

	if _, err := db.ExecContext(ctx, `UPDATE slow_commit_mode SET abort = true`); err != nil {
		t.Fatal(err)
	}
	err := call("name")
	if err == nil {
		t.Fatal("CreateIndex whose COMMIT failed after its deadline returned nil")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CreateIndex whose COMMIT failed after its deadline: %v, want the context's error", err)
	}
	if got := nsIndexes(t, s, "p"); !slices.Equal(got, []string{"age"}) {
		t.Fatalf("indexes after the rolled back CreateIndex: %v", got)
	}
}
