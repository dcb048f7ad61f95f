package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// lockWaitCase is a write of TestSQLiteLockWaitOutcome: prep sets up its
// namespace, write is the call made while another connection holds the
// write lock, wrote reads whether the write took effect.
type lockWaitCase struct {
	name  string
	prep  func(ctx context.Context, s *Store, ns string) error
	write func(ctx context.Context, s *Store, ns string) error
	wrote func(ctx context.Context, s *Store, ns string) (bool, error)
}

// holdLock takes the write lock of the SQLite file at path on a
// connection of its own (another process, as far as the store can tell)
// and releases it after hold; the returned channel is closed then.
func holdLock(t *testing.T, path string, hold time.Duration) <-chan struct{} {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(hold)
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		_ = conn.Close()
		_ = db.Close()
	}()
	return done
}

func hasKey(key string) func(ctx context.Context, s *Store, ns string) (bool, error) {
	return func(ctx context.Context, s *Store, ns string) (bool, error) {
		return s.Has(ctx, key, storage.InNamespace(ns))
	}
}

func lacksKey(key string) func(ctx context.Context, s *Store, ns string) (bool, error) {
	return func(ctx context.Context, s *Store, ns string) (bool, error) {
		ok, err := s.Has(ctx, key, storage.InNamespace(ns))
		return !ok, err
	}
}

func valueIs(key, want string) func(ctx context.Context, s *Store, ns string) (bool, error) {
	return func(ctx context.Context, s *Store, ns string) (bool, error) {
		e, err := s.Get(ctx, key, storage.InNamespace(ns))
		return string(e.Value) == want, err
	}
}

func seed(keys ...string) func(ctx context.Context, s *Store, ns string) error {
	return func(ctx context.Context, s *Store, ns string) error {
		for _, k := range keys {
			if err := s.Set(ctx, k, map[string]int{"f": 0}, storage.InNamespace(ns)); err != nil {
				return err
			}
		}
		return nil
	}
}

// namespaceState reads whether ns exists and the indexes it declares.
func namespaceState(ctx context.Context, s *Store, ns string) (bool, []string, error) {
	all, err := s.ListNamespaces(ctx)
	for _, n := range all {
		if n.Name == ns {
			return true, n.Indexes, err
		}
	}
	return false, nil, err
}

