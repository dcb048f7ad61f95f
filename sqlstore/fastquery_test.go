package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestDriverRowScansAsDatabaseSQL: a dynamic statement's row read through
// the driver (fastReadQ.queryRows) sets every kind of destination as
// database/sql's Rows.Scan sets it from the same value, and fails where
// it fails.
// namedString is a destination of a string kind that is not string.
type namedString string

func TestDriverRowScansAsDatabaseSQL(t *testing.T) {
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "d.db"))
	defer s.Close()
	ctx := t.Context()
	e := s.eng.(*sqliteEngine)
	exprs := []string{"NULL", "0", "42", "300", "-5", "1.5", "1e20", "'text'", "'12'", "'-3'", "''", "x'6869'", "x''", "'2026-12-03T18:00:00Z'"}
	dests := []func() any{
		func() any { return new(string) }, func() any { return new(*string) },
		func() any { return new(int64) }, func() any { return new(*int64) },
		func() any { return new(int) }, func() any { return new(int8) }, func() any { return new(uint32) },
		func() any { return new(float64) }, func() any { return new(float32) }, func() any { return new(bool) },
		func() any { return new(time.Time) }, func() any { return new(any) }, func() any { return new([]byte) },
		func() any { return new(sql.NullString) }, func() any { return new(sql.NullInt64) }, func() any { return new(*float64) },
		func() any { return new(json.RawMessage) }, func() any { return new(namedString) }, func() any { return new(uint64) },
	}
	for _, x := range exprs {
		q := "SELECT " + x
		for _, mk := range dests {
			want, got := mk(), mk()
			var wantErr error
			func() {
				rows, err := e.r.QueryContext(ctx, q)
				must(t, err)
				defer rows.Close()
				if !rows.Next() {
					t.Fatalf("%s: no row", q)
				}
				wantErr = rows.Scan(want)
			}()
			n := 0
			err := e.rq.queryRows(ctx, q, nil, func(r rowScanner) error { n++; return r.Scan(got) })
			if n != 1 {
				t.Fatalf("%s: %d rows through the driver", q, n)
			}
			if (err == nil) != (wantErr == nil) {
				t.Errorf("%s into %T: driver path %v, database/sql %v", q, got, err, wantErr)
				continue
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("%s into %T: driver path %#v, database/sql %#v", q, got, reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem())
			}
		}
	}
	// Arguments are converted as database/sql converts them.
	type myInt int32
	var out string
	must(t, e.rq.queryRows(ctx, "SELECT typeof(?1) || ':' || ?1 || ',' || typeof(?2) || ',' || typeof(?3) || ':' || ?3", []any{myInt(7), []byte("b"), true},
		func(r rowScanner) error { return r.Scan(&out) }))
	if out != "integer:7,blob,integer:1" {
		t.Errorf("arguments read back as %q", out)
	}
	if err := e.rq.queryRows(ctx, "SELECT 1", nil, func(r rowScanner) error { var a, b int; return r.Scan(&a, &b) }); err == nil {
		t.Error("Scan of 1 column into 2 destinations succeeded")
	}
}

