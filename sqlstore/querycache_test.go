package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// dialectEngine is an engine that only names its dialect: enough for the
// statement builders, which never touch the database.
type dialectEngine struct {
	engine
	d dialect.Dialect
}

func (e dialectEngine) dialect() dialect.Dialect { return e.d }

// builderStore is a Store that can only build statements, of dialect
// name, with a query cache of n statements (0: off).
func builderStore(t *testing.T, name dialect.Name, n int) *Store {
	d, err := dialect.ForName(name)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{eng: dialectEngine{d: d}, qcache: newQueryCache(n)}
	s.cfg.now = func() time.Time { return time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC) }
	s.ops = ops{s: s, sc: storeScope{s}}
	return s
}

// mutate returns f with other values: usually of the same kind (so that
// the shape often stays and the cache serves the statement with other
// values), sometimes any value the generator makes.
func (g *docGen) mutate(f storage.Filter) storage.Filter {
	switch {
	case f.Not != nil:
		n := g.mutate(*f.Not)
		f.Not = &n
		return f
	case f.And != nil || f.Or != nil:
		and, or := make([]storage.Filter, len(f.And)), make([]storage.Filter, len(f.Or))
		for i, c := range f.And {
			and[i] = g.mutate(c)
		}
		for i, c := range f.Or {
			or[i] = g.mutate(c)
		}
		if f.And != nil {
			f.And = and
		}
		if f.Or != nil {
			f.Or = or
		}
		return f
	}
	if f.Op == storage.OpExists {
		return f
	}
	if g.r.IntN(5) == 0 {
		f.Value = g.filterValue(f.Op)
		return f
	}
	if vs, ok := f.Value.([]any); ok {
		out := make([]any, len(vs))
		for i, v := range vs {
			out[i] = g.likeValue(v)
		}
		f.Value = out
		return f
	}
	f.Value = g.likeValue(f.Value)
	return f
}

// likeValue is a random value of v's kind.
func (g *docGen) likeValue(v any) any {
	switch v.(type) {
	case string:
		return g.pick(genStrings)
	case json.Number, float64, int:
		return json.Number(g.pick(genNumbers))
	case bool:
		return g.r.IntN(2) == 0
	case time.Time:
		return g.time()
	}
	return v
}

// time is a random instant, on a microsecond or not.
func (g *docGen) time() time.Time {
	ns := g.r.IntN(1000) * 1000
	if g.r.IntN(2) == 0 {
		ns += 1 + g.r.IntN(999)
	}
	return time.Unix(1_700_000_000+int64(g.r.IntN(1000)), int64(ns)).UTC()
}

// cacheFilter is the differential generator's filter, now and then with a
// comparison on a time field (which that generator does not make).
func (g *docGen) cacheFilter() storage.Filter {
	if g.r.IntN(8) != 0 {
		return g.filter(0)
	}
	field := []string{"$createdAt", "$updatedAt"}[g.r.IntN(2)]
	ops := []storage.Operator{storage.OpEq, storage.OpNe, storage.OpGt, storage.OpGte, storage.OpLt, storage.OpLte, storage.OpIn, storage.OpNin}
	op := ops[g.r.IntN(len(ops))]
	if op == storage.OpIn || op == storage.OpNin {
		vs := make([]any, g.r.IntN(4))
		for i := range vs {
			vs[i] = g.time()
		}
		return storage.Filter{Field: field, Op: op, Value: vs}
	}
	return storage.And(storage.Filter{Field: field, Op: op, Value: g.time()}, g.filter(1))
}

// cacheOptions are random options of Query: sort, limit, offset, key
// ranges.
func (g *docGen) cacheOptions() []storage.Option {
	opts := []storage.Option{storage.InNamespace([]string{"default", "other"}[g.r.IntN(2)])}
	if s := g.sort(); s != nil {
		opts = append(opts, storage.SortBy(s...))
	}
	if g.r.IntN(2) == 0 {
		opts = append(opts, storage.Limit(g.r.IntN(30)))
	}
	if g.r.IntN(5) == 0 {
		opts = append(opts, storage.Offset(g.r.IntN(5)))
	}
	if g.r.IntN(5) == 0 {
		var rs []storage.KeyRange
		for range g.r.IntN(3) {
			from := g.key(g.r.IntN(250))
			r := storage.KeyRange{From: from}
			if g.r.IntN(2) == 0 {
				r.To = from + "~"
			}
			if g.r.IntN(4) == 0 {
				r.From = ""
			}
			rs = append(rs, r)
		}
		opts = append(opts, storage.InKeyRanges(rs...))
	}
	return opts
}

