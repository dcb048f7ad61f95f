package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestCommitOutcome: on PostgreSQL, a call that runs its own transaction
// and whose context ends while its COMMIT is in flight reports what the
// database did, not the context's error. A deferred constraint trigger
// (on index_fields for CreateIndex, on entries for a SetMany sent through
// COPY) makes the COMMIT take 400 ms (it swallows a cancel), so the call's
// 150 ms deadline passes after COMMIT was sent and before its answer. When
// the transaction commits, the call returns nil and its writes are there
// (before commitOutcome it returned context.DeadlineExceeded with them in
// place: CI saw TestIndexBuildEndsWithItsCall and TestCopyCancelled fail
// so); when the trigger then fails the commit, the call returns the
// context's error and nothing is left.
func TestCommitOutcome(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1), withCopyMin(1))
	t.Cleanup(func() { _ = s.Close() })
	db, _ := pgMigrator(t, dsn)
	for _, stmt := range []string{
		`CREATE TABLE slow_commit_mode (abort boolean NOT NULL)`,
		`INSERT INTO slow_commit_mode VALUES (false)`,
		`CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF current_setting('slow_commit.slept', true) = 'on' THEN
				RETURN NULL;
			END IF;
			PERFORM set_config('slow_commit.slept', 'on', true);
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
		`CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON entries
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	must(t, s.CreateNamespace(ctx, "p"))
	must(t, s.Set(ctx, "k", map[string]any{"age": 1, "name": "a"}, storage.InNamespace("p")))
	late := func(call func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		return call(cctx)
	}
	setMany := func(ns string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			items := []storage.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}}
			res, err := s.SetMany(ctx, items, storage.InNamespace(ns))
			if err == nil {
				err = res.Err()
			}
			return err
		}
	}
	count := func(ns string) int64 {
		n, err := s.Count(ctx, storage.InNamespace(ns))
		must(t, err)
		return n
	}

	for _, abort := range []bool{false, true} {
		t.Run(fmt.Sprint("abort=", abort), func(t *testing.T) {
			if _, err := db.ExecContext(ctx, `UPDATE slow_commit_mode SET abort = $1`, abort); err != nil {
				t.Fatal(err)
			}
			field, ns := "age", "c"
			if abort {
				field, ns = "name", "d"
			}
			ixErr := late(func(ctx context.Context) error { return s.CreateIndex(ctx, "p", field) })
			smErr := late(setMany(ns))
			indexed := slices.Contains(nsIndexes(t, s, "p"), field)
			if !abort {
				if ixErr != nil || !indexed {
					t.Errorf("CreateIndex whose COMMIT succeeded after its deadline: %v (index there: %v)", ixErr, indexed)
				}
				if n := count(ns); smErr != nil || n != 2 {
					t.Errorf("SetMany whose COMMIT succeeded after its deadline: %v, %d of 2 written", smErr, n)
				}
				return
			}
			if !errors.Is(ixErr, context.DeadlineExceeded) || indexed {
				t.Errorf("CreateIndex whose COMMIT failed after its deadline: %v, want the context's error (index there: %v)", ixErr, indexed)
			}
			if n := count(ns); !errors.Is(smErr, context.DeadlineExceeded) || n != 0 {
				t.Errorf("SetMany whose COMMIT failed after its deadline: %v, want the context's error; %d of 2 written", smErr, n)
			}
		})
	}
}
