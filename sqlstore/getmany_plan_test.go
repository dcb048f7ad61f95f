package sqlstore

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/pgdb"
)

// TestGetManyPlanWithoutStatistics checks that PostgreSQL's GetMany looks
// its keys up in the primary key on a table loaded since its last ANALYZE:
// with e.key = ANY($keys), the planner, misled by the missing statistics,
// scanned every entry of the namespace and filtered out all but the keys
// asked for (40 ms instead of 0.4 for 100 keys of 10,000).
func TestGetManyPlanWithoutStatistics(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	ctx := t.Context()
	s := openTest(t, newPGSchema(t))
	defer s.Close()
	// No ANALYZE while the test runs, by autovacuum either.
	if _, err := s.eng.writer().exec(ctx, "ALTER TABLE entries SET (autovacuum_enabled = false)"); err != nil {
		t.Fatal(err)
	}
	in := storage.InNamespace("plan")
	items := make([]storage.Item, 5000)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%05d", i), Value: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
	}
	if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
		t.Fatal(err, res.Err())
	}
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = items[i*37].Key
	}
	plan := explainPlan(t, s, "EXPLAIN (ANALYZE) ", pgdb.GetEntriesSQL, []any{keys, time.Now(), "plan"})
	if !strings.Contains(plan, "entries_pkey") || strings.Contains(plan, "Rows Removed by Filter") {
		t.Errorf("GetMany does not look its keys up in the primary key:\n%s", plan)
	}
	r, err := s.GetMany(ctx, keys, in)
	if err != nil || len(r.Entries) != len(keys) || len(r.Errors) != 0 {
		t.Fatalf("GetMany: %d entries, errors %v, %v", len(r.Entries), r.Errors, err)
	}
}
