package dialect_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the compiler's output")

// goldenFilters is the fixed set of filters whose compiled SQL the golden
// files record: one of each operator on each kind of field, and the
// combinators.
var goldenFilters = []struct {
	name string
	f    storage.Filter
}{
	{"all", storage.All()},
	{"eq number", storage.Eq("age", 30)},
	{"eq string", storage.Eq("address.city", "Paris")},
	{"eq bool", storage.Eq("active", true)},
	{"eq null", storage.Eq("deleted", nil)},
	{"eq array index", storage.Eq("tags.0", "x")},
	{"ne", storage.Ne("status", "done")},
	{"gt number", storage.Gt("age", 18)},
	{"gte string", storage.Gte("name", "M")},
	{"lt", storage.Lt("score", 1.5)},
	{"lte", storage.Lte("score", -2)},
	{"contains", storage.Contains("tags", "go")},
	{"startsWith", storage.StartsWith("name", "A")},
	{"endsWith", storage.EndsWith("email", "@example.com")},
	{"in", storage.In("status", "open", "closed", 3, nil)},
	{"nin", storage.Nin("status", "archived")},
	{"exists", storage.Exists("email", true)},
	{"not exists", storage.Exists("email", false)},
	{"metadata", storage.Eq("$metadata.owner", "ada")},
	{"key eq", storage.Eq("$key", "user:1")},
	{"key prefix", storage.StartsWith("$key", "user:")},
	{"key contains", storage.Contains("$key", "x")},
	{"version", storage.Gte("$version", 2)},
	{"createdAt", storage.Lt("$createdAt", time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))},
	{"updatedAt", storage.Gt("$updatedAt", "2024-05-01T12:00:00Z")},
	{"and", storage.And(storage.Gte("age", 18), storage.Lt("age", 65))},
	{"or", storage.Or(storage.Eq("a", 1), storage.Eq("b", "x"))},
	{"not", storage.Not(storage.Eq("a", 1))},
	{"empty and", storage.And()},
	{"empty or", storage.Or()},
	{"nested", storage.And(storage.Eq("type", "user"), storage.Or(storage.Not(storage.Exists("x", true)), storage.In("$metadata.tier", "gold")))},
}

// goldenSorts are the sort fields whose ORDER BY terms the golden files
// record, unpinned.
var goldenSorts = []string{"age", "address.city", "tags.0", "$metadata.owner", "$key", "$version", "$createdAt", "$updatedAt"}

// TestCompiledSQLGolden records the SQL the compiler writes for a fixed set
// of filters and sorts, on both dialects, in testdata/compile_<dialect>.golden,
// so that a change to the compiler shows as a text diff. After an intended
// change: go test ./dialect -run TestCompiledSQLGolden -update
func TestCompiledSQLGolden(t *testing.T) {
	for _, name := range []dialect.Name{dialect.SQLite, dialect.Postgres} {
		t.Run(string(name), func(t *testing.T) {
			c, err := dialect.NewCompiler(name)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			fmt.Fprintf(&b, "# The SQL that dialect.Compiler (%s) writes; regenerate with\n# go test ./dialect -run TestCompiledSQLGolden -update\n", name)
			for _, g := range goldenFilters {
				e, err := g.f.Compile()
				if err != nil {
					t.Fatalf("%s: %v", g.name, err)
				}
				where, err := c.Where(e)
				if err != nil {
					t.Fatalf("%s: Where: %v", g.name, err)
				}
				sql, args, err := where.ToSql()
				if err != nil {
					t.Fatalf("%s: ToSql: %v", g.name, err)
				}
				sql, err = c.PlaceholderFormat().ReplacePlaceholders(sql)
				if err != nil {
					t.Fatalf("%s: placeholders: %v", g.name, err)
				}
				// One condition a line, so that a change shows where it is.
				sql = strings.ReplaceAll(strings.ReplaceAll(sql, " AND ", "\n  AND "), " OR ", "\n  OR ")
				fmt.Fprintf(&b, "\n## filter %s\n%s\n", g.name, sql)
				for i, a := range args {
					fmt.Fprintf(&b, "  $%d = %#v\n", i+1, a)
				}
			}
			for _, s := range goldenSorts {
				f, err := driver.ParseField(s)
				if err != nil {
					t.Fatalf("sort %s: %v", s, err)
				}
				fmt.Fprintf(&b, "\n## sort %s\n%s\n", s, strings.Join(c.OrderExprs(f, dialect.NoRank), ",\n"))
			}
			path := filepath.Join("testdata", "compile_"+string(name)+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("the compiled SQL differs from %s (if intended, run with -update and review the diff):\n%s", path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff lists the lines of want and got that differ, by position.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}
