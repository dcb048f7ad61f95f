package dialect

import (
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
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

func TestSortExprsAndIndexExprsAgree(t *testing.T) {
	f, err := storage.ParseField("a.b")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Name{SQLite, Postgres} {
		c, _ := NewCompiler(d)
		sort := c.SortExprs(f)
		idx := c.IndexExprs(f)
		if len(sort) != 3 || len(idx) != 2 || sort[1] != idx[0] || sort[2] != idx[1] {
			t.Errorf("%s: sort %q and index %q expressions differ", d, sort, idx)
		}
		x, _ := storage.Eq("a.b", 1).Compile()
		w, _ := c.Where(x)
		sql, _, _ := w.ToSql()
		if !strings.HasPrefix(sql, idx[0]+" = ") {
			t.Errorf("%s: WHERE %q does not use the index expression %q", d, sql, idx[0])
		}
	}
}
