package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// txErrName names the one sentinel err wraps.
func txErrName(err error) string {
	if err == nil {
		return "nil"
	}
	var names []string
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			names = append(names, strings.TrimPrefix(s.Error(), "storage: "))
		}
	}
	if len(names) != 1 {
		return fmt.Sprintf("BAD(%v: %v)", names, err)
	}
	return names[0]
}

// txScenario runs the same transaction scenario against st and returns its
// transcript.
func txScenario(t *testing.T, st storage.Store, dialect string) string {
	ctx := context.Background()
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	ns := storage.InNamespace("s")
	_ = st.Set(ctx, "x", map[string]int{"n": 1}, ns)
	_ = st.Set(ctx, "y", map[string]int{"n": 2}, ns)

	// Errors inside a transaction leave it usable.
	tx, err := st.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p("nooverwrite %s", txErrName(tx.Set(ctx, "x", 5, ns, storage.NoOverwrite())))
	p("ifversion %s", txErrName(tx.Set(ctx, "x", 5, ns, storage.IfVersion(9))))
	p("mustexist %s", txErrName(tx.Set(ctx, "zz", 5, ns, storage.MustExist())))
	_, err = tx.Get(ctx, "nope", ns)
	p("get missing %s", txErrName(err))
	p("delete missing %s", txErrName(tx.Delete(ctx, "nope", ns)))
	_, err = tx.Query(ctx, storage.Gt("n", []int{1}), ns)
	p("bad filter %s", txErrName(err))
	p("bad key %s", txErrName(tx.Set(ctx, "", 1, ns)))
	r, err := tx.SetMany(ctx, []storage.Item{{Key: "x", Value: 1, IfRevision: 1}, {Key: "w", Value: 1}}, ns, storage.Atomic())
	var first error
	if f := r.Failed(); len(f) > 0 {
		first = f[0].Err
	}
	p("setmany atomic %s %s", txErrName(err), txErrName(first))
	p("set after errors %s", txErrName(tx.Set(ctx, "z", map[string]int{"n": 3}, ns, storage.WithTTL(time.Hour))))
	e, err := tx.Get(ctx, "z", ns)
	var v bytes.Buffer
	_ = json.Compact(&v, e.Value) // PostgreSQL's jsonb spells values its own way
	p("get own %s %s v%d ttl=%v", txErrName(err), v.String(), e.Version, !e.ExpiresAt.IsZero())
	if h, ok := tx.(storage.Historian); ok {
		evs, err := h.History(ctx, "z", ns)
		p("history own %s %d", txErrName(err), len(evs))
	}
	n, err := tx.Count(ctx, ns)
	p("count own %s %d", txErrName(err), n)
	p("commit %s", txErrName(tx.Commit(ctx)))
	p("commit again %s", txErrName(tx.Commit(ctx)))
	p("rollback after commit %s", txErrName(tx.Rollback(ctx)))
	_, err = tx.Get(ctx, "x", ns)
	p("get after commit %s", txErrName(err))
	ok, err := st.Has(ctx, "z", ns)
	p("z committed %v %s", ok, txErrName(err))
	ok, _ = st.Has(ctx, "w", ns)
	p("w committed %v", ok)

	// Rollback.
	tx, _ = st.Begin(ctx, storage.TxOptions{})
	_ = tx.Set(ctx, "r", 1, ns)
	p("rollback %s", txErrName(tx.Rollback(ctx)))
	p("rollback again %s", txErrName(tx.Rollback(ctx)))
	p("commit after rollback %s", txErrName(tx.Commit(ctx)))
	_, err = tx.List(ctx, ns)
	p("list after rollback %s", txErrName(err))
	_, err = st.LookupTx(tx.ID())
	p("lookup ended %s", txErrName(err))

	// Read-only.
	tx, _ = st.Begin(ctx, storage.TxOptions{ReadOnly: true})
	p("ro set %s", txErrName(tx.Set(ctx, "r", 1, ns)))
	p("ro delete %s", txErrName(tx.Delete(ctx, "x", ns)))
	p("ro clear %s", txErrName(tx.Clear(ctx, ns)))
	_, err = tx.Get(ctx, "x", ns)
	p("ro get after refused write %s", txErrName(err))
	p("ro commit %s", txErrName(tx.Commit(ctx)))

	// Idle timeout (the store's is 1 s: long enough that the two
	// transactions of "Max open" below, begun one after the other, are
	// not ended by it while the third Begin waits, on a loaded machine).
	tx, _ = st.Begin(ctx, storage.TxOptions{})
	_ = tx.Set(ctx, "idle", 1, ns)
	time.Sleep(2500 * time.Millisecond)
	_, err = tx.Get(ctx, "x", ns)
	p("get after idle %s", txErrName(err))
	p("commit after idle %s", txErrName(tx.Commit(ctx)))
	p("rollback after idle %s", txErrName(tx.Rollback(ctx)))
	ok, _ = st.Has(ctx, "idle", ns)
	p("idle write kept %v", ok)

	// Max open.
	t1, e1 := st.Begin(ctx, storage.TxOptions{ReadOnly: true})
	t2, e2 := st.Begin(ctx, storage.TxOptions{ReadOnly: true})
	bctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	t3, e3 := st.Begin(bctx, storage.TxOptions{ReadOnly: true})
	cancel()
	p("begin 3: %s %s %s", txErrName(e1), txErrName(e2), txErrName(e3))
	for _, x := range []storage.Tx{t1, t2, t3} {
		if x != nil {
			_ = x.Rollback(ctx)
		}
	}
	// Conflicting commit (PostgreSQL only: SQLite has one writer).
	if dialect == "postgres" {
		ser := storage.TxOptions{Isolation: storage.LevelSerializable}
		a, _ := st.Begin(ctx, ser)
		c, _ := st.Begin(ctx, ser)
		_, _ = a.Get(ctx, "x", ns)
		_, _ = c.Get(ctx, "y", ns)
		p("a write %s", txErrName(a.Set(ctx, "y", 7, ns)))
		p("a commit %s", txErrName(a.Commit(ctx)))
		werr := c.Set(ctx, "x", 7, ns)
		cerr := c.Commit(ctx)
		p("c write+commit %s %s", txErrName(werr), txErrName(cerr))
		p("c commit again %s", txErrName(c.Commit(ctx)))
		p("c rollback %s", txErrName(c.Rollback(ctx)))
	}
	return b.String()
}

