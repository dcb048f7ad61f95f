package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// pointReads is what Get, Has and GetMany answer for keys in namespace ns
// of ops: per key its value (a JSON text), or "-" when Get fails with
// ErrNotFound and Has is false; GetMany's answer must be the same. Any
// other outcome fails the test.
func pointReads(t *testing.T, ctx context.Context, x storage.Ops, ns string, keys ...string) map[string]string {
	t.Helper()
	in := storage.InNamespace(ns)
	got := map[string]string{}
	for _, k := range keys {
		e, err := x.Get(ctx, k, in)
		has, herr := x.Has(ctx, k, in)
		switch {
		case err == nil && herr == nil && has:
			got[k] = string(e.Value)
		case errors.Is(err, storage.ErrNotFound) && herr == nil && !has:
			got[k] = "-"
		default:
			t.Fatalf("%s/%s: Get = %s, %v; Has = %v, %v", ns, k, e.Value, err, has, herr)
		}
	}
	res, err := x.GetMany(ctx, keys, in)
	if err != nil {
		t.Fatalf("%s: GetMany: %v", ns, err)
	}
	many := map[string]string{}
	for _, k := range keys {
		if e, ok := res.Entries[k]; ok {
			many[k] = string(e.Value)
		} else if errors.Is(res.Errors[k], storage.ErrNotFound) {
			many[k] = "-"
		} else {
			t.Fatalf("%s/%s: GetMany: %v", ns, k, res.Errors[k])
		}
	}
	if !maps.Equal(many, got) {
		t.Fatalf("%s: GetMany answers %v, Get and Has %v", ns, many, got)
	}
	return got
}

// twoStores opens two Stores on one new database of c, closed when the
// test ends.
func twoStores(t *testing.T, c testConfig) (a, b *Store) {
	t.Helper()
	dsn := c.dsn(t)
	a, b = openTest(t, dsn), openTest(t, dsn)
	t.Cleanup(func() { _, _ = a.Close(), b.Close() })
	return a, b
}

func wantReads(t *testing.T, when string, got map[string]string, want ...string) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(got))
	var s []string
	for _, k := range keys {
		s = append(s, k+"="+got[k])
	}
	if !slices.Equal(s, want) {
		t.Errorf("%s: %v, want %v", when, s, want)
	}
}