var lockWaitCases = []lockWaitCase{
	{name: "set", prep: seed("seed"), write: func(ctx context.Context, s *Store, ns string) error {
		return s.Set(ctx, "k", 1, storage.InNamespace(ns))
	}, wrote: hasKey("k")},
	{name: "set IfVersion", prep: seed("k"), write: func(ctx context.Context, s *Store, ns string) error {
		return s.Set(ctx, "k", 1, storage.InNamespace(ns), storage.IfVersion(1))
	}, wrote: valueIs("k", "1")},
	{name: "set IfRevision", prep: seed("k"), write: func(ctx context.Context, s *Store, ns string) error {
		e, err := s.Get(ctx, "k", storage.InNamespace(ns))
		if err != nil {
			return fmt.Errorf("the test's read: %w", err)
		}
		return s.Set(ctx, "k", 1, storage.InNamespace(ns), storage.IfRevision(e.Revision))
	}, wrote: valueIs("k", "1")},
	{name: "set NoOverwrite", prep: seed("seed"), write: func(ctx context.Context, s *Store, ns string) error {
		return s.Set(ctx, "k", 1, storage.InNamespace(ns), storage.NoOverwrite())
	}, wrote: hasKey("k")},
	{name: "set MustExist", prep: seed("k"), write: func(ctx context.Context, s *Store, ns string) error {
		return s.Set(ctx, "k", 1, storage.InNamespace(ns), storage.MustExist())
	}, wrote: valueIs("k", "1")},
	{name: "delete", prep: seed("k"), write: func(ctx context.Context, s *Store, ns string) error {
		return s.Delete(ctx, "k", storage.InNamespace(ns))
	}, wrote: lacksKey("k")},
	{name: "setMany", prep: seed("seed"), write: func(ctx context.Context, s *Store, ns string) error {
		_, err := s.SetMany(ctx, []storage.Item{{Key: "k", Value: 1}, {Key: "k2", Value: 2}}, storage.InNamespace(ns))
		return err
	}, wrote: hasKey("k")},
	{name: "deleteMany", prep: seed("k", "k2"), write: func(ctx context.Context, s *Store, ns string) error {
		_, err := s.DeleteMany(ctx, []string{"k", "k2"}, storage.InNamespace(ns))
		return err
	}, wrote: lacksKey("k")},
	{name: "setMetadata", prep: seed("k"), write: func(ctx context.Context, s *Store, ns string) error {
		return s.SetMetadata(ctx, "k", map[string]int{"m": 1}, storage.InNamespace(ns))
	}, wrote: func(ctx context.Context, s *Store, ns string) (bool, error) {
		md, err := s.GetMetadata(ctx, "k", storage.InNamespace(ns))
		return md.User["m"] != nil, err
	}},
	{name: "clear", prep: seed("k"), write: func(ctx context.Context, s *Store, ns string) error {
		return s.Clear(ctx, storage.InNamespace(ns))
	}, wrote: lacksKey("k")},
	{name: "createNamespace", prep: func(context.Context, *Store, string) error { return nil },
		write: func(ctx context.Context, s *Store, ns string) error {
			return s.CreateNamespace(ctx, ns)
		}, wrote: func(ctx context.Context, s *Store, ns string) (bool, error) {
			ok, _, err := namespaceState(ctx, s, ns)
			return ok, err
		}},
	{name: "deleteNamespace", prep: seed("k"), write: func(ctx context.Context, s *Store, ns string) error {
		return s.DeleteNamespace(ctx, ns, storage.Recursive())
	}, wrote: func(ctx context.Context, s *Store, ns string) (bool, error) {
		ok, _, err := namespaceState(ctx, s, ns)
		return !ok, err
	}},
	{name: "createIndex", prep: seed("k"), write: func(ctx context.Context, s *Store, ns string) error {
		return s.CreateIndex(ctx, ns, "f")
	}, wrote: func(ctx context.Context, s *Store, ns string) (bool, error) {
		_, idx, err := namespaceState(ctx, s, ns)
		return slices.Contains(idx, "f"), err
	}},
	{name: "dropIndex", prep: func(ctx context.Context, s *Store, ns string) error {
		if err := seed("k")(ctx, s, ns); err != nil {
			return err
		}
		return s.CreateIndex(ctx, ns, "f")
	}, write: func(ctx context.Context, s *Store, ns string) error {
		return s.DropIndex(ctx, ns, "f")
	}, wrote: func(ctx context.Context, s *Store, ns string) (bool, error) {
		_, idx, err := namespaceState(ctx, s, ns)
		return !slices.Contains(idx, "f"), err
	}},
	{name: "transaction", prep: seed("seed"), write: func(ctx context.Context, s *Store, ns string) error {
		tx, err := s.Begin(ctx, storage.TxOptions{})
		if err != nil {
			return err
		}
		if err := tx.Set(ctx, "k", 1, storage.InNamespace(ns)); err != nil {
			_ = tx.Rollback(context.Background())
			return err
		}
		return tx.Commit(ctx)
	}, wrote: hasKey("k")},
}

