package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
)

// writePath is a PostgreSQL write path for TestPGWritePathsCancelledInFlight:
// prep readies what it needs (under names of its own, id), run is the
// write, under the context whose end is tested, and done reads whether it
// committed (all of it: a partial write fails the test).
type writePath struct {
	name string
	prep func(t *testing.T, s *Store, id string)
	run  func(ctx context.Context, s *Store, id string) error
	done func(t *testing.T, s *Store, id string) (all, none bool)
}

// TestPGWritePathsCancelledInFlight: every PostgreSQL write path but the
// single Set and Delete (TestPGWriteCancelledInFlight), run with a
// context that is cancelled, or whose deadline passes, while the write is
// on the wire: waiting for the revision lock, which a transaction that
// wrote holds ("lock"), or in its commit, which a deferred trigger makes
// wait for an advisory lock the test holds ("commit"). The lock is freed
// at a random moment around the context's end (before or after the call
// answered). The call's answer must be true: nil when the write
// committed, an error other than ErrCommitUnknown (the context's, a
// sentinel) when nothing of it did; ErrCommitUnknown for either. The
// server decides what became of the write after the lock was freed, so
// each outcome is read again for a while after an error.
func TestPGWritePathsCancelledInFlight(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	sc := openTest(t, dsn, WithSweepInterval(-1), withCopyMin(2)) // SetMany through COPY
	t.Cleanup(func() { _ = sc.Close() })
	gate := installCommitGate(t, dsn)
	must(t, s.CreateNamespace(ctx, "hold"))

	for _, p := range writePaths(sc) {
		for _, phase := range []string{"lock", "commit"} {
			for _, how := range []string{"cancel", "deadline"} {
				t.Run(p.name+"/"+phase+"/"+how, func(t *testing.T) {
					for i := range 2 {
						id := fmt.Sprintf("%s-%s-%s-%d", p.name, phase, how, i)
						cancelledPath(t, s, dsn, gate, p, id, phase == "commit", how == "deadline")
					}
				})
			}
		}
	}
}