// TestPointReadsStaleID: Get, Has and GetMany name the namespace by name
// (on PostgreSQL, Has named it by the id the Store cached until
// 2026-12-05, bench/results/2026-12-05-pgids.md), but a point read by a
// cached id is a change that this test is for. A Store whose cache holds
// the id of a namespace that another Store on the same database deleted,
// or deleted and created again, answers Get, Has and GetMany as a Store
// with no cache does: not found for the deleted namespace, and the new
// namespace's entries, never the old one's (a key only the old namespace
// had is not found).
func TestPointReadsStaleID(t *testing.T) {
	for _, c := range configs {
		if c.name == "sqlite-memory" { // one handle per memory database
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			a, b := twoStores(t, c)
			set := func(s *Store, ns string, kv ...string) {
				t.Helper()
				for i := 0; i < len(kv); i += 2 {
					must(t, s.Set(ctx, kv[i], json.RawMessage(kv[i+1]), storage.InNamespace(ns)))
				}
			}
			keys := []string{"k0", "k1", "k2"}
			// cached makes a's cache hold x's current id, and checks it.
			cached := func() int64 {
				t.Helper()
				n, err := a.readNamespace(ctx, "x")
				must(t, err)
				if got, ok := a.nsIDs.get("x"); !ok || got.id != n.id || n.id == 0 {
					t.Fatalf("a's cache: %v %v, want x's id %d", got, ok, n.id)
				}
				return n.id
			}
			stale := func(old int64) {
				t.Helper()
				if got, ok := a.nsIDs.get("x"); !ok || got.id != old {
					t.Fatalf("a's cache: %v %v, want the stale id %d", got, ok, old)
				}
			}
			set(a, "x", "k0", `"a0"`, "k1", `"a1"`)
			set(a, "y", "k0", `"y0"`, "k2", `"y2"`) // another namespace, other keys
			wantReads(t, "first", pointReads(t, ctx, a, "x", keys...), "k0=\"a0\"", "k1=\"a1\"", "k2=-")

			// Deleted by b: not found, however often asked.
			old := cached()
			must(t, b.DeleteNamespace(ctx, "x", storage.Recursive()))
			stale(old)
			for i := range 2 {
				wantReads(t, fmt.Sprintf("deleted by another store (%d)", i), pointReads(t, ctx, a, "x", keys...), "k0=-", "k1=-", "k2=-")
			}
			// Each read alone on a stale id, Get and Has apart.
			for _, read := range []string{"get", "has", "getMany"} {
				set(b, "x", "k0", `"b0"`)
				old = cached()
				must(t, b.DeleteNamespace(ctx, "x", storage.Recursive()))
				stale(old)
				var err error
				var has bool
				switch read {
				case "get":
					_, err = a.Get(ctx, "k0", storage.InNamespace("x"))
				case "has":
					has, err = a.Has(ctx, "k0", storage.InNamespace("x"))
					if err == nil && !has {
						err = storage.ErrNotFound
					}
				case "getMany":
					res, gerr := a.GetMany(ctx, []string{"k0"}, storage.InNamespace("x"))
					err = errors.Join(gerr, res.Errors["k0"])
				}
				if !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("%s of a deleted namespace by a stale id: %v (has %v), want ErrNotFound", read, err, has)
				}
			}

			// Deleted and created again by b, with other entries: the new
			// namespace's, never the old one's.
			set(b, "x", "k0", `"b0"`, "k1", `"b1"`)
			wantReads(t, "created by another store", pointReads(t, ctx, a, "x", keys...), "k0=\"b0\"", "k1=\"b1\"", "k2=-")
			for i, kv := range [][]string{
				{"k0", `"c0"`, "k2", `"c2"`}, // k1 only in the old namespace
				{"k1", `"d1"`},
				{},
			} {
				old = cached()
				must(t, b.DeleteNamespace(ctx, "x", storage.Recursive()))
				must(t, b.CreateNamespace(ctx, "x"))
				set(b, "x", kv...)
				stale(old)
				want := map[string]string{"k0": "-", "k1": "-", "k2": "-"}
				for j := 0; j < len(kv); j += 2 {
					want[kv[j]] = kv[j+1]
				}
				var ws []string
				for _, k := range keys {
					ws = append(ws, k+"="+want[k])
				}
				// Get alone first (the first read after the re-creation
				// meets the stale id), then every read.
				e, err := a.Get(ctx, "k1", storage.InNamespace("x"))
				if w := want["k1"]; w == "-" && !errors.Is(err, storage.ErrNotFound) || w != "-" && (err != nil || string(e.Value) != w) {
					t.Errorf("created again (%d): Get k1 = %s, %v; want %s", i, e.Value, err, w)
				}
				wantReads(t, fmt.Sprintf("created again (%d)", i), pointReads(t, ctx, a, "x", keys...), ws...)
				// Has alone on a stale id.
				old = cached()
				must(t, b.DeleteNamespace(ctx, "x", storage.Recursive()))
				set(b, "x", kv...)
				stale(old)
				has, err := a.Has(ctx, "k1", storage.InNamespace("x"))
				if err != nil || has != (want["k1"] != "-") {
					t.Errorf("created again (%d): Has k1 = %v, %v; want %v", i, has, err, want["k1"] != "-")
				}
			}
			// The other namespace was never touched.
			wantReads(t, "y", pointReads(t, ctx, a, "y", keys...), "k0=\"y0\"", "k1=-", "k2=\"y2\"")
		})
	}
}

