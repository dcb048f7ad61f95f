package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
	"github.com/mycelia-kernel/storage/txmanager"
)

// TestConformanceInTx runs the suite with every data operation inside a
// transaction.
func TestConformanceInTx(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, inTxHarness(c))
		})
	}
}

func TestTxBasics(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t))
			defer s.Close()

			tx, err := s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := storage.LevelReadCommitted
			if s.Dialect() == "sqlite" {
				want = storage.LevelSerializable
			}
			if tx.Isolation() != want || tx.ReadOnly() || tx.ID() == "" {
				t.Errorf("Isolation %v ReadOnly %v ID %q", tx.Isolation(), tx.ReadOnly(), tx.ID())
			}
			if got, err := s.LookupTx(tx.ID()); err != nil || got != tx {
				t.Errorf("LookupTx = %v, %v", got, err)
			}
			ns := storage.InNamespace("txns")
			if err := tx.Set(ctx, "a", 1, ns); err != nil {
				t.Fatal(err)
			}
			if e, err := tx.Get(ctx, "a", ns); err != nil || string(e.Value) != "1" {
				t.Fatalf("tx does not see its own write: %v %v", e, err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if e, err := s.Get(ctx, "a", ns); err != nil || string(e.Value) != "1" {
				t.Fatalf("committed write not visible: %v %v", e, err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Errorf("second Commit: %v", err)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Errorf("Rollback after Commit: %v", err)
			}
			if err := tx.Set(ctx, "b", 2, ns); !errors.Is(err, storage.ErrTxDone) {
				t.Errorf("Set after Commit: %v, want ErrTxDone", err)
			}
			if _, err := s.LookupTx(tx.ID()); !errors.Is(err, storage.ErrTxNotFound) {
				t.Errorf("LookupTx after Commit: %v", err)
			}

			// Rollback discards every write, namespace creation included.
			tx, err = s.Begin(ctx, storage.TxOptions{Isolation: storage.LevelSerializable})
			if err != nil {
				t.Fatal(err)
			}
			if tx.Isolation() != storage.LevelSerializable {
				t.Errorf("Isolation = %v", tx.Isolation())
			}
			fresh := storage.InNamespace("created-in-tx")
			if err := tx.Set(ctx, "x", "y", fresh); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.SetMany(ctx, []storage.Item{{Key: "a", Value: 2}, {Key: "c", Value: 3}}, ns); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Errorf("second Rollback: %v", err)
			}
			if err := tx.Commit(ctx); !errors.Is(err, storage.ErrTxDone) {
				t.Errorf("Commit after Rollback: %v, want ErrTxDone", err)
			}
			nss, _ := s.ListNamespaces(ctx)
			for _, n := range nss {
				if n.Name == "created-in-tx" {
					t.Error("namespace created in a rolled-back transaction survived")
				}
			}
			if e, _ := s.Get(ctx, "a", ns); string(e.Value) != "1" {
				t.Errorf("rolled-back overwrite survived: %s", e.Value)
			}
			if ok, _ := s.Has(ctx, "c", ns); ok {
				t.Error("rolled-back insert survived")
			}
			checkInvariants(t, s)
		})
	}
}

func TestTxReadOnly(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			_ = s.Set(ctx, "k", 1)
			tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if !tx.ReadOnly() {
				t.Error("ReadOnly() = false")
			}
			if _, err := tx.Get(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			for name, write := range map[string]func() error{
				"Set":         func() error { return tx.Set(ctx, "k", 2) },
				"Delete":      func() error { return tx.Delete(ctx, "k") },
				"SetMetadata": func() error { return tx.SetMetadata(ctx, "k", nil) },
				"Clear":       func() error { return tx.Clear(ctx) },
				"SetMany":     func() error { _, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 3}}); return err },
				"DeleteMany":  func() error { _, err := tx.DeleteMany(ctx, []string{"k"}); return err },
			} {
				if err := write(); !errors.Is(err, storage.ErrReadOnly) {
					t.Errorf("%s in a read-only transaction: %v, want ErrReadOnly", name, err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if e, _ := s.Get(ctx, "k"); string(e.Value) != "1" {
				t.Errorf("value changed: %s", e.Value)
			}
		})
	}
}

