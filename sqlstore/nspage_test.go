package sqlstore

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// TestListNamespacesKeysetPlan: a page of ListNamespaces is one keyset
// statement, WHERE name > $after ORDER BY name LIMIT n, that both
// dialects run as a range of the namespaces' unique name index with no
// sort, so a deep page reads its own rows, not those before it (there
// was no paging: every call read every namespace).
func TestListNamespacesKeysetPlan(t *testing.T) {
	const n, limit = 1500, 10
	for _, c := range configs {
		if c.name == "sqlite-memory" || c.name == "postgres" && os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			for i := range n {
				if err := s.CreateNamespace(ctx, fmt.Sprintf("n%05d", i), storage.WithNamespaceMetadata(map[string]any{"i": i})); err != nil {
					t.Fatal(err)
				}
			}
			stmt := "ANALYZE"
			if s.Dialect() == "postgres" {
				stmt = "ANALYZE namespaces"
			}
			if _, err := s.eng.writer().exec(ctx, stmt); err != nil {
				t.Fatal(err)
			}
			for _, omit := range []bool{false, true} {
				p := driver.NamespacePage{Limit: limit, After: "n01000", OmitMetadata: omit}
				q, args, err := namespacePageQuery(s.Dialect(), false, nil, p)
				if err != nil {
					t.Fatal(err)
				}
				if !regexp.MustCompile(`WHERE name( COLLATE "C")? > \S+ ORDER BY name( COLLATE "C")? LIMIT 10$`).MatchString(q) {
					t.Errorf("page statement: %s", q)
				}
				got, err := s.ListNamespaces(ctx, p.Options()...)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, ns := range got {
					names = append(names, ns.Name)
				}
				var want []string
				for i := 1001; i <= 1000+limit; i++ {
					want = append(want, fmt.Sprintf("n%05d", i))
				}
				if !slices.Equal(names, want) {
					t.Fatalf("page after n01000: %q, want %q", names, want)
				}
				plan := explainPlan(t, s, "EXPLAIN (ANALYZE, COSTS OFF) ", q, args)
				t.Logf("omit metadata %v: %s\n%s", omit, q, plan)
				if s.Dialect() == "postgres" {
					if !strings.Contains(plan, "Index Scan using namespaces_name_key") || !strings.Contains(plan, "Index Cond: (name > ") ||
						strings.Contains(plan, "Sort") {
						t.Errorf("not a keyset scan of the name index:\n%s", plan)
					}
					if read, removed := pgRowsRead(plan, `Index Scan`); read > limit || removed > 0 {
						t.Errorf("the page read %d rows and filtered %d, want at most %d and none", read, removed, limit)
					}
					continue
				}
				if !regexp.MustCompile(`SEARCH namespaces USING (COVERING )?INDEX \S+ \(name>\?\)`).MatchString(plan) ||
					strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("not a keyset search of the name index:\n%s", plan)
				}
			}
		})
	}
}
