package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestCommitOutcome: on PostgreSQL, a call that runs its own transaction
// and whose context ends while its COMMIT is in flight reports what the
// database did, not the context's error. A deferred constraint trigger
// (on index_fields for CreateIndex, on entries for a SetMany sent through
// COPY) makes the COMMIT sleep until a cancel ends the sleep (and is
// swallowed), and the call's context is cancelled while the COMMIT sleeps
// (seen in pg_stat_activity), so after COMMIT was sent and before its
// answer. pgx, its read of the answer cut short by the context, closes
// the connection and sends the server a cancel request from a goroutine
// of its own: that cancel, not a timer, ends the sleep, so it can land
// nowhere else; it then waits for a quiet second, which takes the second
// signal the server sends for the same cancel (to the backend's process
// group), unless a loaded machine holds it back a second: uncaught, that one
// cancelled the COMMIT itself, which rolled back, and the call rightly
// answered the context's error with nothing written (2 of 60 runs under
// load, the server's log showing "canceling statement due to user
// request" for the COMMIT, once in the sleep's handler; with one block
// and the quiet second, 1 of 60, in the handler: the outer block takes
// that one). (With a
// 150 ms deadline instead, a loaded machine
// sometimes spent it before COMMIT: the call then rightly failed. With a
// sleep of 400 ms, and then of 3 s, a loaded machine saw the cancel
// arrive after the sleep had ended on its own, while the COMMIT went on:
// it failed the commit itself, the call rightly reported the context's
// error with nothing written, and the test failed.) When
// the transaction commits, the call returns nil and its writes are there
// (before commitOutcome it returned context.Canceled with them in
// place: CI saw TestIndexBuildEndsWithItsCall and TestCopyCancelled fail
// so); when the trigger then fails the commit, the call returns the
// context's error and nothing is left. The same for a caller's
// transaction (Tx.Commit) that wrote: before, its lost COMMIT answer was
// ErrCommitUnknown whether the transaction had committed or not.
func TestCommitOutcome(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1), withCopyMin(1))
	t.Cleanup(func() { _ = s.Close() })
	// Written before the slow commit's trigger exists.
	must(t, s.CreateNamespace(ctx, "p"))
	must(t, s.Set(ctx, "k", map[string]any{"age": 1, "name": "a"}, storage.InNamespace("p")))
	db, _ := pgMigrator(t, dsn)
	for _, stmt := range []string{
		`CREATE TABLE slow_commit_mode (abort boolean NOT NULL, call int NOT NULL)`,
		`INSERT INTO slow_commit_mode VALUES (false, 0)`,
		`CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		DECLARE
			cancelled boolean := false;
		BEGIN
			IF current_setting('slow_commit.slept', true) = 'on' THEN
				RETURN NULL;
			END IF;
			PERFORM set_config('slow_commit.slept', 'on', true);
			PERFORM set_config('application_name',
				'slow_commit ' || current_schema() || ' ' || (SELECT call FROM slow_commit_mode), true);
			-- Only the cancel ends the sleep (60 s bounds a broken test).
			-- The server signals a cancel twice, to the backend and to its
			-- process group (postmaster's signal_child), and a loaded
			-- machine can deliver the second after the first was taken:
			-- while the first is handled (the outer block takes that one),
			-- or later (once cancelled, it sleeps on until a second passes
			-- without a signal), so that it lands here, not on the COMMIT.
			LOOP
				BEGIN
					BEGIN
						IF cancelled THEN
							PERFORM pg_sleep(1);
						ELSE
							PERFORM pg_sleep(60);
						END IF;
						EXIT;
					EXCEPTION WHEN query_canceled THEN
						cancelled := true;
					END;
				EXCEPTION WHEN query_canceled THEN
					cancelled := true;
				END;
			END LOOP;
			IF (SELECT abort FROM slow_commit_mode) THEN
				RAISE EXCEPTION 'the commit fails';
			END IF;
			RETURN NULL;
		END $$`,
		// CreateIndex's last transaction renames the field's record
		// (buildIndex): its COMMIT is the one that must be slow.
		`CREATE CONSTRAINT TRIGGER slow_commit AFTER UPDATE ON index_fields
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`,
		`CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON entries
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	// late runs call with a context cancelled once its COMMIT sleeps in the
	// trigger (so never before COMMIT, however loaded the machine). The
	// sleeping session is this call's (its number tags it), and a failed
	// look is tried again, never taken for the sleep.
	calls := 0
	late := func(call func(ctx context.Context) error) error {
		calls++
		tag := calls
		if _, err := db.ExecContext(ctx, `UPDATE slow_commit_mode SET call = $1`, tag); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			for cctx.Err() == nil {
				var n int
				err := db.QueryRowContext(cctx, `SELECT count(*) FROM pg_stat_activity
					WHERE application_name = 'slow_commit ' || current_schema() || ' ' || $1::int AND wait_event = 'PgSleep'`,
					tag).Scan(&n)
				if err == nil && n > 0 {
					cancel()
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
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
			// A caller's transaction: its Set takes the revision lock,
			// which gives the transaction's id.
			tx, err := s.Begin(ctx, storage.TxOptions{})
			must(t, err)
			must(t, tx.Set(ctx, "t", 1, storage.InNamespace(ns+"tx")))
			txErr := late(tx.Commit)
			indexed := slices.Contains(nsIndexes(t, s, "p"), field)
			if !abort {
				if ixErr != nil || !indexed {
					t.Errorf("CreateIndex whose COMMIT succeeded after its context ended: %v (index there: %v)", ixErr, indexed)
				}
				if n := count(ns); smErr != nil || n != 2 {
					t.Errorf("SetMany whose COMMIT succeeded after its context ended: %v, %d of 2 written", smErr, n)
				}
				if n := count(ns + "tx"); txErr != nil || n != 1 {
					t.Errorf("Tx.Commit that succeeded after its context ended: %v, %d of 1 written", txErr, n)
				}
				return
			}
			if !errors.Is(ixErr, context.Canceled) || indexed {
				t.Errorf("CreateIndex whose COMMIT failed after its context ended: %v, want the context's error (index there: %v)", ixErr, indexed)
			}
			if n := count(ns); !errors.Is(smErr, context.Canceled) || n != 0 {
				t.Errorf("SetMany whose COMMIT failed after its context ended: %v, want the context's error; %d of 2 written", smErr, n)
			}
			if !errors.Is(txErr, context.Canceled) || errors.Is(txErr, storage.ErrCommitUnknown) {
				t.Errorf("Tx.Commit that failed after its context ended: %v, want the context's error, a known outcome", txErr)
			}
			if n, err := s.Count(ctx, storage.InNamespace(ns+"tx")); err == nil && n != 0 {
				t.Errorf("Tx.Commit that failed after its context ended: %d of 1 written", n)
			}
		})
	}
}

// TestCommitOutcomeOnlyOnItsServer: commitOutcome asks about a transaction
// only the server instance that ran it (the reference carries its
// postmaster's start time). A promoted standby, or the same server after a
// crash, may have given the id to another transaction: there, the outcome
// is ErrCommitUnknown at once, whatever pg_xact_status would say.
func TestCommitOutcomeOnlyOnItsServer(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, newPGSchema(t), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	e := s.eng.(*pgEngine)
	lost := errors.New("the COMMIT's answer was lost")
	var committed, aborted string
	must(t, e.pool.QueryRow(ctx, "SELECT "+xactRefSQL).Scan(&committed)) // its implicit transaction commits
	tx, err := e.pool.Begin(ctx)
	must(t, err)
	must(t, tx.QueryRow(ctx, "SELECT "+xactRefSQL).Scan(&aborted))
	must(t, tx.Rollback(ctx))
	xid, _, _ := strings.Cut(committed, ":")
	for _, c := range []struct {
		ref  string
		want error
	}{
		{committed, nil},
		{aborted, lost},
		{xid + ":1", storage.ErrCommitUnknown},
		{xid, storage.ErrCommitUnknown},
	} {
		start := time.Now()
		if err := e.commitOutcome(ctx, c.ref, lost); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("commitOutcome(%q) = %v, want %v", c.ref, err, c.want)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("commitOutcome(%q) took %v", c.ref, el)
		}
	}
}

// TestCommitContextEndedInFlight: on PostgreSQL, a transaction's Commit
// whose context ends while its COMMIT is in flight (a proxy keeps the
// COMMIT from the server, so its answer never comes, and the context is
// cancelled once the proxy has it) answers with the context's error when
// the outcome is known, as every call whose caller gave up does: a
// read-only transaction's (it wrote nothing) was ErrUnavailable, "the
// connection failed while committing", which a caller retries as an
// outage (CI: TestRaceTxTimeouts/postgres at its deadline), and a
// read-write transaction's that only read was ErrCommitUnknown, though it
// had nothing to keep either. A transaction
// that wrote is settled by the server (commitOutcome): rolled back, the
// context's error. Either way the transaction is over: Commit again is
// ErrTxDone, Rollback nil.
func TestCommitContextEndedInFlight(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	u, err := url.Parse(dsn)
	must(t, err)
	p := newDropProxy(t, u.Host, []byte("commit\x00"))
	u.Host = p.ln.Addr().String()
	s := openTest(t, u.String(), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	in := storage.InNamespace("n")
	must(t, s.Set(ctx, "k", 1, in))
	for _, c := range []struct {
		name       string
		ro, writes bool
	}{{"read-only", true, false}, {"read-write, only read", false, false}, {"read-write", false, true}} {
		ro := c.name
		tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: c.ro})
		must(t, err)
		if c.writes {
			err = tx.Set(ctx, "w", 1, in)
		} else {
			_, err = tx.Get(ctx, "k", in)
		}
		must(t, err)
		cctx, cancel := context.WithCancel(ctx)
		p.armed.Store(true)
		go func() {
			select {
			case <-p.dropped:
				cancel()
			case <-cctx.Done():
			}
		}()
		err = tx.Commit(cctx)
		cancel()
		p.armed.Store(false)
		var sentinels []error
		for _, e := range storage.Sentinels() {
			if errors.Is(err, e) {
				sentinels = append(sentinels, e)
			}
		}
		if !errors.Is(err, context.Canceled) || len(sentinels) > 0 {
			t.Errorf("%s: Commit whose context ended while its COMMIT was in flight = %v (sentinels %v); want the context's error alone", ro, err, sentinels)
		}
		if err := tx.Commit(ctx); !errors.Is(err, storage.ErrTxDone) {
			t.Errorf("%s: Commit again = %v, want ErrTxDone", ro, err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Errorf("%s: Rollback = %v, want nil", ro, err)
		}
	}
	if _, err := s.Get(ctx, "w", in); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the rolled back transaction's write: Get = %v, want ErrNotFound", err)
	}
}