func TestTxRegistry(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t), WithMaxOpenTx(1), WithTxIdleTimeout(100*time.Millisecond))
			defer s.Close()

			tx, err := s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Begin(ctx, storage.TxOptions{}); !errors.Is(err, storage.ErrTooManyTx) {
				t.Errorf("second Begin with MaxOpenTx(1): %v, want ErrTooManyTx", err)
			}
			if err := tx.Set(ctx, "abandoned", 1); err != nil {
				t.Fatal(err)
			}
			// Abandoned: the idle timeout rolls it back.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := s.LookupTx(tx.ID()); errors.Is(err, storage.ErrTxNotFound) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the idle transaction was not reaped")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := tx.Set(ctx, "more", 1); !errors.Is(err, storage.ErrTxDone) {
				t.Errorf("Set after the idle timeout: %v, want ErrTxDone", err)
			}
			if err := tx.Commit(ctx); !errors.Is(err, storage.ErrTxDone) {
				t.Errorf("Commit after the idle timeout: %v, want ErrTxDone", err)
			}
			if ok, _ := s.Has(ctx, "abandoned"); ok {
				t.Error("the reaped transaction's write survived")
			}

			// A slot is free again; Close rolls back what is open.
			tx, err = s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Set(ctx, "open-at-close", 1); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tx.Set(ctx, "x", 1); !errors.Is(err, storage.ErrTxDone) && !errors.Is(err, storage.ErrClosed) {
				t.Errorf("Set after Close: %v", err)
			}
			if _, err := s.Begin(ctx, storage.TxOptions{}); !errors.Is(err, storage.ErrClosed) {
				t.Errorf("Begin after Close: %v", err)
			}
		})
	}
}

func TestTxContextCancelRollsBack(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			tx, err := s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Set(ctx, "k", 1); err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := tx.Set(cctx, "k2", 2); !errors.Is(err, context.Canceled) {
				t.Fatalf("Set with a cancelled context: %v", err)
			}
			if err := tx.Set(ctx, "k3", 3); !errors.Is(err, storage.ErrTxDone) {
				t.Errorf("Set after cancellation: %v, want ErrTxDone", err)
			}
			if ok, _ := s.Has(ctx, "k"); ok {
				t.Error("write of the cancelled transaction survived")
			}
		})
	}
}

