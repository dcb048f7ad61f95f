package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestFilterValuesBounded: a filter within every bound of the filter
// language binds at most so many parameters, which both databases take
// (in leaves of $key, of an indexed field and of a plain one, with the
// rest of the nodes contains leaves, which bind two each), in Query (sorted, and from a
// cursor), Count and Watch; one value more is ErrInvalidFilter, and
// nothing else. Before storage.MaxFilterValues, 80 in leaves of 1000
// values (within MaxFilterNodes and MaxInValues) failed with the driver's
// own text and no sentinel: "too many SQL variables" (SQLite), "extended
// protocol limited to 65535 parameters" (PostgreSQL).
func TestFilterValuesBounded(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			if err := s.CreateNamespace(ctx, "p", storage.WithIndexes("ix")); err != nil {
				t.Fatal(err)
			}
			ns := storage.InNamespace("p")
			for i := range 3 {
				if err := s.Set(ctx, fmt.Sprint("k", i), map[string]any{"ix": i, "a": i, "s": "x"}, ns); err != nil {
					t.Fatal(err)
				}
			}
			// filter is an or of in leaves of up to MaxInValues values,
			// the fields taken in turn, and contains leaves (two
			// parameters each, the most a leaf binds), of
			// MaxFilterValues values in all, and extra more.
			filter := func(extra int) storage.Filter {
				const contains = 500
				fields := []string{"$key", "ix", "a"}
				var leaves []storage.Filter
				for i := 0; len(leaves) < contains; i++ {
					leaves = append(leaves, storage.Contains("s", fmt.Sprint("y", i)))
				}
				left := storage.MaxFilterValues - contains + extra
				for i := 0; left > 0; i++ {
					vals := make([]any, min(left, storage.MaxInValues))
					for j := range vals {
						if fields[i%3] == "$key" {
							vals[j] = fmt.Sprintf("k%d", i*storage.MaxInValues+j)
						} else {
							vals[j] = i*storage.MaxInValues + j
						}
					}
					leaves = append(leaves, storage.In(fields[i%3], vals...))
					left -= len(vals)
				}
				return storage.Or(leaves...)
			}
			var l faultLog
			// 0: at the bound; 1: one value over it; 70,000: 80 in
			// leaves of 1000 values, more parameters than either
			// database takes.
			for _, extra := range []int{0, 1, 70_000} {
				f := filter(extra)
				over := extra > 0
				want := fmt.Sprintf("a filter of %d values", storage.MaxFilterValues+extra)
				check := func(what string, err error) {
					t.Helper()
					switch {
					case over:
						l.typed(want+": "+what, err, false, storage.ErrInvalidFilter)
						if err == nil || !strings.Contains(err.Error(), "values") {
							t.Errorf("%s: %s: %v, want ErrInvalidFilter for its values", want, what, err)
						}
					case err != nil:
						t.Errorf("%s: %s: %v", want, what, err)
					}
				}
				res, err := s.Query(ctx, f, ns, storage.SortBy(storage.Asc("a")), storage.Limit(1))
				check("query", err)
				if err == nil && res.Cursor != "" {
					_, err = s.Query(ctx, f, ns, storage.SortBy(storage.Asc("a")), storage.After(res.Cursor))
					check("query after a cursor", err)
				}
				_, err = s.Count(ctx, ns, storage.Where(f))
				check("count", err)
				wctx, cancel := context.WithTimeout(ctx, time.Second)
				var werr error
				for _, err := range s.Watch(wctx, storage.Where(f), storage.FromRevision(0)) {
					if err != nil {
						werr = err
						break
					}
				}
				cancel()
				check("watch", werr)
			}
			l.report(t)
		})
	}
}
