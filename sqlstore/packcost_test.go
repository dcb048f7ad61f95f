package sqlstore

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// packedV1 is the packed entry column before 2026-12-04 (every integer
// written out, expires_at 0 for none, no comma before the value), and
// unpackEntryV1 its reader: TestPackedColumnCost's baseline.
const packedV1 = "CAST(concat(version, ',', created_at, ',', updated_at, ',', ifnull(expires_at, 0), ',', revision, ',', create_revision, ',', " +
	"CASE WHEN metadata = x'0c' THEN '2,{}' ELSE concat(octet_length(json(metadata)), ',', json(metadata)) END, json(value)) AS TEXT)"

func unpackEntryV1(s string, r *row) error {
	var n [7]int64
	for i := range n {
		var ok bool
		if n[i], s, ok = packedInt(s); !ok {
			return errPacked
		}
	}
	mdLen := n[6]
	if mdLen < 0 || mdLen > int64(len(s)) {
		return errPacked
	}
	b := textBytes(s)
	r.Metadata, r.Value = b[:mdLen:mdLen], b[mdLen:]
	r.Version, r.CreatedAt, r.UpdatedAt = n[0], fromMicros(n[1]), fromMicros(n[2])
	if n[3] != 0 {
		r.ExpiresAt = fromMicros(n[3])
	}
	r.Revision, r.CreateRevision = n[4], n[5]
	return nil
}

// TestPackedColumnCost measures, in one process in rotating rounds, the
// CPU per statement of Query's SQLite statements with the packed entry
// column as it is (EntryColumns) and as it was (packedV1: every integer
// written out), each read as queryRows reads it (the reader pool's driver
// path, unpackEntry or unpackEntryV1): Query(Eq(n)) (10 rows), the top20
// of TestReadCostVsRaw (21 rows) and 200 rows of entries in rowid order
// (the per-row cost alone). The two read the same rows in each round. It
// checks that both give the same entries, reports each one's median CPU
// and the median of the per-round ratios new/old, and asserts nothing
// else. Run it with STORAGE_READCOST=1 (STORAGE_READCOST_N,
// STORAGE_READCOST_ROUNDS as TestReadCostVsRaw):
//
//	STORAGE_READCOST=1 go test -run TestPackedColumnCost -v ./sqlstore
func TestPackedColumnCost(t *testing.T) {
	n, rounds := measureParams(t, "STORAGE_READCOST", 100000, 9)
	ctx := t.Context()
	s := loadReadCostEngine(t, filepath.Join(t.TempDir(), "engine.db"), n)
	nsi, err := s.readNamespace(ctx, "bench")
	must(t, err)
	build := func(f storage.Filter, opts ...storage.Option) (string, []any) {
		o, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor,
			append([]storage.Option{storage.InNamespace("bench")}, opts...))
		must(t, err)
		p, err := prepareQuery(f, o)
		must(t, err)
		q, args, _, err := s.buildQuery(ctx, &p, o, nsi, s.now())
		must(t, err)
		return q, args
	}
	packed := sqliteCompiler.EntryColumns()[1]
	eq, eqArgs := build(storage.Eq("n", 1))
	top, topArgs := build(storage.And(storage.Gte("n", 1), storage.Lt("n", 101)), storage.SortBy(storage.Desc("n")), storage.Limit(20))
	names := []string{"new", "old"}
	decs := []func(string, *row) error{unpackEntry, unpackEntryV1}
	rd := s.eng.reader()
	nv := n / 10
	for _, shape := range []struct {
		name string
		q    string
		args func(lo int) []any
		rows int
		ops  int
	}{
		{"query/eq", eq, func(lo int) []any { return []any{float64(lo), eqArgs[1]} }, 10, 500},
		{"query/top20", top, func(lo int) []any { return []any{float64(lo), float64(lo + 100), topArgs[2]} }, 21, 300},
		{"scan200", "SELECT key, " + packed + " FROM entries WHERE entry_id >= ? ORDER BY entry_id LIMIT 200",
			func(lo int) []any { return []any{int64(lo*10 + 1)} }, 200, 40},
	} {
		if !strings.Contains(shape.q, packed) {
			t.Fatalf("%s: no packed column: %s", shape.name, shape.q)
		}
		qs := []string{shape.q, strings.Replace(shape.q, packed, packedV1, 1)}
		sortCol := strings.Contains(shape.q, ", ix.ix_num FROM")
		run := func(i int, args []any) []storage.Entry {
			out := make([]storage.Entry, 0, shape.rows)
			var key, p string
			var sv any
			dest := []any{&key, &p}
			if sortCol {
				dest = append(dest, &sv)
			}
			var r row
			must(t, rd.queryRows(ctx, qs[i], args, func(rs rowScanner) error {
				if err := rs.Scan(dest...); err != nil {
					return err
				}
				r = row{}
				if err := decs[i](p, &r); err != nil {
					return err
				}
				out = append(out, storage.Entry{Key: key, Value: r.Value, Metadata: r.Metadata, Version: r.Version,
					CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, ExpiresAt: r.ExpiresAt, Revision: r.Revision, CreateRevision: r.CreateRevision})
				return nil
			}))
			if len(out) != shape.rows {
				t.Fatalf("%s %s: %d rows, want %d", shape.name, names[i], len(out), shape.rows)
			}
			return out
		}
		a, b := run(0, shape.args(1)), run(1, shape.args(1))
		for j := range a {
			x, y := a[j], b[j]
			if x.Key != y.Key || string(x.Value) != string(y.Value) || string(x.Metadata) != string(y.Metadata) || x.Version != y.Version ||
				!x.CreatedAt.Equal(y.CreatedAt) || !x.UpdatedAt.Equal(y.UpdatedAt) || x.ExpiresAt != y.ExpiresAt ||
				x.Revision != y.Revision || x.CreateRevision != y.CreateRevision {
				t.Fatalf("%s row %d: new %+v, old %+v", shape.name, j, x, y)
			}
		}
		// Both read the same sequence of ranges in a round.
		var seq [2]int
		var rng [2]*rand.Rand
		t.Log(shape.name, partsRounds(names, rounds, shape.ops, func(i int) {
			if seq[i]%shape.ops == 0 {
				rng[i] = rand.New(rand.NewPCG(7, uint64(seq[i]/shape.ops)))
			}
			seq[i]++
			run(i, shape.args(rng[i].IntN(nv-100)))
		}))
	}
}