// TestTxBankTransfers moves money between accounts from 16 goroutines, 500
// serializable transfers each through RunInTx, while read-only transactions
// check that the total never changes. No balance may go negative, and every
// error must be accounted for.
func TestTxBankTransfers(t *testing.T) {
	const (
		accounts  = 10
		initial   = 1000
		workers   = 16
		transfers = 500
	)
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			items := make([]storage.Item, accounts)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("acct:%02d", i), Value: initial}
			}
			if res, err := s.SetMany(ctx, items); err != nil || !res.OK() {
				t.Fatal(err, res.Err())
			}
			serializable := storage.TxOptions{Isolation: storage.LevelSerializable}
			var done, insufficient, exhausted atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < transfers; i++ {
						from := fmt.Sprintf("acct:%02d", (w+i)%accounts)
						to := fmt.Sprintf("acct:%02d", (w*7+i*3+1)%accounts)
						if from == to {
							to = fmt.Sprintf("acct:%02d", ((w*7+i*3+1)%accounts+1)%accounts)
						}
						amount := int64(1 + (w*31+i*17)%200)
						err := txmanager.RunInTx(ctx, s, serializable, func(tx storage.Tx) error {
							var a, b int64
							ea, err := tx.Get(ctx, from)
							if err != nil {
								return err
							}
							eb, err := tx.Get(ctx, to)
							if err != nil {
								return err
							}
							_ = ea.Decode(&a)
							_ = eb.Decode(&b)
							if a < amount {
								return errInsufficient
							}
							if err := tx.Set(ctx, from, a-amount); err != nil {
								return err
							}
							return tx.Set(ctx, to, b+amount)
						})
						var re *txmanager.RetryError
						switch {
						case err == nil:
							done.Add(1)
						case errors.Is(err, errInsufficient):
							insufficient.Add(1)
						case errors.As(err, &re):
							exhausted.Add(1)
						default:
							errs <- fmt.Errorf("worker %d transfer %d: %w", w, i, err)
							return
						}
					}
				}(w)
			}
			// Auditors: read-only transactions always see the same total.
			stop := make(chan struct{})
			var audits atomic.Int64
			var auditWG sync.WaitGroup
			auditErr := make(chan error, 2)
			for a := 0; a < 2; a++ {
				auditWG.Add(1)
				go func() {
					defer auditWG.Done()
					keys := make([]string, accounts)
					for i := range keys {
						keys[i] = fmt.Sprintf("acct:%02d", i)
					}
					for {
						select {
						case <-stop:
							return
						default:
						}
						err := txmanager.RunInTx(ctx, s, storage.TxOptions{Isolation: storage.LevelRepeatableRead, ReadOnly: true}, func(tx storage.Tx) error {
							got, err := tx.GetMany(ctx, keys)
							if err != nil {
								return err
							}
							var total int64
							for _, e := range got.Entries {
								var v int64
								_ = e.Decode(&v)
								if v < 0 {
									return fmt.Errorf("negative balance %d", v)
								}
								total += v
							}
							if total != accounts*initial || len(got.Entries) != accounts {
								return fmt.Errorf("audit saw total %d over %d accounts, want %d", total, len(got.Entries), accounts*initial)
							}
							return nil
						})
						if err != nil {
							auditErr <- err
							return
						}
						audits.Add(1)
						time.Sleep(time.Millisecond)
					}
				}()
			}
			wg.Wait()
			close(stop)
			auditWG.Wait()
			close(errs)
			close(auditErr)
			for err := range errs {
				t.Error(err)
			}
			for err := range auditErr {
				t.Error(err)
			}
			total := done.Load() + insufficient.Load() + exhausted.Load()
			t.Logf("%d transfers: %d done, %d refused for insufficient funds, %d gave up after retries; %d audits",
				total, done.Load(), insufficient.Load(), exhausted.Load(), audits.Load())
			if total != workers*transfers {
				t.Errorf("accounted for %d transfers, want %d", total, workers*transfers)
			}
			if done.Load() == 0 || audits.Load() == 0 {
				t.Error("no transfer or no audit succeeded")
			}
			var sum int64
			for i := 0; i < accounts; i++ {
				e, err := s.Get(ctx, fmt.Sprintf("acct:%02d", i))
				if err != nil {
					t.Fatal(err)
				}
				var v int64
				_ = e.Decode(&v)
				if v < 0 {
					t.Errorf("acct %d negative: %d", i, v)
				}
				sum += v
			}
			if sum != accounts*initial {
				t.Errorf("final total %d, want %d", sum, accounts*initial)
			}
		})
	}
}

var errInsufficient = errors.New("insufficient funds")