// writePaths are the write paths checked; sc is a store that sends
// SetMany through COPY.
func writePaths(sc *Store) []writePath {
	in := func(id string) storage.Option { return storage.InNamespace(id) }
	// count reports whether id holds done entries, or still before.
	count := func(t *testing.T, s *Store, id string, done, before int64) (bool, bool) {
		got, err := s.Count(t.Context(), in(id))
		must(t, err)
		return got == done, got == before
	}
	// value reports whether key k of id holds v, or still its prep value.
	value := func(t *testing.T, s *Store, id, k string, v any) (bool, bool) {
		e, err := s.Get(t.Context(), k, in(id))
		if errors.Is(err, storage.ErrNotFound) {
			return false, true
		}
		must(t, err)
		var got any
		must(t, e.Decode(&got))
		return fmt.Sprint(got) == fmt.Sprint(v), fmt.Sprint(got) != fmt.Sprint(v)
	}
	meta := func(t *testing.T, s *Store, id string) (bool, bool) {
		m, err := s.GetMetadata(t.Context(), "k", in(id))
		must(t, err)
		return m.User["m"] == "new", m.User["m"] != "new"
	}
	setK := func(t *testing.T, s *Store, id string) {
		must(t, s.Set(t.Context(), "k", "old", in(id), storage.WithMetadata(map[string]any{"m": "old", "o": 1})))
	}
	set3 := func(t *testing.T, s *Store, id string) {
		for _, k := range []string{"a", "b", "c"} {
			must(t, s.Set(t.Context(), k, "old", in(id)))
		}
	}
	items := []storage.Item{{Key: "a", Value: "new"}, {Key: "b", Value: "new"}, {Key: "c", Value: "new"}}
	// setMany is SetMany on on (nil: the store the test passes).
	setMany := func(on *Store, opts ...storage.Option) func(ctx context.Context, s *Store, id string) error {
		return func(ctx context.Context, s *Store, id string) error {
			if on != nil {
				s = on
			}
			res, err := s.SetMany(ctx, items, append(opts, in(id))...)
			if err == nil {
				err = res.Err()
			}
			return err
		}
	}
	all3 := func(t *testing.T, s *Store, id string) (bool, bool) {
		n := 0
		for _, k := range []string{"a", "b", "c"} {
			if ok, _ := value(t, s, id, k, "new"); ok {
				n++
			}
		}
		return n == 3, n == 0
	}
	nsListed := func(t *testing.T, s *Store, id string) bool {
		list, err := s.ListNamespaces(t.Context())
		must(t, err)
		return slices.ContainsFunc(list, func(n storage.Namespace) bool { return n.Name == id })
	}
	indexed := func(t *testing.T, s *Store, id string) bool {
		list, err := s.ListNamespaces(t.Context())
		must(t, err)
		for _, n := range list {
			if n.Name == id {
				return slices.Contains(n.Indexes, "age")
			}
		}
		return false
	}
	return []writePath{
		{name: "SetMetadata", prep: setK,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.SetMetadata(ctx, "k", map[string]any{"m": "new"}, in(id))
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return meta(t, s, id) }},
		{name: "SetMetadataMerge", prep: setK,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.SetMetadata(ctx, "k", map[string]any{"m": "new"}, in(id), storage.Merge())
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return meta(t, s, id) }},
		{name: "SetMetadataIfVersion", prep: setK,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.SetMetadata(ctx, "k", map[string]any{"m": "new"}, in(id), storage.IfVersion(1))
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return meta(t, s, id) }},
		{name: "SetMany", run: setMany(nil), done: all3},
		{name: "SetManyOverwrite", prep: set3, run: setMany(nil), done: all3},
		{name: "SetManyCopy", prep: set3, run: setMany(sc), done: all3},
		{name: "SetManyCopyNew", run: setMany(sc), done: all3},
		{name: "SetManyMustExist", prep: set3, run: setMany(nil, storage.MustExist()), done: all3},
		{name: "SetManyNoOverwrite", run: setMany(nil, storage.NoOverwrite()), done: all3},
		{name: "SetManyAtomic", prep: set3, run: setMany(nil, storage.Atomic()), done: all3},
		{name: "DeleteMany", prep: set3,
			run: func(ctx context.Context, s *Store, id string) error {
				res, err := s.DeleteMany(ctx, []string{"a", "b", "c"}, in(id))
				if err == nil {
					err = res.Err()
				}
				return err
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return count(t, s, id, 0, 3) }},
		{name: "DeleteManyViaBatch", prep: set3,
			run: func(ctx context.Context, s *Store, id string) (err error) {
				withRevViaBatch(true, func() {
					var res storage.BatchResult
					if res, err = s.DeleteMany(ctx, []string{"a", "b", "c"}, in(id)); err == nil {
						err = res.Err()
					}
				})
				return err
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return count(t, s, id, 0, 3) }},
		{name: "DeleteManyAtomic", prep: set3,
			run: func(ctx context.Context, s *Store, id string) error {
				res, err := s.DeleteMany(ctx, []string{"a", "b", "c"}, in(id), storage.Atomic())
				if err == nil {
					err = res.Err()
				}
				return err
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return count(t, s, id, 0, 3) }},
		{name: "SetIfVersion", prep: setK,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.Set(ctx, "k", "new", in(id), storage.IfVersion(1))
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return value(t, s, id, "k", "new") }},
		{name: "SetIfRevision", prep: setK,
			run: func(ctx context.Context, s *Store, id string) error {
				e, err := s.Get(context.WithoutCancel(ctx), "k", in(id))
				if err != nil {
					return err
				}
				return s.Set(ctx, "k", "new", in(id), storage.IfRevision(e.Revision))
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return value(t, s, id, "k", "new") }},
		{name: "SetMustExist", prep: setK,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.Set(ctx, "k", "new", in(id), storage.MustExist())
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return value(t, s, id, "k", "new") }},
		{name: "SetNoOverwrite", prep: func(t *testing.T, s *Store, id string) { must(t, s.CreateNamespace(t.Context(), id)) },
			run: func(ctx context.Context, s *Store, id string) error {
				return s.Set(ctx, "k", "new", in(id), storage.NoOverwrite())
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return value(t, s, id, "k", "new") }},
		{name: "SetMerge", prep: setK,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.Set(ctx, "k", map[string]any{"x": 1}, in(id), storage.Merge())
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) {
				return value(t, s, id, "k", map[string]any{"x": 1})
			}},
		{name: "DeleteIfVersion", prep: setK,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.Delete(ctx, "k", in(id), storage.IfVersion(1))
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) {
				_, err := s.Get(t.Context(), "k", in(id))
				return errors.Is(err, storage.ErrNotFound), err == nil
			}},
		{name: "CreateNamespace",
			run: func(ctx context.Context, s *Store, id string) error {
				return s.CreateNamespace(ctx, id, storage.WithIndexes("age"))
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) {
				ok := nsListed(t, s, id)
				return ok, !ok
			}},
		{name: "DeleteNamespace", prep: set3,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.DeleteNamespace(ctx, id, storage.Recursive())
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) {
				ok := nsListed(t, s, id)
				return !ok, ok
			}},
		{name: "Clear", prep: set3,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.Clear(ctx, in(id))
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return count(t, s, id, 0, 3) }},
		{name: "CreateIndex", prep: set3,
			run: func(ctx context.Context, s *Store, id string) error {
				return s.CreateIndex(ctx, id, "age")
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) {
				ok := indexed(t, s, id)
				return ok, !ok
			}},
		{name: "DropIndex", prep: func(t *testing.T, s *Store, id string) {
			must(t, s.CreateNamespace(t.Context(), id, storage.WithIndexes("age")))
			must(t, s.Set(t.Context(), "a", map[string]any{"age": 1}, in(id)))
		},
			run: func(ctx context.Context, s *Store, id string) error {
				return s.DropIndex(ctx, id, "age")
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) {
				ok := indexed(t, s, id)
				return !ok, ok
			}},
		{name: "TxCommit",
			run: func(ctx context.Context, s *Store, id string) error {
				tx, err := s.Begin(ctx, storage.TxOptions{})
				if err != nil {
					return err
				}
				if err := tx.Set(ctx, "k", "new", in(id)); err != nil {
					_ = tx.Rollback(ctx)
					return err
				}
				return tx.Commit(ctx)
			}, done: func(t *testing.T, s *Store, id string) (bool, bool) { return value(t, s, id, "k", "new") }},
	}
}

