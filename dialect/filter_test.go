package dialect

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	sq "github.com/Masterminds/squirrel"
	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

func TestKeyRange(t *testing.T) {
	tests := []struct{ prefix, lo, hi string }{
		{"", "", ""},
		{"user:", "user:", "user;"},
		{"a", "a", "b"},
		{"é", "é", "ê"},
		{"a\u007f", "a\u007f", "a\u0080"},
		{"\ud7ff", "\ud7ff", "\ue000"},
		{"a\U0010FFFF", "a\U0010FFFF", "b"},
		{"\U0010FFFF", "\U0010FFFF", ""},
	}
	for _, tt := range tests {
		lo, hi := KeyRange(tt.prefix)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("KeyRange(%q) = %q, %q; want %q, %q", tt.prefix, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestCompilePattern(t *testing.T) {
	for _, d := range []Name{SQLite, Postgres} {
		c, _ := NewCompiler(d)
		tests := []struct {
			pattern, prefix string
			literal         bool
			match           string // the bound pattern, "" for none
		}{
			{"user:*", "user:", false, ""},
			{"abc", "abc", true, ""},
			{`a\*b`, "a*b", true, ""},
			{"a?c", "a", false, map[Name]string{SQLite: "a?c", Postgres: "a_c"}[d]},
			{`a%_\\*x`, "a%_\\", false, map[Name]string{SQLite: `a%_\*x`, Postgres: `a\%\_\\%x`}[d]},
			{`[x]*y`, "[x]", false, map[Name]string{SQLite: `[[]x]*y`, Postgres: `[x]%y`}[d]},
			{"*", "", false, ""},
		}
		for _, tt := range tests {
			p := c.CompilePattern(tt.pattern)
			if p.Prefix != tt.prefix || p.Literal != tt.literal {
				t.Errorf("%s: CompilePattern(%q) = prefix %q literal %v; want %q %v", d, tt.pattern, p.Prefix, p.Literal, tt.prefix, tt.literal)
			}
			var got string
			if p.Match != nil {
				_, args, err := p.Match.ToSql()
				if err != nil {
					t.Fatal(err)
				}
				got = args[0].(string)
			}
			if got != tt.match {
				t.Errorf("%s: CompilePattern(%q) matches %q, want %q", d, tt.pattern, got, tt.match)
			}
		}
	}
}

// TestWhereBindsValues checks that user values only ever travel as bound
// parameters, and shows the SQL of one filter on each dialect.
func TestWhereBindsValues(t *testing.T) {
	evil := "x'); DROP TABLE entries; --"
	f := storage.And(
		storage.Eq("a.b", evil),
		storage.Contains("tags", evil),
		storage.StartsWith("$key", evil),
		storage.Not(storage.In("n", 1, evil, nil)),
		storage.Gt("$metadata.m.0", 2.5),
	)
	x, err := f.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Name{SQLite, Postgres} {
		c, _ := NewCompiler(d)
		w, err := c.Where(x)
		if err != nil {
			t.Fatal(err)
		}
		sql, args, err := w.ToSql()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sql, "DROP") {
			t.Errorf("%s: a value reached the SQL text: %s", d, sql)
		}
		n := 0
		for _, a := range args {
			if a == evil {
				n++
			}
		}
		if n < 4 {
			t.Errorf("%s: the value is bound %d times, want at least 4: %v", d, n, args)
		}
		if strings.Count(sql, "?") != len(args) {
			t.Errorf("%s: %d placeholders for %d args", d, strings.Count(sql, "?"), len(args))
		}
		t.Logf("%s: %s", d, sql)
	}
}

func TestPinnedRankAndIndexScan(t *testing.T) {
	f, err := driver.ParseField("a.b")
	if err != nil {
		t.Fatal(err)
	}
	fld := f
	for _, d := range []Name{SQLite, Postgres} {
		c, _ := NewCompiler(d)
		for _, tc := range []struct {
			f    storage.Filter
			rank int
			scan int
		}{
			{storage.Eq("a.b", 1), RankNumber, ScanPoint},
			{storage.Gt("a.b", "x"), RankString, ScanRange},
			{storage.StartsWith("a.b", "x"), RankString, ScanRange},
			{storage.In("a.b", 1, 2), RankNumber, ScanEq},
			{storage.Eq("a.b", nil), RankNull, ScanPoint},
			{storage.And(storage.Eq("a.c", 1), storage.Lt("a.b", 3)), RankNumber, ScanRange},
		} {
			x, _ := tc.f.Compile()
			if got := PinnedRank(x, f); got != tc.rank {
				t.Errorf("PinnedRank(%v) = %d, want %d", tc.f, got, tc.rank)
			}
			conds, scan := c.IndexScan(x, f)
			if scan != tc.scan {
				t.Errorf("%s: IndexScan(%v) strength %d, want %d", d, tc.f, scan, tc.scan)
			}
			sql, _, _ := conds.ToSql()
			if !strings.Contains(sql, "ix.ix_rank = "+strconv.Itoa(tc.rank)) {
				t.Errorf("%s: IndexScan(%v) = %q does not pin the rank %d", d, tc.f, sql, tc.rank)
			}
		}
		for _, f := range []storage.Filter{storage.In("a.b", 1, "x"), storage.Or(storage.Eq("a.b", 1), storage.Eq("a.b", "x")), storage.Not(storage.Eq("a.b", 1)), storage.Eq("a.c", 1)} {
			x, _ := f.Compile()
			if got := PinnedRank(x, fld); got != NoRank {
				t.Errorf("PinnedRank(%v) = %d, want none", f, got)
			}
		}
		// Or, not and other fields say nothing the index can use.
		for _, f := range []storage.Filter{storage.Or(storage.Eq("a.b", 1), storage.Eq("a.c", 2)), storage.Not(storage.Eq("a.b", 1)), storage.Eq("a.c", 1), storage.Ne("a.b", 1)} {
			x, _ := f.Compile()
			if conds, scan := c.IndexScan(x, fld); scan != ScanNone || conds != nil {
				t.Errorf("%s: IndexScan(%v) = %v, %d, want nothing", d, f, conds, scan)
			}
		}
	}
}

// TestOnePassMatchesSquirrel: onePass writes exactly the SQL and the
// arguments squirrel's And and Or write for the same tree, empty parts and
// empty lists included, on random trees.
func TestOnePassMatchesSquirrel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tree func(depth int) sq.Sqlizer
	tree = func(depth int) sq.Sqlizer {
		switch k := rng.IntN(10); {
		case depth == 0 || k < 3:
			switch rng.IntN(5) {
			case 0:
				return sq.Expr("")
			case 4:
				return sq.Expr("", rng.IntN(100)) // empty, its argument left out
			case 1:
				return sq.Expr("x = ?", rng.IntN(100))
			case 2:
				return sq.Expr("y BETWEEN ? AND ?", rng.IntN(10), rng.IntN(10))
			}
			return sq.Expr("z")
		case k < 5:
			return prefixed{"NOT COALESCE(", tree(depth - 1), ", 1=0)"}
		case k < 6:
			return balanced([]sq.Sqlizer{tree(depth - 1), tree(depth - 1)}, rng.IntN(2) == 0)
		default:
			parts := make([]sq.Sqlizer, rng.IntN(12))
			for i := range parts {
				parts[i] = tree(depth - 1)
			}
			if k < 8 {
				return sq.And(parts)
			}
			return sq.Or(parts)
		}
	}
	// plain is the tree with every onePass replaced by what it wraps:
	// squirrel's rendering.
	var plain func(p sq.Sqlizer) sq.Sqlizer
	plain = func(p sq.Sqlizer) sq.Sqlizer {
		switch x := p.(type) {
		case onePass:
			return plain(x.p)
		case sq.And:
			out := make(sq.And, len(x))
			for i, q := range x {
				out[i] = plain(q)
			}
			return out
		case sq.Or:
			out := make(sq.Or, len(x))
			for i, q := range x {
				out[i] = plain(q)
			}
			return out
		case prefixed:
			return prefixed{x.pre, plain(x.p), x.post}
		}
		return p
	}
	for i := range 1000 {
		p := tree(4)
		got, gotArgs, err := onePass{p}.ToSql()
		if err != nil {
			t.Fatal(err)
		}
		want, wantArgs, err := plain(p).ToSql()
		if err != nil {
			t.Fatal(err)
		}
		if got != want || !reflect.DeepEqual(append([]any{}, gotArgs...), append([]any{}, wantArgs...)) {
			t.Fatalf("tree %d:\n got %q %v\nwant %q %v", i, got, gotArgs, want, wantArgs)
		}
	}
}