// TestTxWriteSkew: two doctors are on call; each session checks that two
// are on call and takes itself off. SQLite runs every write transaction
// alone: no write skew. PostgreSQL runs its native levels: at serializable
// the second writer fails with ErrTxConflict (no write skew); at
// repeatable-read (snapshot isolation) both commit and the anomaly shows,
// as PostgreSQL documents it: the revisions (a sequence, revlock.go) no
// longer make every pair of concurrent writers conflict.
func TestTxWriteSkew(t *testing.T) {
	for _, c := range configs {
		for _, level := range []storage.IsolationLevel{storage.LevelRepeatableRead, storage.LevelSerializable} {
			t.Run(c.name+"/"+level.String(), func(t *testing.T) {
				ctx := context.Background()
				s := openTest(t, c.dsn(t))
				defer s.Close()
				_ = s.Set(ctx, "alice", true)
				_ = s.Set(ctx, "bob", true)
				onCall := func(tx storage.Tx) int {
					n := 0
					for _, k := range []string{"alice", "bob"} {
						e, err := tx.Get(ctx, k)
						if err != nil {
							t.Fatal(err)
						}
						if string(e.Value) == "true" {
							n++
						}
					}
					return n
				}
				opts := storage.TxOptions{Isolation: level}
				if s.Dialect() == "sqlite" {
					// One write transaction at a time: run them one after
					// the other; the second sees the first's write.
					var errs []error
					for _, me := range []string{"alice", "bob"} {
						tx, err := s.Begin(ctx, opts)
						if err != nil {
							t.Fatal(err)
						}
						if onCall(tx) >= 2 {
							_ = tx.Set(ctx, me, false)
						}
						errs = append(errs, tx.Commit(ctx))
					}
					for _, err := range errs {
						if err != nil {
							t.Fatal(err)
						}
					}
				} else {
					t1, err := s.Begin(ctx, opts)
					if err != nil {
						t.Fatal(err)
					}
					t2, err := s.Begin(ctx, opts)
					if err != nil {
						t.Fatal(err)
					}
					n1, n2 := onCall(t1), onCall(t2)
					if n1 != 2 || n2 != 2 {
						t.Fatalf("on call: %d, %d", n1, n2)
					}
					// A write takes the revision lock until its transaction
					// ends (revlock.go): t2's write waits for t1 to end.
					// Serializable then finds the read-write conflict;
					// repeatable-read writes another row than t1: no
					// conflict.
					e1 := t1.Set(ctx, "alice", false)
					if e1 == nil {
						e1 = t1.Commit(ctx)
					}
					e2 := t2.Set(ctx, "bob", false)
					if e2 == nil {
						e2 = t2.Commit(ctx)
					}
					_ = t1.Rollback(ctx)
					_ = t2.Rollback(ctx)
					if e1 != nil {
						t.Fatalf("%s: first writer: %v", level, e1)
					}
					if level == storage.LevelRepeatableRead {
						if e2 != nil {
							t.Fatalf("%s: second writer: %v, want none (snapshot isolation)", level, e2)
						}
					} else if !errors.Is(e2, storage.ErrTxConflict) {
						t.Fatalf("%s: second writer: %v, want ErrTxConflict", level, e2)
					}
				}
				tx, _ := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
				n := onCall(tx)
				_ = tx.Rollback(ctx)
				anomaly := n == 0
				if want := s.Dialect() == "postgres" && level == storage.LevelRepeatableRead; anomaly != want {
					t.Errorf("%d doctors on call: the write-skew anomaly %v, want %v", n, anomaly, want)
				}
			})
		}
	}
}

// TestTxLostUpdate: at read-committed, two sessions read the same version and
// write with IfVersion; the second write is refused, so no update is lost.
func TestTxLostUpdate(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			_ = s.Set(ctx, "counter", 0)
			rc := storage.TxOptions{Isolation: storage.LevelReadCommitted}
			if s.Dialect() == "sqlite" {
				// The interleaving needs two open write transactions, which
				// SQLite never has; interleave a transaction with a plain
				// write instead.
				tx, _ := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
				e, _ := tx.Get(ctx, "counter")
				_ = tx.Rollback(ctx)
				if err := s.Set(ctx, "counter", 1, storage.IfVersion(e.Version)); err != nil {
					t.Fatal(err)
				}
				if err := s.Set(ctx, "counter", 1, storage.IfVersion(e.Version)); !errors.Is(err, storage.ErrConflict) {
					t.Fatalf("stale IfVersion write: %v, want ErrConflict", err)
				}
				return
			}
			t1, _ := s.Begin(ctx, rc)
			t2, _ := s.Begin(ctx, rc)
			e1, _ := t1.Get(ctx, "counter")
			e2, _ := t2.Get(ctx, "counter")
			if err := t1.Set(ctx, "counter", 1, storage.IfVersion(e1.Version)); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- t2.Set(ctx, "counter", 1, storage.IfVersion(e2.Version)) }()
			time.Sleep(50 * time.Millisecond) // t2 waits for t1's row lock
			if err := t1.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, storage.ErrConflict) {
				t.Fatalf("second writer: %v, want ErrConflict", err)
			}
			_ = t2.Rollback(ctx)
			e, _ := s.Get(ctx, "counter")
			if e.Version != 2 || string(e.Value) != "1" {
				t.Errorf("counter = %s at version %d", e.Value, e.Version)
			}
		})
	}
}

// killAtCommit is a pgx tracer that terminates the connection's backend
// just before COMMIT is sent, so the client does not know the commit's
// outcome. With status set it also terminates the backend of every
// pg_xact_status query (commitOutcome's), so the server cannot tell it
// either.
type killAtCommit struct {
	admin  string
	armed  atomic.Bool
	status bool
}

func (k *killAtCommit) TraceQueryStart(ctx context.Context, conn *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if (strings.HasSuffix(d.SQL, "commit") && k.armed.CompareAndSwap(true, false)) || (k.status && d.SQL == xactStatusSQL) {
		c, err := pgx.Connect(context.Background(), k.admin)
		if err == nil {
			_, _ = c.Exec(context.Background(), "SELECT pg_terminate_backend($1)", conn.PgConn().PID())
			_ = c.Close(context.Background())
			time.Sleep(100 * time.Millisecond)
		}
	}
	return ctx
}