// TestPointReadsStaleIDInTx: the reads of TestPointReadsStaleID inside
// transactions, where the namespace the Store's cache names may not be the
// one the transaction's snapshot sees: a namespace created inside the
// transaction (its id cached in the transaction, then rolled back), and, on PostgreSQL at
// repeatable read and serializable, a namespace deleted, or deleted and
// created again, by another Store after the transaction's snapshot, while
// the cache learned the new id: the transaction reads its snapshot's
// entries, as by the namespace's name; at read committed, the latest.
func TestPointReadsStaleIDInTx(t *testing.T) {
	for _, c := range configs {
		if c.name == "sqlite-memory" {
			continue
		}
		t.Run(c.name+"/created in tx", func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			for _, level := range []storage.IsolationLevel{storage.LevelReadCommitted, storage.LevelRepeatableRead, storage.LevelSerializable} {
				ns := fmt.Sprintf("t%d", level)
				tx, err := s.Begin(ctx, storage.TxOptions{Isolation: level})
				must(t, err)
				wantReads(t, "in tx, before", pointReads(t, ctx, tx, ns, "k0", "k1"), "k0=-", "k1=-")
				must(t, tx.Set(ctx, "k0", 1, storage.InNamespace(ns)))
				wantReads(t, "in tx, created", pointReads(t, ctx, tx, ns, "k0", "k1"), "k0=1", "k1=-")
				if n, ok := s.nsIDs.get(ns); ok {
					t.Fatalf("the Store's cache holds %s's id %v, created in the transaction", ns, n)
				}
				must(t, tx.Rollback(ctx))
				wantReads(t, "after the rollback", pointReads(t, ctx, s, ns, "k0", "k1"), "k0=-", "k1=-")
				// Created again after the rollback, outside.
				must(t, s.Set(ctx, "k1", 2, storage.InNamespace(ns)))
				wantReads(t, "created after the rollback", pointReads(t, ctx, s, ns, "k0", "k1"), "k0=-", "k1=2")
			}
		})
		if c.name != "postgres" {
			continue // SQLite runs one write transaction at a time: no snapshot older than another store's write
		}
		for _, level := range []storage.IsolationLevel{storage.LevelReadCommitted, storage.LevelRepeatableRead, storage.LevelSerializable} {
			t.Run(c.name+"/snapshot/"+level.String(), func(t *testing.T) {
				ctx := t.Context()
				a, b := twoStores(t, c)
				in := storage.InNamespace("x")
				must(t, a.Set(ctx, "k0", "a0", in))
				must(t, a.Set(ctx, "k1", "a1", in))
				for _, recreate := range []bool{false, true} {
					tx, err := a.Begin(ctx, storage.TxOptions{Isolation: level, ReadOnly: true})
					must(t, err)
					wantReads(t, "in tx, before", pointReads(t, ctx, tx, "x", "k0", "k1", "k2"), `k0="a0"`, `k1="a1"`, "k2=-")
					old, _ := a.nsIDs.get("x")
					must(t, b.DeleteNamespace(ctx, "x", storage.Recursive()))
					want := []string{"k0=-", "k1=-", "k2=-"}
					if recreate {
						must(t, b.Set(ctx, "k0", "b0", in))
						must(t, b.Set(ctx, "k2", "b2", in))
						want = []string{`k0="b0"`, "k1=-", `k2="b2"`}
					}
					// a's cache learns x's new id (or that it is missing)
					// outside the transaction, as a Query or a Count reads
					// it (the point reads name the namespace by name).
					wantReads(t, "outside", pointReads(t, ctx, a, "x", "k0", "k1", "k2"), want...)
					_, err = a.readNamespace(ctx, "x")
					must(t, err)
					if n, ok := a.nsIDs.get("x"); recreate && (!ok || n.id == old.id) {
						t.Fatalf("a's cache: %v %v, want x's new id", n, ok)
					}
					inTx := want
					if level != storage.LevelReadCommitted {
						inTx = []string{`k0="a0"`, `k1="a1"`, "k2=-"} // the snapshot's
					}
					wantReads(t, fmt.Sprintf("in tx, recreated %v", recreate), pointReads(t, ctx, tx, "x", "k0", "k1", "k2"), inTx...)
					must(t, tx.Rollback(ctx))
					wantReads(t, "outside, after", pointReads(t, ctx, a, "x", "k0", "k1", "k2"), want...)
					// Back to x with a0 and a1 for the next round.
					if err := b.DeleteNamespace(ctx, "x", storage.Recursive()); err != nil && !errors.Is(err, storage.ErrNamespaceNotFound) {
						t.Fatal(err)
					}
					must(t, b.Set(ctx, "k0", "a0", in))
					must(t, b.Set(ctx, "k1", "a1", in))
				}
			})
		}
	}
}

// TestNamespaceIDFromRolledBackTx: a namespace created inside a
// transaction that rolls back leaves no id in the Store's cache. On SQLite
// its id came from a counter that rolls back with it, and the next
// namespace created takes the same id: a cached id of the rolled-back name
// made Count and Query on it (a name that no longer exists) answer with the
// other namespace's entries.
func TestNamespaceIDFromRolledBackTx(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			gone, fresh := storage.InNamespace("gone"), storage.InNamespace("fresh")
			tx, err := s.Begin(ctx, storage.TxOptions{})
			must(t, err)
			must(t, tx.Set(ctx, "k", map[string]any{"v": 1}, gone))
			if n, err := tx.Count(ctx, gone); err != nil || n != 1 {
				t.Fatalf("Count in tx = %d, %v; want 1", n, err)
			}
			if r, err := tx.Query(ctx, storage.Eq("v", 1), gone); err != nil || len(r.Entries) != 1 {
				t.Fatalf("Query in tx = %v, %v; want 1 entry", r.Entries, err)
			}
			if has, err := tx.Has(ctx, "k", gone); err != nil || !has {
				t.Fatalf("Has in tx = %v, %v; want true", has, err)
			}
			must(t, tx.Rollback(ctx))
			if n, ok := s.nsIDs.get("gone"); ok {
				t.Errorf("the Store's cache holds %v for a namespace created in a rolled-back transaction", n)
			}
			must(t, s.Set(ctx, "k", map[string]any{"v": 1}, fresh))
			if n, err := s.Count(ctx, gone); err != nil || n != 0 {
				t.Errorf("Count of the rolled-back namespace = %d, %v; want 0", n, err)
			}
			if r, err := s.Query(ctx, storage.Eq("v", 1), gone); err != nil || len(r.Entries) != 0 {
				t.Errorf("Query of the rolled-back namespace = %d entries, %v; want none", len(r.Entries), err)
			}
			if has, err := s.Has(ctx, "k", gone); err != nil || has {
				t.Errorf("Has of the rolled-back namespace = %v, %v; want false", has, err)
			}
			if n, err := s.Count(ctx, fresh); err != nil || n != 1 {
				t.Errorf("Count of fresh = %d, %v; want 1", n, err)
			}
		})
	}
}
