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

// TestPGListHasIndexOnly checks that List and Has read PostgreSQL's primary
// key alone once the table is vacuumed: both test each entry's expiry, and
// with expires_at outside the primary key's index (before migration 00025)
// List read the heap tuple of every listed key (an Index Scan with a
// Filter: 0.52-0.58 times the throughput of a program whose key listing is
// an Index Only Scan).
func TestPGListHasIndexOnly(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	ctx := t.Context()
	s := openTest(t, newPGSchema(t))
	defer s.Close()
	in := storage.InNamespace("io")
	items := make([]storage.Item, 3000)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%05d", i), Value: json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":"%0200d"}`, i, i))}
	}
	if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
		t.Fatal(err, res.Err())
	}
	// One entry with an expiry still to come, which the index answers too.
	// Its update leaves a dead tuple: INDEX_CLEANUP ON below, or VACUUM may
	// bypass the index cleanup of so few and leave its heap page not
	// all-visible.
	if err := s.Set(ctx, "k01000", map[string]any{"n": 1}, in, storage.WithTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.eng.writer().exec(ctx, "VACUUM (ANALYZE, INDEX_CLEANUP ON) entries"); err != nil {
		t.Fatal(err)
	}
	// The plan's shape, not its heap fetches: an index-only scan reads the
	// heap for pages not marked all-visible, and VACUUM cannot mark them
	// while another session's snapshot (another test's, on a shared server)
	// may still need their older tuples (CI saw Heap Fetches: 102).
	check := func(what, plan string) {
		t.Helper()
		if !strings.Contains(plan, "Index Only Scan using entries_pkey") {
			t.Errorf("%s does not read the primary key's index alone:\n%s", what, plan)
		}
	}

	opts := []storage.Option{in, storage.Pattern("k01*"), storage.Limit(100)}
	q, args := listSQL(t, s, opts)
	check("List", explainPlan(t, s, "EXPLAIN (ANALYZE, COSTS OFF) ", q, args))
	res, err := s.List(ctx, opts...)
	if err != nil || len(res.Keys) != 100 || res.Keys[0] != "k01000" {
		t.Fatalf("List = %d keys from %q, %v", len(res.Keys), res.Keys[:min(1, len(res.Keys))], err)
	}

	check("Has", explainPlan(t, s, "EXPLAIN (ANALYZE, COSTS OFF) ", pgdb.HasEntrySQL, []any{"io", "k01000", time.Now()}))
	for _, c := range []struct {
		key  string
		want bool
	}{{"k01000", true}, {"k02999", true}, {"k03000", false}} {
		if ok, err := s.Has(ctx, c.key, in); err != nil || ok != c.want {
			t.Errorf("Has(%s) = %v, %v; want %v", c.key, ok, err, c.want)
		}
	}
}