func (*killAtCommit) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// runKilledAtCommit runs a RunInTx whose first COMMIT loses its
// connection (killAtCommit; status as its field), each attempt setting k
// to the attempt's number; it returns the store, the attempts made and
// RunInTx's error.
func runKilledAtCommit(t *testing.T, status bool) (*Store, int, error) {
	k := &killAtCommit{admin: pgAdminDSN(t), status: status}
	s := openTest(t, newPGSchema(t), withPgxTracer(k))
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	calls := 0
	k.armed.Store(true)
	err := txmanager.RunInTx(ctx, s, storage.TxOptions{}, func(tx storage.Tx) error {
		calls++
		return tx.Set(ctx, "k", calls)
	})
	return s, calls, err
}

func TestTxCommitUnknownIsNotRetried(t *testing.T) {
	ctx := context.Background()
	s, calls, err := runKilledAtCommit(t, true)
	if !errors.Is(err, storage.ErrCommitUnknown) {
		t.Fatalf("RunInTx: %v, want ErrCommitUnknown", err)
	}
	if calls != 1 {
		t.Errorf("fn ran %d times; a commit of unknown outcome must not be retried", calls)
	}
	// The pool recovers. (The last pg_xact_status connection may have
	// been killed after its query's context ended, unnoticed: the pool
	// pings a connection idle for more than a second before handing it
	// out.)
	time.Sleep(1100 * time.Millisecond)
	if err := s.Set(ctx, "after", 1); err != nil {
		t.Fatal(err)
	}
}

// TestTxCommitKnownRollbackIsRetried: a transaction whose connection broke
// as its COMMIT was sent, and which the server then reports rolled back
// (pg_xact_status, commitOutcome), has a known outcome: RunInTx retries it
// as the outage it was (before, Commit returned ErrCommitUnknown, never
// retried, and the caller could not tell that nothing was written).
func TestTxCommitKnownRollbackIsRetried(t *testing.T) {
	ctx := context.Background()
	s, calls, err := runKilledAtCommit(t, false)
	if err != nil || calls != 2 {
		t.Fatalf("RunInTx: %v after %d calls, want nil after 2 (the first rolled back)", err, calls)
	}
	if e, err := s.Get(ctx, "k"); err != nil || string(e.Value) != "2" || e.Version != 1 {
		t.Errorf("k: %s at version %d (%v), want 2 at version 1", e.Value, e.Version, err)
	}
}

func TestRunInTxRetriesConflicts(t *testing.T) {
	dsn := newPGSchema(t)
	s := openTest(t, dsn)
	defer s.Close()
	ctx := context.Background()
	_ = s.Set(ctx, "x", 0)
	serializable := storage.TxOptions{Isolation: storage.LevelSerializable}
	attempts := 0
	err := txmanager.RunInTx(ctx, s, serializable, func(tx storage.Tx) error {
		attempts++
		e, err := tx.Get(ctx, "x")
		if err != nil {
			return err
		}
		if attempts == 1 {
			// Another writer changes x after this transaction read it.
			if err := s.Set(ctx, "x", 100); err != nil {
				return err
			}
		}
		var v int
		_ = e.Decode(&v)
		return tx.Set(ctx, "x", v+1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("fn ran %d times, want 2 (one serialization failure, one retry)", attempts)
	}
	e, _ := s.Get(ctx, "x")
	if string(e.Value) != "101" {
		t.Errorf("x = %s, want 101", e.Value)
	}
}

func TestRunInTxPanicRollsBack(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			func() {
				defer func() {
					if r := recover(); r != "boom" {
						t.Errorf("recovered %v, want the panic to go on", r)
					}
				}()
				_ = txmanager.RunInTx(ctx, s, storage.TxOptions{}, func(tx storage.Tx) error {
					_ = tx.Set(ctx, "k", 1)
					panic("boom")
				})
			}()
			if ok, _ := s.Has(ctx, "k"); ok {
				t.Error("the panicking transaction's write survived")
			}
			// The writer is free again (SQLite would block here otherwise).
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := s.Set(cctx, "k2", 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}