// TestTxClientMatchesLibrary: a transaction driven through the client
// answers as the library's: errors inside it (which leave it usable), own
// writes with a TTL, History and Count, Commit and Rollback repeated and
// crossed, use after the end, a read-only transaction's refused writes,
// the idle timeout, the cap on open transactions, and on PostgreSQL a
// serialization failure and the Commit after it.
func TestTxClientMatchesLibrary(t *testing.T) {
	var first string // the first configuration's: every other answers the same
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			var out [2]string
			for i := range out {
				inner, err := sqlstore.Open(t.Context(), c.DSN(t), sqlstore.WithTxIdleTimeout(time.Second), sqlstore.WithMaxOpenTx(2))
				if err != nil {
					t.Fatal(err)
				}
				defer inner.Close()
				var st storage.Store = inner
				if i == 1 {
					_, st = serve(t, inner)
				}
				out[i] = txScenario(t, st, string(inner.Dialect()))
			}
			if out[0] != out[1] {
				t.Errorf("library:\n%s\nclient:\n%s", out[0], out[1])
			}
			if first == "" {
				first = out[0]
			} else if !strings.HasPrefix(out[0], first) {
				t.Errorf("%s:\n%s\nfirst configuration:\n%s", c.Name, out[0], first)
			}
			for _, want := range []string{
				"commit after rollback transaction has already been committed or rolled back",
				"commit after idle transaction has already been committed or rolled back",
				"idle write kept false", "w committed false", "z committed true nil",
				"begin 3: nil nil too many open transactions", "ro commit nil",
			} {
				if !strings.Contains(out[0], want+"\n") {
					t.Errorf("no %q in\n%s", want, out[0])
				}
			}
		})
	}
}