// cancelledPath runs p once (see TestPGWritePathsCancelledInFlight): its
// write waits for the revision lock, or, with inCommit, for the commit
// gate, and its context is cancelled (or, with deadline, runs out) while it
// waits; the lock or gate is freed at a random moment around then.
func cancelledPath(t *testing.T, s *Store, dsn string, gate *commitGate, p writePath, id string, inCommit, deadline bool) {
	t.Helper()
	ctx := t.Context()
	if p.prep != nil {
		p.prep(t, s, id)
	}
	var release func()
	if inCommit {
		release = gate.close(t)
	} else {
		tx, err := s.Begin(ctx, storage.TxOptions{})
		must(t, err)
		must(t, tx.Set(ctx, "held", id, storage.InNamespace("hold")))
		release = func() { must(t, tx.Commit(ctx)) }
	}
	var cctx context.Context
	var cancel context.CancelFunc
	end := time.Duration(rand.N(80)) * time.Millisecond // after the wait is seen
	if deadline {
		cctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond+end)
	} else {
		cctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	answer := make(chan error, 1)
	start := time.Now()
	go func() { answer <- p.run(cctx, s, id) }()
	early := waitLockOrAnswer(t, dsn, answer)
	// Free the lock a little before or after the context ends, or once the
	// call answered.
	var ended time.Time
	if deadline {
		d, _ := cctx.Deadline()
		ended = d
	} else {
		time.Sleep(end)
		ended = time.Now()
		cancel()
	}
	released := make(chan struct{})
	freeEarly := rand.N(2) == 0
	if freeEarly {
		go func() {
			defer close(released)
			time.Sleep(time.Until(ended.Add(time.Duration(rand.N(40)-10) * time.Millisecond)))
			release()
		}()
	}
	var err error
	select {
	case err = <-early:
	case err = <-answer:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no answer 30 s after its context ended", id)
	}
	took := time.Since(ended)
	if freeEarly {
		<-released
	} else {
		release()
	}
	check := func() (bool, bool) {
		all, none := p.done(t, s, id)
		if !all && !none {
			t.Fatalf("%s: partly written (answer: %v)", id, err)
		}
		return all, none
	}
	unknown := errors.Is(err, storage.ErrCommitUnknown)
	t.Logf("%s: answered %v (%v after its context ended, started %v before; lock freed early: %v)",
		id, err, took.Round(time.Millisecond), ended.Sub(start).Round(time.Millisecond), freeEarly)
	switch {
	case unknown:
	case err == nil:
		if all, _ := check(); !all {
			t.Errorf("%s: succeeded, and is not there", id)
		}
	default:
		// The server may still run it once the lock is free.
		for range 20 {
			if all, _ := check(); all {
				t.Errorf("%s: failed (%v) and committed", id, err)
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	if took > lockGrace+2*time.Second {
		t.Errorf("%s: answered %v after its context ended", id, took)
	}
}

// waitLockOrAnswer waits until a backend of dsn's database waits for a
// lock, or the call answered (a loaded machine may spend a deadline
// before the write is sent): then its answer is in the channel returned.
func waitLockOrAnswer(t *testing.T, dsn string, answer <-chan error) <-chan error {
	t.Helper()
	ctx := t.Context()
	admin, err := pgxpool.New(ctx, dsn)
	must(t, err)
	defer admin.Close()
	got := make(chan error, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-answer:
			got <- err
			return got
		default:
		}
		var n int
		must(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`).Scan(&n))
		if n > 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatal("no backend waits for a lock and the call has not answered")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// commitGate makes the commit of every transaction that changed entries,
// namespaces or index_fields wait while the test holds an advisory lock:
// a deferred constraint trigger takes it (shared) at commit.
type commitGate struct {
	conn *pgxpool.Conn // the session that holds the gate
	key  int64
}

func installCommitGate(t *testing.T, dsn string) *commitGate {
	t.Helper()
	ctx := t.Context()
	db, _ := pgMigrator(t, dsn)
	g := &commitGate{key: rand.Int64()}
	stmts := []string{fmt.Sprintf(`CREATE FUNCTION commit_gate() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF current_setting('commit_gate.passed', true) = 'on' THEN
				RETURN NULL;
			END IF;
			PERFORM set_config('commit_gate.passed', 'on', true);
			PERFORM pg_advisory_xact_lock_shared(%d);
			RETURN NULL;
		END $$`, g.key)}
	for _, table := range []string{"entries", "namespaces", "index_fields"} {
		stmts = append(stmts, `CREATE CONSTRAINT TRIGGER commit_gate AFTER INSERT OR UPDATE OR DELETE ON `+table+`
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_gate()`)
	}
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	pool, err := pgxpool.New(ctx, dsn)
	must(t, err)
	t.Cleanup(pool.Close)
	c, err := pool.Acquire(ctx)
	must(t, err)
	t.Cleanup(c.Release)
	g.conn = c
	return g
}

// close holds the gate until the function returned is called.
func (g *commitGate) close(t *testing.T) func() {
	t.Helper()
	if _, err := g.conn.Exec(t.Context(), "SELECT pg_advisory_lock($1)", g.key); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := g.conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", g.key); err != nil {
			t.Error(err)
		}
	}
}