// TestSQLiteLockWaitOutcome: every SQLite write path, called while another
// connection of the file (another process, as far as the store can tell)
// holds the write lock longer than the call's context lives, returns
// promptly once its context ends (a deadline, or a cancel without one),
// with its context's error (not ErrCommitUnknown: nothing was written),
// and the store holds what it reported once the lock is released. Before,
// a Set outside a transaction waited for the lock regardless of a cancel
// (up to busy_timeout), and past its deadline waited up to a second more,
// then was ErrCommitUnknown although it had not written; a grouped Set
// cancelled while its batch waited for the lock waited a second, then was
// ErrCommitUnknown.
func TestSQLiteLockWaitOutcome(t *testing.T) {
	const (
		after = 150 * time.Millisecond // the call's context ends
		hold  = 500 * time.Millisecond // the other connection's hold
		bound = 250 * time.Millisecond // the call returns this soon after its context ended
	)
	for _, combine := range []bool{true, false} {
		var opts []Option
		if !combine {
			opts = append(opts, WithoutWriteCombining())
		}
		path := filepath.Join(t.TempDir(), "lock.db")
		s := openTest(t, "sqlite:"+path, opts...)
		t.Cleanup(func() { _ = s.Close() })
		for ci, c := range lockWaitCases {
			for mi, mode := range []string{"deadline", "cancel"} {
				t.Run(fmt.Sprintf("combine=%v/%s/%s", combine, c.name, mode), func(t *testing.T) {
					bg := context.Background()
					ns := fmt.Sprintf("n%v-%d-%d", combine, ci, mi)
					if err := c.prep(bg, s, ns); err != nil {
						t.Fatalf("prep: %v", err)
					}
					var ctx context.Context
					var cancel context.CancelFunc
					if mode == "deadline" {
						ctx, cancel = context.WithTimeout(bg, after)
					} else {
						ctx, cancel = context.WithCancel(bg)
						time.AfterFunc(after, cancel)
					}
					defer cancel()
					released := holdLock(t, path, hold)
					start := time.Now()
					err := c.write(ctx, s, ns)
					took := time.Since(start)
					<-released
					if took > after+bound {
						t.Errorf("returned %v after the call began, its context ended at %v", took.Round(time.Millisecond), after)
					}
					want := context.DeadlineExceeded
					if mode == "cancel" {
						want = context.Canceled
					}
					if err != nil && !errors.Is(err, want) {
						t.Errorf("err = %v, want the context's error (%v)", err, want)
					}
					if errors.Is(err, storage.ErrCommitUnknown) {
						t.Errorf("err = %v: ErrCommitUnknown for a write that waited for the lock", err)
					}
					wrote, rerr := c.wrote(bg, s, ns)
					if rerr != nil {
						t.Fatalf("reading the outcome: %v", rerr)
					}
					if wrote != (err == nil) {
						t.Errorf("written = %v, but the call returned %v", wrote, err)
					}
				})
			}
		}
	}
}

// TestSQLiteLockWaitPastGrace: a Set whose deadline passed more than a
// second (lockGrace) before another connection released the write lock
// is its context's error, never ErrCommitUnknown: it had not written.
func TestSQLiteLockWaitPastGrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grace.db")
	s := openTest(t, "sqlite:"+path, WithoutWriteCombining())
	defer s.Close()
	bg := context.Background()
	must(t, s.Set(bg, "seed", 0))
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	released := holdLock(t, path, 100*time.Millisecond+lockGrace+300*time.Millisecond)
	err := s.Set(ctx, "k", 1)
	<-released
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, storage.ErrCommitUnknown) {
		t.Errorf("Set past its deadline behind another's lock: %v, want context.DeadlineExceeded", err)
	}
	if ok, herr := s.Has(bg, "k"); herr != nil || ok != (err == nil) {
		t.Errorf("written = %v (%v), but Set returned %v", ok, herr, err)
	}
}