// cacheCursor is a random position for the sort of o: a cursor that
// Query accepts or, now and then, refuses.
func (g *docGen) cacheCursor(f storage.Filter, o driver.CallOptions) string {
	hash, err := queryHash(f, o)
	if err != nil {
		return ""
	}
	cur := cursor{Op: "query", Hash: hash, Key: g.key(g.r.IntN(250))}
	for range o.SortFields {
		v := sortValue{Rank: int64(g.r.IntN(8)), Int: int64(g.r.IntN(5))}
		if g.r.IntN(3) != 0 {
			v.Rank = int64(dialect.RankNumber + g.r.IntN(2))
		}
		v.Num = g.pick(genNumbers)
		if g.r.IntN(10) == 0 {
			v.Num = "x"
		}
		if g.r.IntN(8) != 0 {
			s := g.pick(genStrings)
			v.Str = &s
		}
		cur.Vals = append(cur.Vals, v)
	}
	return encodeCursor(cur)
}

// TestQueryCacheSameStatements checks, for thousands of random calls of
// the differential generator (filters, sorts, limits, offsets, key
// ranges, cursors, namespaces with and without declared indexes), on both
// dialects, that Query's and Count's statements through the query cache
// (cold, warm, and warm with other values of the same shape) are exactly
// the SQL and parameters the compiler writes without it; and that the
// cache did serve calls with other values.
func TestQueryCacheSameStatements(t *testing.T) {
	cases := 4000
	if testing.Short() || raceEnabled {
		cases = 600
	}
	nsis := []nsInfo{
		{id: 3, fields: map[string]int64{"a": 1, "s": 2, "o.x": 3, "arr.0": 4, "$metadata.m": 5, "n": 6}},
		{id: 3},
		{id: 4, fields: map[string]int64{"s": 7}},
		{id: 0},
	}
	for i := range nsis {
		if nsis[i].fields != nil && i%2 == 0 {
			nsis[i].sig = fieldsSignature(nsis[i].fields) // as readNamespace; the others compute it
		}
	}
	now := time.Date(2026, 12, 2, 1, 0, 0, 123000, time.UTC)
	for _, name := range []dialect.Name{dialect.SQLite, dialect.Postgres} {
		t.Run(string(name), func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			g := &docGen{r: rand.New(rand.NewPCG(seed, 7))}
			cached, plain := builderStore(t, name, 256), builderStore(t, name, 0)
			var otherValues int
			for c := range cases {
				base := g.cacheFilter()
				opts := g.cacheOptions()
				nsi := nsis[g.r.IntN(len(nsis))]
				curs := g.r.IntN(4) == 0
				for v := range 4 {
					f := base
					if v > 0 {
						f = g.mutate(base)
					}
					what := fmt.Sprintf("case %d.%d: filter %s, options %v, ns %+v", c, v, mustJSON(f), opts, nsi)
					before := cached.QueryCacheStats()
					o, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindOffset|driver.KindCursor|driver.KindKeyRanges, opts)
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					if curs {
						o.Cursor = g.cacheCursor(f, o)
					}
					p, perr := prepareQuery(f, o)
					if perr == nil {
						sameStatement(t, what+" (probe)", func(s *Store) (string, []any, []sortCol, error) {
							k := s.newStmtKey('Q', p.e, o, nsi, now)
							defer k.release()
							k.query(s.compiler(), p, o)
							q, args, err := s.probeQuery(k, p, o, nsi, driveRowsMin)
							return q, args, nil, err
						}, cached, plain)
						// These stores run no statement: the probe's
						// outcome is drawn, so that both statements
						// are compared.
						p.decided, p.byFilter = true, g.r.IntN(2) == 0
						sameStatement(t, what+" (query)", func(s *Store) (string, []any, []sortCol, error) { return s.buildQuery(t.Context(), &p, o, nsi, now) }, cached, plain)
					}
					co, err := driver.ResolveOptions("count", driver.KindNamespace|driver.KindFilter|driver.KindKeyRanges, append(opts[:1:1], storage.Where(f)))
					if err == nil {
						sameStatement(t, what+" (count)", func(s *Store) (string, []any, []sortCol, error) {
							q, args, err := s.countStatement(co, nsi, now)
							return q, args, nil, err
						}, cached, plain)
					}
					if after := cached.QueryCacheStats(); v > 0 && after.Hits > before.Hits {
						otherValues++
					}
				}
			}
			st := cached.QueryCacheStats()
			t.Logf("%d cases: %+v, %d calls with other values served from the cache", cases, st, otherValues)
			if otherValues < cases/4 || st.Entries > 256 {
				t.Errorf("the cache served %d calls with other values (want >= %d), holds %d", otherValues, cases/4, st.Entries)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sameStatement requires build to give the same statement (or the same
// error) on the cached store, twice, as on the plain one.
func sameStatement(t *testing.T, what string, build func(*Store) (string, []any, []sortCol, error), cached, plain *Store) {
	t.Helper()
	wq, wargs, wsorts, werr := build(plain)
	for range 2 {
		q, args, sorts, err := build(cached)
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("%s: error %v, want %v", what, err, werr)
		}
		if q != wq {
			t.Fatalf("%s: SQL\n%s\nwant\n%s", what, q, wq)
		}
		if !reflect.DeepEqual(args, wargs) {
			t.Fatalf("%s: SQL %s\nargs %#v\nwant %#v", what, q, args, wargs)
		}
		if !reflect.DeepEqual(sorts, wsorts) {
			t.Fatalf("%s: sorts %+v, want %+v", what, sorts, wsorts)
		}
	}
}

// TestQueryCacheValueDecisions checks calls whose values change what the
// compiler writes (a string that fits the indexed prefix on PostgreSQL or
// not, in-lists of other lengths, startsWith with an empty prefix or one
// without an upper bound, a time on a microsecond or not, two equal
// values or not): each is a miss, and its statement is the compiler's.
func TestQueryCacheValueDecisions(t *testing.T) {
	nsi := nsInfo{id: 1, fields: map[string]int64{"s": 1, "n": 2}}
	now := time.Now().UTC().Truncate(time.Microsecond)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	// Each group's filters have one shape but for their values; decides
	// says on which dialects the values change the SQL.
	type group struct {
		decides []dialect.Name
		fs      []storage.Filter
	}
	both := []dialect.Name{dialect.SQLite, dialect.Postgres}
	groups := []group{
		{[]dialect.Name{dialect.Postgres}, []storage.Filter{storage.Eq("s", strings.Repeat("a", 255)), storage.Eq("s", strings.Repeat("b", 256)), storage.Eq("s", strings.Repeat("c", 300))}},
		{[]dialect.Name{dialect.Postgres}, []storage.Filter{storage.In("s", "x", strings.Repeat("b", 300)), storage.In("s", "x", "y")}},
		{nil, []storage.Filter{storage.Gte("s", strings.Repeat("a", 255)), storage.Gte("s", strings.Repeat("b", 300))}},
		{both, []storage.Filter{storage.In("n", 1), storage.In("n", 1, 2), storage.In("n", 1, 2, 3), storage.In("n", 1, "x"), storage.In("n", nil, true, false)}},
		{both, []storage.Filter{storage.StartsWith("s", ""), storage.StartsWith("s", "a"), storage.StartsWith("s", "\U0010FFFF"), storage.StartsWith("s", strings.Repeat("é", 300))}},
		{both, []storage.Filter{storage.StartsWith("$key", ""), storage.StartsWith("$key", "k"), storage.StartsWith("$key", "\U0010FFFF\U0010FFFF")}},
		{both, []storage.Filter{storage.Eq("$createdAt", t0), storage.Eq("$createdAt", t0.Add(1))}},
		{both, []storage.Filter{storage.Gt("$updatedAt", t0), storage.Gt("$updatedAt", t0.Add(999))}},
		{both, []storage.Filter{storage.In("$updatedAt", t0, t0.Add(1)), storage.In("$updatedAt", t0, t0)}},
		{nil, []storage.Filter{storage.And(storage.Gte("n", 1), storage.Gte("n", 1)), storage.And(storage.Gte("n", 1), storage.Gte("n", 2))}},
		{both, []storage.Filter{storage.Eq("b", true), storage.Eq("b", false), storage.Eq("b", nil)}},
	}
	for _, name := range []dialect.Name{dialect.SQLite, dialect.Postgres} {
		t.Run(string(name), func(t *testing.T) {
			cached, plain := builderStore(t, name, 100), builderStore(t, name, 0)
			for _, g := range groups {
				seen := map[string]bool{}
				for _, f := range g.fs {
					o, err := driver.ResolveOptions("count", driver.KindNamespace|driver.KindFilter, []storage.Option{storage.Where(f)})
					if err != nil {
						t.Fatal(err)
					}
					build := func(s *Store) (string, []any, []sortCol, error) {
						q, args, err := s.countStatement(o, nsi, now)
						return q, args, nil, err
					}
					q, _, _, _ := build(plain)
					before := cached.QueryCacheStats()
					sameStatement(t, mustJSON(f), build, cached, plain)
					after := cached.QueryCacheStats()
					// SQL not seen before must be a miss (else the
					// cache served another statement); then a hit.
					if !seen[q] && after.Misses != before.Misses+1 || after.Hits < before.Hits+1 {
						t.Errorf("%s: %+v then %+v: want a miss for new SQL, then a hit", mustJSON(f), before, after)
					}
					seen[q] = true
				}
				if slices.Contains(g.decides, name) != (len(seen) > 1) {
					t.Errorf("group %s: %d statements; values decide: %v", mustJSON(g.fs), len(seen), slices.Contains(g.decides, name))
				}
			}
		})
	}
}

// TestQueryCacheCounts checks the hit and miss counts, the bound, and
// that WithQueryCache(0) turns the cache off, on a store.
func TestQueryCacheCounts(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, "sqlite::memory:", WithQueryCache(2))
	defer s.Close()
	for i := range 10 {
		if err := s.Set(ctx, fmt.Sprintf("k%d", i), map[string]any{"n": i, "s": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(hits, misses uint64, entries int) {
		t.Helper()
		if st := s.QueryCacheStats(); st.Hits != hits || st.Misses != misses || st.Entries != entries || st.Capacity != 2 {
			t.Fatalf("stats %+v, want %d hits, %d misses, %d entries", st, hits, misses, entries)
		}
	}
	want(0, 0, 0)
	for i := range 3 {
		n, err := s.Count(ctx, storage.Where(storage.Gte("n", i)))
		if err != nil || n != int64(10-i) {
			t.Fatalf("Count(n >= %d) = %d, %v", i, n, err)
		}
	}
	want(2, 1, 1)
	res, err := s.Query(ctx, storage.Eq("s", "3"))
	if err != nil || len(res.Entries) != 1 || res.Entries[0].Key != "k3" {
		t.Fatalf("Query: %+v, %v", res, err)
	}
	want(2, 2, 2)
	if _, err := s.Query(ctx, storage.Eq("s", "4"), storage.Limit(1)); err != nil { // another shape: the Count is evicted
		t.Fatal(err)
	}
	want(2, 3, 2)
	if _, err := s.Count(ctx, storage.Where(storage.Gte("n", 5))); err != nil {
		t.Fatal(err)
	}
	want(2, 4, 2)
	if n, err := s.Count(ctx, storage.Where(storage.Eq("n", "x")), storage.InNamespace("nope")); err != nil || n != 0 {
		t.Fatalf("Count on a missing namespace: %d, %v", n, err)
	}
	// A statement longer than maxCachedStatement is built, not kept.
	long := []storage.KeyRange{{From: "k", To: "l"}}
	for i := range 900 { // SQLite refuses an expression deeper than 1000
		long = append(long, storage.KeyRange{From: fmt.Sprintf("m%04d", i), To: fmt.Sprintf("m%04d~", i)})
	}
	for range 2 {
		if n, err := s.Count(ctx, storage.Where(storage.Gte("n", 0)), storage.InKeyRanges(long...)); err != nil || n != 10 {
			t.Fatalf("Count over 901 key ranges = %d, %v", n, err)
		}
	}
	want(2, 7, 2) // the namespace that is missing, and the long statement twice
	if _, err := s.Count(ctx, storage.Where(storage.Filter{Field: "n", Op: storage.OpStartsWith, Value: 3})); !errors.Is(err, storage.ErrInvalidFilter) {
		t.Fatalf("Count with an invalid filter: %v", err)
	}

	off := openTest(t, "sqlite::memory:", WithQueryCache(0))
	defer off.Close()
	if err := off.Set(ctx, "k", map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if n, err := off.Count(ctx, storage.Where(storage.Eq("n", 1))); err != nil || n != 1 {
			t.Fatalf("Count = %d, %v", n, err)
		}
	}
	if st := off.QueryCacheStats(); st != (QueryCacheStats{}) {
		t.Fatalf("stats of a store without the cache: %+v", st)
	}
	if _, err := Open(ctx, "sqlite::memory:", WithQueryCache(-1)); err == nil {
		t.Fatal("WithQueryCache(-1) accepted")
	}
}

// TestQueryCacheIndexChanges checks that the statements of a namespace
// follow its declared indexes (CreateIndex, DropIndex, the namespace
// dropped and re-created with others), on each configured dialect: the
// answers stay right and each change makes new statements (misses).
func TestQueryCacheIndexChanges(t *testing.T) {
	for _, c := range configs {
		if c.name == "sqlite-file" || c.name == "postgres" && os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) { queryCacheIndexChanges(t, openTest(t, c.dsn(t))) })
	}
}

func queryCacheIndexChanges(t *testing.T, s *Store) {
	defer s.Close()
	{
		ctx := t.Context()
		in := storage.InNamespace("ic")
		if err := s.CreateNamespace(ctx, "ic", storage.WithIndexes("a")); err != nil {
			t.Fatal(err)
		}
		fill := func() {
			for i := range 20 {
				if err := s.Set(ctx, fmt.Sprintf("k%02d", i), map[string]any{"a": i % 4, "b": i % 5}, in); err != nil {
					t.Fatal(err)
				}
			}
		}
		fill()
		// newStatements: 1 the step must build statements, 0 it must
		// not, -1 either (a re-created namespace may get the ids of the
		// old one, whose statements are then its own).
		check := func(step string, newStatements int) {
			t.Helper()
			before := s.QueryCacheStats()
			for i := range 4 {
				res, err := s.Query(ctx, storage.Eq("a", i), in, storage.SortBy(storage.Asc("b")))
				if err != nil || len(res.Entries) != 5 {
					t.Fatalf("%s: Query(a = %d): %d entries, %v", step, i, len(res.Entries), err)
				}
				n, err := s.Count(ctx, in, storage.Where(storage.Eq("b", i)))
				if err != nil || n != 4 {
					t.Fatalf("%s: Count(b = %d) = %d, %v", step, i, n, err)
				}
			}
			after := s.QueryCacheStats()
			if misses := after.Misses - before.Misses; newStatements >= 0 && (newStatements == 1) != (misses > 0) {
				t.Errorf("%s: %d misses (new statements: %d)", step, misses, newStatements)
			}
		}
		check("first", 1)
		check("again", 0)
		if err := s.CreateIndex(ctx, "ic", "b"); err != nil {
			t.Fatal(err)
		}
		check("index on b", 1)
		if err := s.DropIndex(ctx, "ic", "a"); err != nil {
			t.Fatal(err)
		}
		check("index on a dropped", 1)
		if err := s.DeleteNamespace(ctx, "ic", storage.Recursive()); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateNamespace(ctx, "ic", storage.WithIndexes("a", "b")); err != nil {
			t.Fatal(err)
		}
		fill()
		check("re-created", -1)
		check("re-created, again", 0)
		if err := s.DeleteNamespace(ctx, "ic", storage.Recursive()); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateNamespace(ctx, "ic"); err != nil {
			t.Fatal(err)
		}
		fill()
		check("re-created without indexes", -1)
		check("re-created without indexes, again", 0)
	}
}

// TestQueryCacheConcurrent runs calls of a few shapes from several
// goroutines on a small cache (evictions included), checking every
// answer; under -race it checks the cache's locking.
func TestQueryCacheConcurrent(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, "sqlite::memory:", WithQueryCache(3))
	defer s.Close()
	if err := s.CreateNamespace(ctx, "c", storage.WithIndexes("n")); err != nil {
		t.Fatal(err)
	}
	in := storage.InNamespace("c")
	for i := range 50 {
		if err := s.Set(ctx, fmt.Sprintf("k%02d", i), map[string]any{"n": i, "s": fmt.Sprint(i % 7)}, in); err != nil {
			t.Fatal(err)
		}
	}
	var g errgroup.Group
	for w := range 8 {
		g.Go(func() error {
			for i := range 100 {
				v := (i + w) % 40
				var n, want int64
				var err error
				switch i % 4 {
				case 0:
					n, err = s.Count(ctx, in, storage.Where(storage.Gte("n", v)))
					want = 50 - int64(v)
				case 1:
					var res storage.QueryResult
					res, err = s.Query(ctx, storage.And(storage.Gte("n", v), storage.Lt("n", v+5)), in, storage.SortBy(storage.Desc("n")), storage.Limit(3))
					n, want = int64(len(res.Entries)), 3
					if err == nil && res.Entries[0].Key != fmt.Sprintf("k%02d", v+4) {
						err = fmt.Errorf("first %s, want k%02d", res.Entries[0].Key, v+4)
					}
				case 2:
					n, err = s.Count(ctx, in, storage.Where(storage.Eq("s", fmt.Sprint(v%7))))
					want = int64(len(sevens(v % 7)))
				case 3:
					n, err = s.Count(ctx, in, storage.Where(storage.In("n", v, v+1, 1000)))
					want = 2
				}
				if err == nil && n != want {
					err = fmt.Errorf("call %d.%d: %d, want %d", w, i, n, want)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// sevens are the i in [0, 50) with i % 7 == r.
func sevens(r int) []int {
	var out []int
	for i := range 50 {
		if i%7 == r {
			out = append(out, i)
		}
	}
	return out
}

// BenchmarkQueryStatement measures building Query's and Count's
// statements alone (no database), with the query cache and without:
// indexed eq, range + sort limit 20, and Count with a range, on a
// namespace with a declared index.
//
//	go test -run '^$' -bench BenchmarkQueryStatement -benchmem ./sqlstore
func BenchmarkQueryStatement(b *testing.B) {
	nsi := nsInfo{id: 2, fields: map[string]int64{"n": 1}}
	nsi.sig = fieldsSignature(nsi.fields)
	now := time.Now().UTC().Truncate(time.Microsecond)
	kinds := driver.KindNamespace | driver.KindSort | driver.KindLimit | driver.KindOffset | driver.KindCursor | driver.KindKeyRanges
	for _, name := range []dialect.Name{dialect.SQLite, dialect.Postgres} {
		for _, size := range []int{DefaultQueryCacheSize, 0} {
			d, err := dialect.ForName(name)
			if err != nil {
				b.Fatal(err)
			}
			s := &Store{eng: dialectEngine{d: d}, qcache: newQueryCache(size)}
			s.ops = ops{s: s, sc: storeScope{s}}
			mode := fmt.Sprintf("%s/cache=%d", name, size)
			query := func(b *testing.B, f func(v int) storage.Filter, opts ...storage.Option) {
				o, err := driver.ResolveOptions("query", kinds, append(opts, storage.InNamespace("bench")))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					p, err := prepareQuery(f(i%10000), o)
					if err != nil {
						b.Fatal(err)
					}
					p.decided = true // no database to probe: the builder alone
					if _, _, _, err := s.buildQuery(b.Context(), &p, o, nsi, now); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Run(mode+"/QueryIndexedEq", func(b *testing.B) {
				query(b, func(v int) storage.Filter { return storage.Eq("n", v) })
			})
			b.Run(mode+"/QueryRangeSortLimit20", func(b *testing.B) {
				query(b, func(v int) storage.Filter { return storage.And(storage.Gte("n", v), storage.Lt("n", v+100)) },
					storage.SortBy(storage.Asc("n")), storage.Limit(20))
			})
			b.Run(mode+"/CountFilter", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					v := i % 10000
					o, err := driver.ResolveOptions("count", driver.KindNamespace|driver.KindFilter,
						[]storage.Option{storage.InNamespace("bench"), storage.Where(storage.And(storage.Gte("n", v), storage.Lt("n", v+100)))})
					if err != nil {
						b.Fatal(err)
					}
					if _, _, err := s.countStatement(o, nsi, now); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestQueryCacheListStatements checks List's statements through the
// query cache against the ones written without it, for thousands of
// random calls on both dialects: patterns (literal, prefix, with
// wildcards and escapes), key ranges, cursors, limits and offsets; each
// call cold, then with other values of the same form.
func TestQueryCacheListStatements(t *testing.T) {
	cases := 3000
	if testing.Short() || raceEnabled {
		cases = 500
	}
	parts := []string{"", "a", "k", "k0", "k1", "user:", "é", "\U0010FFFF", "%", "_", "\\*", "\\?", "[", "x y"}
	wild := []string{"", "*", "?", "*x", "?*", "a*b"}
	for _, name := range []dialect.Name{dialect.SQLite, dialect.Postgres} {
		t.Run(string(name), func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 11))
			pick := func(l []string) string { return l[r.IntN(len(l))] }
			cached, plain := builderStore(t, name, 128), builderStore(t, name, 0)
			var hits int
			for c := range cases {
				form := r.IntN(1 << 10)
				for v := range 3 {
					opts := []storage.Option{storage.InNamespace(pick([]string{"default", "n1"}))}
					if form&1 != 0 {
						p := pick(parts) + pick(parts)
						if form&2 != 0 {
							p += pick(wild)
						}
						opts = append(opts, storage.Pattern(p))
					}
					if form&4 != 0 {
						opts = append(opts, storage.Limit(r.IntN(20)))
					}
					if form&8 != 0 {
						opts = append(opts, storage.Offset(r.IntN(3)))
					}
					if form&16 != 0 {
						var rs []storage.KeyRange
						for range (form >> 5) % 4 {
							from := pick(parts) + pick(parts)
							rg := storage.KeyRange{From: from}
							if r.IntN(3) != 0 {
								rg.To = from + pick([]string{"~", "z", "\U0010FFFF"})
							}
							rs = append(rs, rg)
						}
						opts = append(opts, storage.InKeyRanges(rs...))
					}
					o, err := driver.ResolveOptions("list", driver.KindNamespace|driver.KindPattern|driver.KindLimit|driver.KindOffset|driver.KindCursor|driver.KindKeyRanges, opts)
					if err != nil {
						continue // an invalid pattern or range
					}
					if form&128 != 0 {
						o.Cursor = encodeCursor(cursor{Op: "list", Hash: listHash(o), Key: pick(parts) + pick(parts)})
					}
					what := fmt.Sprintf("case %d.%d: %+v", c, v, o)
					before := cached.QueryCacheStats()
					sameStatement(t, what, func(s *Store) (string, []any, []sortCol, error) {
						q, args, err := s.listQuery(o)
						return q, args, nil, err
					}, cached, plain)
					if after := cached.QueryCacheStats(); v > 0 && after.Hits > before.Hits+1 {
						hits++ // served from the cache on its first call here
					}
				}
			}
			t.Logf("%d cases: %+v; %d calls with other values served from the cache", cases, cached.QueryCacheStats(), hits)
			if hits < cases/10 {
				t.Errorf("only %d calls with other values served from the cache", hits)
			}
		})
	}
}
