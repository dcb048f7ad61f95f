package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestDifferential runs random filters and sorts over random documents on
// SQLite, on PostgreSQL (when configured) and on the reference evaluator in
// storetest, and requires the same result set in the same order from all
// three. It is seeded: STORAGE_DIFF_SEED reproduces a run (the seed is
// logged), STORAGE_DIFF_CASES sets the number of cases (default 3000; a
// tenth of that with -short or -race).
func TestDifferential(t *testing.T) {
	seed, cases := seededRun(t, "STORAGE_DIFF_SEED", "STORAGE_DIFF_CASES", 3000, 10)
	t.Logf("seed %d (rerun with STORAGE_DIFF_SEED=%d), %d cases", seed, seed, cases)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	type backend struct {
		name    string
		st      *Store
		entries []storage.Entry // as stored, for the reference
	}
	var backends []*backend
	backends = append(backends, &backend{name: "sqlite", st: openTest(t, "sqlite::memory:")})
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") != "" || os.Getenv("CI") == "true" {
		backends = append(backends, &backend{name: "postgres", st: openTest(t, newPGSchema(t))})
	} else {
		t.Log("PostgreSQL not configured: comparing SQLite with the reference only")
	}
	g := &docGen{r: rng}
	const ndocs = 250
	items := make([]storage.Item, ndocs)
	for i := range items {
		items[i] = storage.Item{Key: g.key(i), Value: json.RawMessage(g.doc(0)), Metadata: g.metadata()}
	}
	// Rewrite a few, so versions differ.
	var again []storage.Item
	for i := range items {
		if rng.IntN(4) == 0 {
			again = append(again, items[i])
		}
	}
	for _, b := range backends {
		t.Cleanup(func() { _ = b.st.Close() })
		// Declared indexes on some of the fields, so that the plans that
		// read them (and their ORDER BY) are compared too.
		for _, f := range []string{"a", "s", "o.x", "arr.0", "$metadata.m"} {
			if err := b.st.CreateIndex(t.Context(), "default", f); err != nil {
				t.Fatalf("%s: CreateIndex(%s): %v", b.name, f, err)
			}
		}
		for _, batch := range [][]storage.Item{items, again} {
			res, err := b.st.SetMany(t.Context(), batch)
			if err != nil || !res.OK() {
				t.Fatalf("%s: SetMany: %v %v", b.name, err, res.Err())
			}
		}
		res, err := b.st.Query(t.Context(), storage.All())
		if err != nil || len(res.Entries) != ndocs {
			t.Fatalf("%s: Query(All): %d entries, %v", b.name, len(res.Entries), err)
		}
		b.entries = res.Entries
	}

	// The probe's K (drive.go) of each case, from its own generator (the
	// cases stay those of the seed): small, so that a filter on one
	// declared field sorted by another is driven by either field; 0 is
	// the store's own K (drive.go), its floor of 1000 at these sizes.
	defer func(old int) { filterDriveRows = old }(filterDriveRows)
	krng := rand.New(rand.NewPCG(seed, 3))
	var invalid, matchedSum, paged int
	for c := range cases {
		filterDriveRows = []int{1, 4, 30, 0}[krng.IntN(4)]
		f := g.filter(0)
		sort := g.sort()
		fj, _ := json.Marshal(f)
		what := fmt.Sprintf("case %d (seed %d, K %d): filter %s, sort %v", c, seed, filterDriveRows, fj, sort)
		x, cerr := f.Compile()
		var ref []string
		if cerr == nil {
			for _, b := range backends[:1] {
				var m []storage.Entry
				for _, e := range b.entries {
					if storetest.RefMatch(x, e) {
						m = append(m, e)
					}
				}
				if err := storetest.RefSort(m, sort); err != nil {
					t.Fatalf("%s: RefSort: %v", what, err)
				}
				for _, e := range m {
					ref = append(ref, e.Key)
				}
			}
		} else {
			invalid++
		}
		matchedSum += len(ref)
		opts := []storage.Option{}
		if sort != nil {
			opts = append(opts, storage.SortBy(sort...))
		}
		for _, b := range backends {
			res, err := b.st.Query(t.Context(), f, opts...)
			if cerr != nil {
				if !errors.Is(err, storage.ErrInvalidFilter) {
					t.Fatalf("%s: %s: Compile says %v, Query says %v", b.name, what, cerr, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %s: %v", b.name, what, err)
			}
			got := make([]string, 0, len(res.Entries))
			for _, e := range res.Entries {
				got = append(got, e.Key)
			}
			if len(got)+len(ref) > 0 && !slices.Equal(got, ref) {
				t.Fatalf("%s: %s:\n got %v\nwant %v", b.name, what, got, ref)
			}
			n, err := b.st.Count(t.Context(), storage.Where(f))
			if err != nil || n != int64(len(ref)) {
				t.Fatalf("%s: %s: Count = %d, %v; want %d", b.name, what, n, err, len(ref))
			}
			if c%10 == 0 && len(ref) > 0 {
				paged++
				limit := 1 + rng.IntN(7)
				var all []string
				cur := ""
				for {
					o := append(slices.Clone(opts), storage.Limit(limit))
					if cur != "" {
						o = append(o, storage.After(cur))
					}
					res, err := b.st.Query(t.Context(), f, o...)
					if err != nil {
						t.Fatalf("%s: %s: page: %v", b.name, what, err)
					}
					for _, e := range res.Entries {
						all = append(all, e.Key)
					}
					if res.Cursor == "" {
						break
					}
					cur = res.Cursor
				}
				if !slices.Equal(all, ref) {
					t.Fatalf("%s: %s: pages of %d:\n got %v\nwant %v", b.name, what, limit, all, ref)
				}
			}
		}
	}
	t.Logf("%d cases on %d backends: %d invalid filters, %.1f matches per case, %d paginated", cases, len(backends), invalid, float64(matchedSum)/float64(cases), paged)
}

// randomRun is the seed (STORAGE_DIFF_SEED, else the time; logged) and
// the number of cases of a random test: full, or short with -short or
// -race.
func randomRun(t *testing.T, full, short int) (uint64, int) {
	t.Helper()
	seed, _ := seededRun(t, "STORAGE_DIFF_SEED", "", 0, 1)
	t.Logf("seed %d (rerun with STORAGE_DIFF_SEED=%d)", seed, seed)
	if testing.Short() || raceEnabled {
		return seed, short
	}
	return seed, full
}

// docGen makes random documents, filters and sorts over a small
// vocabulary, so that filters often hit, miss and meet every type.
type docGen struct{ r *rand.Rand }

var (
	genNumbers = []string{"0", "-0", "1", "1.0", "-1", "2", "2.5", "-2.5", "0.1", "3", "10", "100", "1e300", "-1e300", "1e-300",
		"12345678901234567890", "12345678901234567891", "9007199254740993", "1E2", "0.30000000000000004", "7",
		"1e400", "-1e400", "1e-400", "4.9e-324"}
	genStrings = []string{"", "a", "A", "ab", "abc", "aBc", "b", "bc", "é", "e\u0301", "☃", "日本", "a%b", "a_b", "%", "_",
		"1", "10", "zz", "\\", "'", "\"", "--", "a;b", "$x", "[0]", "x y", "\U0001F600", "ä", "true", "null",
		// Around PostgreSQL's indexed prefix (256 characters): equal
		// prefixes, one character more or less, multibyte characters.
		strings.Repeat("a", 255), strings.Repeat("a", 256), strings.Repeat("a", 257), strings.Repeat("a", 256) + "b",
		strings.Repeat("a", 300), strings.Repeat("é", 255) + "a", strings.Repeat("é", 256) + "☃", strings.Repeat("a", 255) + "☃"}
	genFields = []string{"a", "b", "c", "s", "n", "o.x", "o.y", "o.o.z", "arr", "arr.0", "arr.1", "arr.5", "o", "missing",
		"$key", "$version", "$metadata.m", "$metadata.t", "x-y", "é"}
	genSortFields = []string{"a", "b", "s", "n", "o.x", "arr", "arr.0", "o", "missing", "$key", "$version", "$metadata.m"}
	genOps        = []storage.Operator{storage.OpEq, storage.OpNe, storage.OpGt, storage.OpGte, storage.OpLt, storage.OpLte,
		storage.OpContains, storage.OpStartsWith, storage.OpEndsWith, storage.OpIn, storage.OpNin, storage.OpExists}
)

func (g *docGen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *docGen) key(i int) string {
	switch i % 7 {
	case 0:
		return fmt.Sprintf("k%03d", i)
	case 1:
		return fmt.Sprintf("user:%d", i)
	case 2:
		return fmt.Sprintf("é%d", i)
	case 3:
		return fmt.Sprintf("K%03d", i)
	}
	return fmt.Sprintf("k:%03d:%s", i, []string{"a", "b", "☃"}[i%3])
}

func (g *docGen) scalar() string {
	switch g.r.IntN(6) {
	case 0:
		return "null"
	case 1:
		return []string{"true", "false"}[g.r.IntN(2)]
	case 2, 3:
		return g.pick(genNumbers)
	}
	b, _ := json.Marshal(g.pick(genStrings))
	return string(b)
}

func (g *docGen) value(depth int) string {
	if depth >= 3 {
		return g.scalar()
	}
	switch g.r.IntN(10) {
	case 0, 1:
		n := g.r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = g.value(depth + 1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case 2:
		return g.doc(depth + 1)
	}
	return g.scalar()
}

func (g *docGen) doc(depth int) string {
	if depth == 0 && g.r.IntN(20) == 0 {
		return g.scalar() // a document that is not an object
	}
	var parts []string
	for _, f := range []string{"a", "b", "c", "s", "n", "o", "arr", "x-y", "é", "z"} {
		if g.r.IntN(3) == 0 {
			continue // missing
		}
		v := g.value(depth)
		if f == "arr" && g.r.IntN(2) == 0 {
			v = "[" + g.scalar() + "," + g.scalar() + "]"
		}
		if f == "o" && depth < 2 && g.r.IntN(2) == 0 {
			v = g.doc(depth + 1)
		}
		if f == "x" || f == "y" {
			v = g.scalar()
		}
		parts = append(parts, fmt.Sprintf("%q:%s", f, v))
	}
	if depth > 0 {
		for _, f := range []string{"x", "y", "z"} {
			if g.r.IntN(2) == 0 {
				parts = append(parts, fmt.Sprintf("%q:%s", f, g.scalar()))
			}
		}
	}
	// Drop duplicate names (z may come twice).
	seen := map[string]bool{}
	var out []string
	for _, p := range parts {
		name := p[:strings.Index(p, ":")]
		if !seen[name] {
			seen[name] = true
			out = append(out, p)
		}
	}
	return "{" + strings.Join(out, ",") + "}"
}

func (g *docGen) metadata() map[string]any {
	md := map[string]any{}
	if g.r.IntN(2) == 0 {
		var v any
		_ = json.Unmarshal([]byte(g.scalar()), &v)
		md["m"] = v
	}
	if g.r.IntN(3) == 0 {
		md["t"] = []any{"x", 1.0}
	}
	return md
}

// filterValue is a random value for op: usually a valid one, sometimes not.
func (g *docGen) filterValue(op storage.Operator) any {
	raw := func() any {
		var v any
		d := json.NewDecoder(strings.NewReader(g.scalar()))
		d.UseNumber()
		_ = d.Decode(&v)
		return v
	}
	switch op {
	case storage.OpExists:
		if g.r.IntN(20) == 0 {
			return "yes"
		}
		return g.r.IntN(2) == 0
	case storage.OpIn, storage.OpNin:
		n := g.r.IntN(4)
		vals := make([]any, n)
		for i := range vals {
			vals[i] = raw()
		}
		return vals
	case storage.OpStartsWith, storage.OpEndsWith:
		if g.r.IntN(10) == 0 {
			return raw()
		}
		return g.pick(genStrings)
	}
	return raw()
}

func (g *docGen) filter(depth int) storage.Filter {
	if depth < 3 {
		switch g.r.IntN(8) {
		case 0, 1:
			n := g.r.IntN(4)
			fs := make([]storage.Filter, n)
			for i := range fs {
				fs[i] = g.filter(depth + 1)
			}
			if g.r.IntN(2) == 0 {
				return storage.And(fs...)
			}
			return storage.Or(fs...)
		case 2:
			return storage.Not(g.filter(depth + 1))
		}
	}
	op := genOps[g.r.IntN(len(genOps))]
	field := g.pick(genFields)
	v := g.filterValue(op)
	// Reserved roots take their own types most of the time.
	switch field {
	case "$key":
		if op != storage.OpIn && op != storage.OpNin && op != storage.OpExists && g.r.IntN(5) != 0 {
			v = g.key(g.r.IntN(250))
			if op == storage.OpStartsWith || op == storage.OpEndsWith || op == storage.OpContains {
				s := v.(string)
				v = s[:g.r.IntN(len(s)+1)]
				if !utf8Valid(v.(string)) {
					v = s
				}
			}
		}
	case "$version":
		if op != storage.OpIn && op != storage.OpNin && op != storage.OpExists && g.r.IntN(5) != 0 {
			v = 1 + g.r.IntN(3)
		}
	}
	return storage.Filter{Field: field, Op: op, Value: v}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func (g *docGen) sort() []storage.SortField {
	n := g.r.IntN(4)
	if n == 3 {
		n = 0
	}
	if n == 0 {
		return nil
	}
	out := make([]storage.SortField, n)
	for i := range out {
		out[i] = storage.SortField{Field: g.pick(genSortFields), Desc: g.r.IntN(2) == 0}
	}
	return out
}

// TestWatchDifferential: a watch's filter, run on the change log, selects
// the same puts as Query's on the entries: random documents are written
// once each, and for random filters (those of TestDifferential) the keys
// of the puts a watch from the start delivers are the keys Query finds,
// on every database. (A watch with an array's contains failed on SQLite,
// TestWatchContainsFilter: the log's columns are not the entries'.)
func TestWatchDifferential(t *testing.T) {
	seed, cases := randomRun(t, 300, 60)
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
			g := &docGen{r: rng}
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ns := storage.InNamespace("d")
			items := make([]storage.Item, 150)
			for i := range items {
				items[i] = storage.Item{Key: g.key(i), Value: json.RawMessage(g.doc(0)), Metadata: g.metadata()}
			}
			if res, err := s.SetMany(ctx, items, ns); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			// A delete passes every filter: it ends each watch's reading.
			must(t, s.Set(ctx, "\U0010FFFF-end", 1, ns))
			must(t, s.Delete(ctx, "\U0010FFFF-end", ns))
			checked := 0
			for n := range cases {
				f := g.filter(0)
				if _, err := f.Compile(); err != nil {
					continue
				}
				fj, _ := json.Marshal(f)
				what := fmt.Sprintf("case %d (seed %d): filter %s", n, seed, fj)
				res, err := s.Query(ctx, f, ns)
				if err != nil {
					t.Fatalf("%s: query: %v", what, err)
				}
				var want []string
				for _, e := range res.Entries {
					want = append(want, e.Key)
				}
				var got []string
				for ev, err := range s.Watch(ctx, ns, storage.Where(f), storage.FromRevision(0)) {
					if err != nil {
						t.Fatalf("%s: watch: %v", what, err)
					}
					if ev.Type == storage.EventDelete {
						break
					}
					if ev.Type == storage.EventPut && ev.Key != "\U0010FFFF-end" {
						got = append(got, ev.Key)
					}
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("%s:\nwatch %v\nquery %v", what, got, want)
				}
				checked++
			}
			t.Logf("%d filters checked", checked)
		})
	}
}
