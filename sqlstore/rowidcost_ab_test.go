package sqlstore

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// TestRowidJoinCost measures, in one process in alternating rounds, the
// CPU time per operation (user and system, the whole process) of two
// SQLite stores holding the same entries of the peers benchmark's shape
// (bench/peers: n = i/10 declared, ~256-byte values):
//
//   - new: the schema of version 21 (entries.entry_id, index rows
//     carrying it) and the statements that join entries by it;
//   - old: the same store with 00021's Down applied by hand (the schema
//     of version 20) and the statements joining entries by key, as before.
//
// The operations: a Query of n = v (10 rows), a Query of lo <= n < lo+100
// sorted by n descending, limit 20 (the statement and the reading of its
// rows, as Query runs them), Get of a key, Set of a key with its value
// (index rows unchanged) and with n changed (index rows rewritten). It
// measures and asserts nothing. Run it with STORAGE_ROWIDCOST=1
// (STORAGE_ROWIDCOST_N entries, default 100000; STORAGE_ROWIDCOST_ROUNDS
// rounds, default 7):
//
//	STORAGE_ROWIDCOST=1 go test -run TestRowidJoinCost -v ./sqlstore
func TestRowidJoinCost(t *testing.T) {
	n, rounds := measureParams(t, "STORAGE_ROWIDCOST", 100000, 7)
	ctx := t.Context()
	dir := t.TempDir()
	in := storage.InNamespace("bench")
	pad := strings.Repeat("x", 216)
	value := func(i, n int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"n":%d,"c":0,"s":"%s"}`, n, pad))
	}
	key := func(i int) string { return fmt.Sprintf("key%09d", i) }
	newS := loadReadCostEngine(t, filepath.Join(dir, "new.db"), n)
	oldS := loadReadCostEngine(t, filepath.Join(dir, "old.db"), n)
	b, err := os.ReadFile("../migrations/sqlite/00021_entries_rowid.sql")
	must(t, err)
	up, down, _ := strings.Cut(string(b), "-- +goose Down")
	_, up, _ = strings.Cut(up, "-- +goose Up")
	strip := strings.NewReplacer("-- +goose StatementBegin\n", "", "-- +goose StatementEnd\n", "").Replace
	// Both stores' tables are rebuilt, so that they are laid out alike:
	// old by 00021's Down, new by its Down and Up.
	for _, x := range []struct {
		s     *Store
		stmts []string
	}{{oldS, []string{down}}, {newS, []string{down, up}}} {
		for _, stmt := range x.stmts {
			if _, err := x.s.eng.writer().exec(ctx, strip(stmt)); err != nil {
				t.Fatalf("00021: %v", err)
			}
		}
	}

	nv := n / 10
	rng := rand.New(rand.NewPCG(1, 2))
	const stmts = 64
	type built struct {
		q     string
		args  []any
		sorts []sortCol
	}
	build := func(s *Store, old bool, f storage.Filter, opts ...storage.Option) built {
		o, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor, append(opts, in))
		must(t, err)
		nsi, err := s.readNamespace(ctx, "bench")
		must(t, err)
		p, err := prepareQuery(f, o)
		must(t, err)
		q, args, sorts, err := s.buildQuery(ctx, &p, o, nsi, s.now())
		must(t, err)
		if old {
			const rowid, byKey = "entry_id = ix.ix_entry", "key = ix.ix_key"
			if !strings.Contains(q, rowid) {
				t.Fatalf("no %q in %s", rowid, q)
			}
			q = strings.Replace(q, rowid, byKey, 1)
		}
		return built{q, args, sorts}
	}
	queries := func(s *Store, old bool, top bool) []built {
		r := rand.New(rand.NewPCG(3, 4)) // the same values for both stores
		var out []built
		for range stmts {
			if top {
				lo := r.IntN(nv - 100)
				out = append(out, build(s, old, storage.And(storage.Gte("n", lo), storage.Lt("n", lo+100)),
					storage.SortBy(storage.Desc("n")), storage.Limit(20)))
			} else {
				out = append(out, build(s, old, storage.Eq("n", r.IntN(nv))))
			}
		}
		return out
	}
	run := func(s *Store, bs []built, want int) func(int) error {
		return func(i int) error {
			x := bs[i%len(bs)]
			rows, _, err := s.queryRows(ctx, x.q, x.args, x.sorts, "bench", 0, nil)
			if err == nil && len(rows) != want {
				err = fmt.Errorf("%d rows, want %d", len(rows), want)
			}
			return err
		}
	}
	get := func(s *Store) func(int) error {
		return func(int) error {
			_, err := s.Get(ctx, key(rng.IntN(n)), in)
			return err
		}
	}
	round := 0
	set := func(s *Store, change bool) func(int) error {
		return func(int) error {
			i := rng.IntN(n)
			v := i / 10
			if change && round%2 == 1 {
				v += nv // out of every query's range
			}
			return s.Set(ctx, key(i), value(i, v), in)
		}
	}
	type variant struct {
		name string
		op   func(int) error
	}
	ops := []struct {
		name     string
		old, new variant
		n        int
	}{
		{"query/eq", variant{"old", run(oldS, queries(oldS, true, false), 10)}, variant{"new", run(newS, queries(newS, false, false), 10)}, 2000},
		{"query/top20", variant{"old", run(oldS, queries(oldS, true, true), 21)}, variant{"new", run(newS, queries(newS, false, true), 21)}, 2000},
		{"get", variant{"old", get(oldS)}, variant{"new", get(newS)}, 5000},
		{"set/same", variant{"old", set(oldS, false)}, variant{"new", set(newS, false)}, 1000},
		{"set/n-changed", variant{"old", set(oldS, true)}, variant{"new", set(newS, true)}, 1000},
	}
	var out strings.Builder
	for _, op := range ops {
		var cpu [2][]float64
		for r := range rounds {
			round = r
			for k := range 2 {
				j := (k + r) % 2 // alternate who goes first
				v := op.old
				if j == 1 {
					v = op.new
				}
				c0 := cpuTime()
				for i := range op.n {
					if err := v.op(i); err != nil {
						t.Fatalf("%s %s: %v", op.name, v.name, err)
					}
				}
				cpu[j] = append(cpu[j], float64(cpuTime()-c0)/float64(op.n))
			}
		}
		var ratios []float64
		for r := range rounds {
			ratios = append(ratios, cpu[1][r]/cpu[0][r])
		}
		slices.Sort(ratios)
		med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] / 1e3 }
		fmt.Fprintf(&out, "\n%-14s CPU/op old %7.1f µs, new %7.1f µs, new/old %.2f (rounds %.2f-%.2f)",
			op.name, med(cpu[0]), med(cpu[1]), ratios[rounds/2], ratios[0], ratios[rounds-1])
	}
	t.Log(out.String())
}