// TestDriverQueriesPrepareOnce: Query, Count and List outside transactions
// run their statements through driver statements that each reader
// connection prepares once per text and keeps; the store's Close finalizes
// every one.
func TestDriverQueriesPrepareOnce(t *testing.T) {
	for _, c := range configs[:2] {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			ctx := t.Context()
			in := storage.InNamespace("ix")
			must(t, s.CreateNamespace(ctx, "ix", storage.WithIndexes("n")))
			for i := range 30 {
				must(t, s.Set(ctx, fmt.Sprintf("k%02d", i), map[string]any{"n": i / 3}, in))
			}
			e := s.eng.(*sqliteEngine)
			reads := func() {
				t.Helper()
				for i := range 20 {
					r, err := s.Query(ctx, storage.Eq("n", i%10), in)
					if err != nil || len(r.Entries) != 3 {
						t.Fatalf("Query: %d entries, %v", len(r.Entries), err)
					}
					top, err := s.Query(ctx, storage.And(storage.Gte("n", 2), storage.Lt("n", 8)), in, storage.SortBy(storage.Desc("n")), storage.Limit(4))
					if err != nil || len(top.Entries) != 4 || top.Entries[0].Key != "k21" {
						t.Fatalf("Query sorted: %+v, %v", top.Entries, err)
					}
					n, err := s.Count(ctx, in, storage.Where(storage.Gte("n", 5)))
					if err != nil || n != 15 {
						t.Fatalf("Count: %d, %v", n, err)
					}
					l, err := s.List(ctx, in, storage.Pattern("k1*"))
					if err != nil || len(l.Keys) != 10 {
						t.Fatalf("List: %v, %v", l.Keys, err)
					}
				}
			}
			st := e.reads.stats
			p0 := st.stmtsPrepared.Load()
			reads()
			opened, prepared := st.connsOpened.Load(), st.stmtsPrepared.Load()
			if prepared == p0 {
				t.Fatalf("no driver statement prepared by Query, Count and List (%d before, %d after)", p0, prepared)
			}
			// dyn are the dynamic statements of every idle reader connection.
			dyn := func() (n int) {
				conn, err := e.r.Conn(ctx)
				must(t, err)
				defer conn.Close()
				must(t, conn.Raw(func(dc any) error { n = len(dc.(*readConn).dyn); return nil }))
				return n
			}
			if dyn() == 0 {
				t.Error("a reader connection keeps no dynamic statement")
			}
			reads()
			if got := st.stmtsPrepared.Load(); got != prepared && st.connsOpened.Load() == opened {
				t.Errorf("%d statements prepared after the same reads on the same %d connections, want %d", got, opened, prepared)
			}
			must(t, s.Close())
			checkReadsReleased(t, e)
		})
	}
}

// TestDriverQueriesBounded: a reader connection keeps at most
// maxConnStmts dynamic statements; texts past them take the place of the
// least recently used (finalized), with the same answers, and nothing is
// left unfinalized.
func TestDriverQueriesBounded(t *testing.T) {
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "d.db")+"?readers=1", WithSweepInterval(-1))
	ctx := t.Context()
	e := s.eng.(*sqliteEngine)
	for i := range maxConnStmts + 20 {
		var got int64
		must(t, e.rq.queryRows(ctx, fmt.Sprintf("SELECT %d + ?", i), []any{int64(1)}, func(r rowScanner) error { return r.Scan(&got) }))
		if got != int64(i+1) {
			t.Fatalf("statement %d read %d", i, got)
		}
	}
	conn, err := e.r.Conn(ctx)
	must(t, err)
	must(t, conn.Raw(func(dc any) error {
		if n := len(dc.(*readConn).dyn); n != maxConnStmts {
			t.Errorf("%d dynamic statements kept, want %d", n, maxConnStmts)
		}
		return nil
	}))
	must(t, conn.Close())
	must(t, s.Close())
	checkReadsReleased(t, e)
}

// TestDriverQueriesCancelled: Query, Count and List with an ended context
// fail with its error (as through database/sql), and a statement that
// fails for another reason is finalized and prepared afresh.
func TestDriverQueriesCancelled(t *testing.T) {
	s := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "d.db"), WithSweepInterval(-1))
	ctx := t.Context()
	must(t, s.Set(ctx, "k", map[string]any{"n": 1}))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, qerr := s.Query(cancelled, storage.Eq("n", 1))
	_, cerr := s.Count(cancelled)
	_, lerr := s.List(cancelled)
	for name, err := range map[string]error{"Query": qerr, "Count": cerr, "List": lerr} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
		}
	}
	e := s.eng.(*sqliteEngine)
	// A statement whose step fails (here: a runtime error) is dropped.
	bad := "SELECT json(?)"
	for range 3 {
		if err := e.rq.queryRows(ctx, bad, []any{"{"}, func(rowScanner) error { return nil }); err == nil {
			t.Fatal("json('{') succeeded")
		}
	}
	if r, err := s.Query(ctx, storage.Eq("n", 1)); err != nil || len(r.Entries) != 1 {
		t.Errorf("Query after: %+v %v", r, err)
	}
	must(t, s.Close())
	checkReadsReleased(t, e)
}

// driverValues is every row of a statement run on rc, as strings.
func driverValues(ctx context.Context, rc *readConn, q string, args []driver.NamedValue) ([]string, error) {
	var out []string
	err := rc.readText(ctx, q, args, func(v []driver.Value) error {
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return nil
	})
	return out, err
}