// TestSQLiteLockWaitBatch: grouped Sets whose batch waits for another
// connection's write lock (BEGIN IMMEDIATE) and whose callers cancel
// return promptly with context.Canceled, and did not write; a Set of the
// batch that keeps its context is written once the lock is released.
func TestSQLiteLockWaitBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "batch.db")
	s := openTest(t, "sqlite:"+path)
	defer s.Close()
	bg := context.Background()
	must(t, s.Set(bg, "seed", 0))
	e := s.eng.(*sqliteEngine)
	// A transaction holds the writer connection: the first Set takes the
	// turn and waits for the connection, the next ones queue behind it.
	tx, err := s.Begin(bg, storage.TxOptions{})
	must(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Set(bg, "first", 1); err != nil {
			t.Errorf("first Set: %v", err)
		}
	}()
	waitFor(t, func() bool { return e.w.Stats().WaitCount > 0 })
	const n = 3
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	errs := make([]error, n)
	ended := make([]time.Time, n)
	for i := range n {
		ctxs[i], cancels[i] = context.WithCancel(bg)
		defer cancels[i]()
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Set(ctxs[i], fmt.Sprintf("k%d", i), i)
			ended[i] = time.Now()
		}()
	}
	waitFor(t, func() bool {
		e.comb.mu.Lock()
		defer e.comb.mu.Unlock()
		return len(e.comb.queue) == n
	})
	// The first Set runs once the transaction ends, then the batch: let
	// it find the lock held by another connection.
	held := make(chan (<-chan struct{}), 1)
	sqliteBatchStart = func() { held <- holdLock(t, path, 600*time.Millisecond) }
	defer func() { sqliteBatchStart = nil }()
	must(t, tx.Commit(bg))
	released := <-held
	time.Sleep(150 * time.Millisecond)
	cancelled := time.Now()
	for i := range n - 1 {
		cancels[i]()
	}
	wg.Wait()
	<-released
	for i := range n {
		ok, herr := s.Has(bg, fmt.Sprintf("k%d", i))
		if herr != nil {
			t.Fatal(herr)
		}
		if i == n-1 {
			if errs[i] != nil || !ok {
				t.Errorf("k%d (kept its context): %v, written %v", i, errs[i], ok)
			}
			continue
		}
		if !errors.Is(errs[i], context.Canceled) || errors.Is(errs[i], storage.ErrCommitUnknown) {
			t.Errorf("k%d (cancelled): %v, want context.Canceled", i, errs[i])
		}
		if ok != (errs[i] == nil) {
			t.Errorf("k%d: written %v, but Set returned %v", i, ok, errs[i])
		}
		if late := ended[i].Sub(cancelled); late > 250*time.Millisecond {
			t.Errorf("k%d returned %v after its cancel", i, late.Round(time.Millisecond))
		}
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("timed out waiting")
		}
	}
}

// TestSQLiteCancelledSetOutcome: uncontended Sets (alone and grouped)
// cancelled at random moments while they run: each is written iff it
// returned nil; a Set that returned its context's error did not write;
// ErrCommitUnknown only for one that did (its context ended as it
// committed) and asked for its answer (Written): one that did not is
// reported written. The statement now runs under the caller's context, so a
// cancel interrupts it.
func TestSQLiteCancelledSetOutcome(t *testing.T) {
	for _, combine := range []bool{true, false} {
		var opts []Option
		if !combine {
			opts = append(opts, WithoutWriteCombining())
		}
		s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "cancel.db"), opts...)
		defer s.Close()
		bg := context.Background()
		must(t, s.Set(bg, "seed", 0))
		const n = 400
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			ctx, cancel := context.WithCancel(bg)
			time.AfterFunc(time.Duration(i%50)*10*time.Microsecond, cancel)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				if i%2 == 0 {
					errs[i] = s.Set(ctx, fmt.Sprintf("k%d", i), i)
					return
				}
				var w storage.WriteResult
				errs[i] = s.Set(ctx, fmt.Sprintf("k%d", i), i, storage.Written(&w))
				if errs[i] == nil && w.Revision == 0 {
					t.Errorf("k%d: written without its revision", i)
				}
			}()
			if i%4 == 3 {
				wg.Wait()
			}
		}
		wg.Wait()
		var counts [3]int
		for i, err := range errs {
			ok, herr := s.Has(bg, fmt.Sprintf("k%d", i))
			must(t, herr)
			what := fmt.Sprintf("combine=%v Set k%d", combine, i)
			if checkOutcome(t, what, err, ok, &counts) && i%2 == 0 {
				t.Errorf("%s: %v for a Set that asked for no answer", what, err)
			}
		}
		t.Logf("combine=%v: %d written, %d cancelled, %d unknown", combine, counts[0], counts[1], counts[2])
	}
}

