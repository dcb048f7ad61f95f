package dialect_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// otherValues returns f with each value replaced by another of its kind
// (k chooses which), so that the shape usually stays.
func otherValues(f storage.Filter, k int) storage.Filter {
	switch {
	case f.Not != nil:
		n := otherValues(*f.Not, k)
		f.Not = &n
		return f
	case f.And != nil || f.Or != nil:
		and, or := make([]storage.Filter, len(f.And)), make([]storage.Filter, len(f.Or))
		for i, c := range f.And {
			and[i] = otherValues(c, k+i)
		}
		for i, c := range f.Or {
			or[i] = otherValues(c, k+i)
		}
		if f.And != nil {
			f.And = and
		}
		if f.Or != nil {
			f.Or = or
		}
		return f
	}
	other := func(v any) any {
		switch v := v.(type) {
		case string:
			if _, err := time.Parse(time.RFC3339, v); err == nil {
				return time.Date(2020, 1, 2, 3, 4, 5, k*1000, time.UTC).Format(time.RFC3339Nano)
			}
			return []string{"", "q", "Zürich", strings.Repeat("x", 255), strings.Repeat("y", 256), strings.Repeat("z", 400)}[k%6] + v
		case int:
			return v + k + 1
		case float64:
			return v * float64(k+2)
		case bool:
			return k%2 == 0
		case time.Time:
			return v.Add(time.Duration(k) * 1500 * time.Nanosecond)
		}
		return v
	}
	if vs, ok := f.Value.([]any); ok {
		out := make([]any, len(vs))
		for i, v := range vs {
			out[i] = other(v)
		}
		f.Value = out
		return f
	}
	if f.Op != storage.OpExists {
		f.Value = other(f.Value)
	}
	return f
}

// planStatements are the SQL a query statement takes from a filter:
// Where, and for each of a few fields, IndexScan and Where of
// IndexResidual.
func planStatements() []func(c *dialect.Compiler, e driver.Expr) (string, []any) {
	toSQL := func(cond sq.Sqlizer) (string, []any) {
		if cond == nil {
			return "", nil
		}
		q, args, err := cond.ToSql()
		if err != nil {
			return "error " + err.Error(), nil
		}
		return q, args
	}
	out := []func(c *dialect.Compiler, e driver.Expr) (string, []any){
		func(c *dialect.Compiler, e driver.Expr) (string, []any) {
			w, err := c.Where(e)
			if err != nil {
				return "error " + err.Error(), nil
			}
			return toSQL(w)
		},
	}
	for _, name := range []string{"age", "name", "address.city", "status", "tags.0", "score", "$metadata.owner", "$metadata.tier", "a", "type"} {
		f, err := driver.ParseField(name)
		if err != nil {
			panic(err)
		}
		out = append(out,
			func(c *dialect.Compiler, e driver.Expr) (string, []any) {
				cond, scan := c.IndexScan(e, f)
				q, args := toSQL(cond)
				return fmt.Sprint(scan, " ", q), args
			},
			func(c *dialect.Compiler, e driver.Expr) (string, []any) {
				w, err := c.Where(c.IndexResidual(e, f))
				if err != nil {
					return "error " + err.Error(), nil
				}
				return toSQL(w)
			})
	}
	return out
}

// TestPlanGolden checks the mechanism of statement caches on the golden
// filters and variants of them with other values: the SQL a planning
// compiler writes (Where, IndexScan and IndexResidual) is the plain
// compiler's, and for every variant with the same Shape and equalities
// it is the same SQL, whose parameters the plan binds exactly as the
// plain compiler writes them.
func TestPlanGolden(t *testing.T) {
	stmts := planStatements()
	for _, name := range []dialect.Name{dialect.SQLite, dialect.Postgres} {
		t.Run(string(name), func(t *testing.T) {
			c, err := dialect.NewCompiler(name)
			if err != nil {
				t.Fatal(err)
			}
			hits, misses := 0, 0
			for _, g := range goldenFilters {
				e, err := g.f.Compile()
				if err != nil {
					t.Fatal(err)
				}
				key, in := c.Shape(nil, e, nil)
				key = dialect.AppendEqualities(key, in)
				for _, stmt := range stmts {
					q, params := stmt(c.Planner(), e)
					wq, wargs := stmt(c, e)
					if q != wq {
						t.Fatalf("%s: planning SQL %s, want %s", g.name, q, wq)
					}
					plan, args, ok := c.MakePlan(params, in)
					if !ok || !reflect.DeepEqual(args, wargs) {
						t.Fatalf("%s: %s: MakePlan %v: %#v, want %#v", g.name, q, ok, args, wargs)
					}
					for k := range 12 {
						v := otherValues(g.f, k)
						ve, err := v.Compile()
						if err != nil {
							t.Fatalf("%s variant %d: %v", g.name, k, err)
						}
						vkey, vin := c.Shape(nil, ve, nil)
						if string(dialect.AppendEqualities(vkey, vin)) != string(key) {
							misses++
							continue
						}
						hits++
						vq, vargs := stmt(c, ve)
						if vq != q {
							t.Fatalf("%s variant %d: one shape, SQL\n%s\nand\n%s", g.name, k, vq, q)
						}
						if got := c.BindPlan(plan, vin); !reflect.DeepEqual(got, vargs) {
							t.Fatalf("%s variant %d: %s: bound %#v, want %#v", g.name, k, q, got, vargs)
						}
					}
				}
			}
			t.Logf("%d variants of the same shape, %d of another", hits, misses)
			if hits < len(goldenFilters)*len(stmts) {
				t.Errorf("only %d variants of the same shape", hits)
			}
		})
	}
}
