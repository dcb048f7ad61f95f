package sqlstore

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/pgdb"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestPGPointByIDProbe checks the plan of HasEntryByID
// (queries/postgres/entries.sql), custom and generic (pgx keeps the
// statements prepared; PostgreSQL plans generically after five calls):
// the probe of namespaces runs once, on a hit too (the entry's branch
// wants the namespace's row to have the id, migration 00034: an unlinked
// namespace's entries keep its old id until purged), and a stale id
// returns no row without reading an entry.
func TestPGPointByIDProbe(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	ctx := t.Context()
	dsn := testdb.Postgres(t, "t")
	s := openTest(t, dsn)
	defer s.Close()
	in := storage.InNamespace("p")
	items := make([]storage.Item, 2000)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%04d", i), Value: i}
	}
	if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
		t.Fatal(err, res.Err())
	}
	n, err := s.readNamespace(ctx, "p")
	must(t, err)
	conn, err := pgx.Connect(ctx, dsn)
	must(t, err)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE entries, namespaces"); err != nil {
		t.Fatal(err)
	}
	now := s.now().Format("2006-01-02 15:04:05.999999Z07")
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		for _, st := range []struct{ name, sql string }{{"has", pgdb.HasEntryByIDSQL}} {
			if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, "PREPARE p_"+st.name+"_"+mode+"(bigint, text, timestamptz) AS "+st.sql); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name      string
				id        int64
				key       string
				rows      int
				nsScanned bool
				entries   bool // the entries' index read
			}{
				// The namespace's row is probed on a hit too (once): an
				// unlinked namespace's entries keep its old id until
				// purged (migration 00034); a stale id reads no entry.
				{"hit", n.id, "k0007", 1, true, true},
				{"miss", n.id, "nope", 1, true, true},
				{"stale", n.id + 1000, "k0007", 0, true, false},
			} {
				var plan []byte
				q := fmt.Sprintf("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) EXECUTE p_%s_%s(%d, '%s', '%s')", st.name, mode, c.id, c.key, now)
				if err := conn.QueryRow(ctx, q).Scan(&plan); err != nil {
					t.Fatal(err)
				}
				var top []struct{ Plan planNode }
				if err := json.Unmarshal(plan, &top); err != nil || len(top) != 1 {
					t.Fatalf("%s: %v", plan, err)
				}
				where := fmt.Sprintf("%s/%s/%s", mode, st.name, c.name)
				if got := top[0].Plan.ActualRows; got != float64(c.rows) {
					t.Errorf("%s: %v rows, want %d", where, got, c.rows)
				}
				ns := top[0].Plan.find("namespaces")
				if ns == nil {
					t.Fatalf("%s: no scan of namespaces in %s", where, plan)
				}
				if ran := ns.ActualLoops > 0; ran != c.nsScanned {
					t.Errorf("%s: namespaces scanned %v times, want scanned %v:\n%s", where, ns.ActualLoops, c.nsScanned, plan)
				}
				if e := top[0].Plan.find("entries"); e == nil || (e.ActualLoops == 1) != c.entries || !strings.Contains(e.NodeType, "Index") {
					t.Errorf("%s: entries read %+v, want one index scan %v:\n%s", where, e, c.entries, plan)
				}
				if testing.Verbose() && c.name != "stale" {
					t.Logf("%s:\n%s", where, plan)
				}
			}
		}
	}
}

// planNode is a node of EXPLAIN's JSON plan.
type planNode struct {
	NodeType    string     `json:"Node Type"`
	Relation    string     `json:"Relation Name"`
	ActualRows  float64    `json:"Actual Rows"`
	ActualLoops float64    `json:"Actual Loops"`
	Plans       []planNode `json:"Plans"`
}

// find returns the first node, depth first, that reads relation rel.
func (p *planNode) find(rel string) *planNode {
	if p.Relation == rel {
		return p
	}
	for i := range p.Plans {
		if f := p.Plans[i].find(rel); f != nil {
			return f
		}
	}
	return nil
}