// TestSQLiteCancelledSetManyOutcome: SetManys of 50 items outside
// transactions (one statement) cancelled at random moments: each is
// written iff it returned nil, ErrCommitUnknown only for one that wrote.
// Through database/sql, 16 in 400 answered context.Canceled though they
// had written.
func TestSQLiteCancelledSetManyOutcome(t *testing.T) {
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "many.db"))
	defer s.Close()
	bg := context.Background()
	must(t, s.Set(bg, "seed", 0))
	var counts [3]int
	for i := range 400 {
		ctx, cancel := context.WithCancel(bg)
		time.AfterFunc(time.Duration(i%80)*10*time.Microsecond, cancel)
		items := make([]storage.Item, 50)
		for j := range items {
			items[j] = storage.Item{Key: fmt.Sprintf("k%d-%d", i, j), Value: j}
		}
		res, err := s.SetMany(ctx, items)
		cancel()
		if err == nil {
			err = res.Err()
		}
		ok, herr := s.Has(bg, fmt.Sprintf("k%d-0", i))
		must(t, herr)
		checkOutcome(t, fmt.Sprintf("SetMany %d", i), err, ok, &counts)
	}
	t.Logf("%d written, %d cancelled, %d unknown", counts[0], counts[1], counts[2])
}

// checkOutcome checks a write's answer err against whether it wrote: nil
// and ErrCommitUnknown must have, context.Canceled must not, and nothing
// else is expected. It counts err in counts (written, cancelled, unknown)
// and reports whether err is ErrCommitUnknown.
func checkOutcome(t *testing.T, what string, err error, wrote bool, counts *[3]int) bool {
	t.Helper()
	switch {
	case err == nil:
		counts[0]++
		if !wrote {
			t.Errorf("%s returned nil, not written", what)
		}
	case errors.Is(err, storage.ErrCommitUnknown):
		counts[2]++
		if !wrote {
			t.Errorf("%s: %v for a write that did not commit", what, err)
		}
		return true
	case errors.Is(err, context.Canceled):
		counts[1]++
		if wrote {
			t.Errorf("%s: %v, but written", what, err)
		}
	default:
		t.Errorf("%s: %v", what, err)
	}
	return false
}

// BenchmarkSQLiteSetContexts is an uncontended Set's cost by its
// context: none that ends, a cancel, a deadline.
func BenchmarkSQLiteSetContexts(b *testing.B) {
	s := openTest(b, "sqlite:"+filepath.Join(b.TempDir(), "ctx.db"), WithSweepInterval(-1))
	defer s.Close()
	val := []byte(`{"n":1,"s":"0123456789"}`)
	cancelled, cancel := context.WithCancel(context.Background())
	defer cancel()
	deadline, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"background", context.Background()}, {"cancel", cancelled}, {"deadline", deadline}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := s.Set(c.ctx, fmt.Sprintf("k%03d", i%100), val); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSQLiteSetManyAlone is SetMany's one statement outside
// transactions, 100 items.
func BenchmarkSQLiteSetManyAlone(b *testing.B) {
	s := openTest(b, "sqlite:"+filepath.Join(b.TempDir(), "many.db"), WithSweepInterval(-1))
	defer s.Close()
	ctx := b.Context()
	items := make([]storage.Item, 100)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%03d", i), Value: map[string]int{"n": i}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := s.SetMany(ctx, items); err != nil || !res.OK() {
			b.Fatal(err, res.Err())
		}
	}
}

// TestSQLiteWriteCutBeforeItRan: a write outside transactions whose
// context ends after the store's check of it and before the driver runs
// its statement (the driver then answers the context's error without
// running it) is its context's error, and nothing was written. Before,
// SQLite's changes() decided, which was still the previous write's count:
// the write was ErrCommitUnknown with Written, and nil without it (a Set
// reported written that was not), both for a Set and for a SetMany.
func TestSQLiteWriteCutBeforeItRan(t *testing.T) {
	cases := []struct {
		name  string
		write func(ctx context.Context, s *Store, key string) error
	}{
		{"set", func(ctx context.Context, s *Store, key string) error { return s.Set(ctx, key, 1) }},
		{"set Written", func(ctx context.Context, s *Store, key string) error {
			var w storage.WriteResult
			return s.Set(ctx, key, 1, storage.Written(&w))
		}},
		{"set NoOverwrite", func(ctx context.Context, s *Store, key string) error {
			return s.Set(ctx, key, 1, storage.NoOverwrite())
		}},
		{"setMany", func(ctx context.Context, s *Store, key string) error {
			res, err := s.SetMany(ctx, []storage.Item{{Key: key, Value: 1}, {Key: key + "-2", Value: 2}})
			if err == nil {
				err = res.Err()
			}
			return err
		}},
	}
	for _, combine := range []bool{true, false} {
		var opts []Option
		if !combine {
			opts = append(opts, WithoutWriteCombining())
		}
		s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "cut.db"), opts...)
		t.Cleanup(func() { _ = s.Close() })
		for _, c := range cases {
			t.Run(fmt.Sprintf("combine=%v/%s", combine, c.name), func(t *testing.T) {
				bg := context.Background()
				// The writer connection's last statement changed a row.
				must(t, s.Set(bg, "seed", 0))
				ctx, cancel := context.WithCancel(bg)
				defer cancel()
				sqliteWriteStart = cancel
				defer func() { sqliteWriteStart = nil }()
				key := "k-" + c.name
				err := c.write(ctx, s, key)
				sqliteWriteStart = nil
				ok, herr := s.Has(bg, key)
				must(t, herr)
				if !errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrCommitUnknown) {
					t.Errorf("err = %v, want the context's error alone", err)
				}
				if ok {
					t.Errorf("written, but the call returned %v", err)
				}
			})
		}
	}
}

// TestSQLiteCancelledConflictOutcome: conditional Sets outside
// transactions that cannot write (IfVersion of a version the key does not
// have, NoOverwrite of a key that exists), cancelled at random moments:
// none is ever answered nil or ErrCommitUnknown. Their statement commits
// a transaction that changed nothing: that it committed is not enough to
// call it written.
func TestSQLiteCancelledConflictOutcome(t *testing.T) {
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "conflict.db"), WithoutWriteCombining())
	defer s.Close()
	bg := context.Background()
	must(t, s.Set(bg, "k", "old"))
	var counts [2]int
	for i := range 600 {
		ctx, cancel := context.WithCancel(bg)
		time.AfterFunc(time.Duration(i%60)*5*time.Microsecond, cancel)
		var err error
		if i%2 == 0 {
			err = s.Set(ctx, "k", i, storage.IfVersion(99))
		} else {
			err = s.Set(ctx, "k", i, storage.NoOverwrite())
		}
		cancel()
		switch {
		case err == nil || errors.Is(err, storage.ErrCommitUnknown):
			t.Errorf("Set %d: %v, but it cannot have written", i, err)
		case errors.Is(err, context.Canceled):
			counts[0]++
		default:
			counts[1]++
		}
	}
	e, err := s.Get(bg, "k")
	must(t, err)
	if string(e.Value) != `"old"` || e.Version != 1 {
		t.Errorf("k = %s at version %d, want \"old\" at 1", e.Value, e.Version)
	}
	t.Logf("%d cancelled, %d conflicts", counts[0], counts[1])
}
