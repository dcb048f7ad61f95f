package sqlstore

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/sqlitedb"
)

// TestPointStatementParts measures what the parts of SQLite's point-read
// statements cost (HasEntry, GetEntry, of a present and a missing key):
// each statement as the reader pool runs it ("engine"), with the
// namespace named by its id instead of its name ("byid": right on a hit
// alone), by its id with a probe of namespaces that runs only when the key
// is missing ("byid+probe", the form of PostgreSQL's HasEntryByID), with
// Has's expiry test removed ("-live"), and raw SQL's
// statement (bench/peers' modernc program) on a table of its own in the
// same file, each run through the driver on one reader connection (one
// page cache for all) in rotating rounds in one process. It reports the
// CPU per statement and the median of the per-round ratios to the first
// of each group, and asserts nothing but that each answers as the
// engine's statement does. Run it with STORAGE_READCOST=1
// (STORAGE_READCOST_N, STORAGE_READCOST_ROUNDS as TestReadCostVsRaw):
//
//	STORAGE_READCOST=1 go test -run TestPointStatementParts -v ./sqlstore
func TestPointStatementParts(t *testing.T) {
	n, rounds := measureParams(t, "STORAGE_READCOST", 100000, 9)
	ctx := t.Context()
	s := loadReadCostEngine(t, filepath.Join(t.TempDir(), "engine.db"), n)
	w := s.eng.(*sqliteEngine).w
	_, err := w.ExecContext(ctx, rawKVTable+
		"INSERT INTO kv SELECT 1, key, value, metadata, version, created_at, updated_at FROM entries ORDER BY key;"+rawKVIndex)
	must(t, err)
	nsi, err := s.readNamespace(ctx, "bench")
	must(t, err)
	byName := "JOIN namespaces n ON n.id = e.namespace_id\n    WHERE n.name = ?1 AND"
	if !strings.Contains(sqlitedb.HasEntrySQL, byName) {
		t.Fatalf("HasEntry moved: %s", sqlitedb.HasEntrySQL)
	}
	hasLive := "AND CASE WHEN NOT EXISTS"
	_, hasTail, _ := strings.Cut(sqlitedb.HasEntrySQL, hasLive)
	hasTail = hasLive + hasTail
	if !strings.HasSuffix(strings.TrimSpace(hasTail), ") AS found") {
		t.Fatalf("HasEntry's live test moved: %s", sqlitedb.HasEntrySQL)
	}
	hasByID := strings.Replace(sqlitedb.HasEntrySQL, byName, "WHERE e.namespace_id = ?1 AND", 1)
	hasNoLive := strings.Replace(sqlitedb.HasEntrySQL, strings.TrimSuffix(strings.TrimSpace(hasTail), ") AS found"), "", 1)
	hasProbe := "SELECT CASE WHEN EXISTS (SELECT 1 FROM entries e WHERE e.namespace_id = ?1 AND e.key = ?2 " +
		strings.TrimSuffix(strings.TrimSpace(hasTail), ") AS found") + ") THEN 1 WHEN EXISTS (SELECT 1 FROM namespaces WHERE id = ?1) THEN 0 END"
	getByID := strings.Replace(sqlitedb.GetEntrySQL, "JOIN namespaces n ON n.id = e.namespace_id\nWHERE n.name = ?1 AND", "WHERE e.namespace_id = ?1 AND", 1)
	if getByID == sqlitedb.GetEntrySQL {
		t.Fatalf("GetEntry moved: %s", sqlitedb.GetEntrySQL)
	}
	rawHas := `SELECT EXISTS (SELECT 1 FROM kv WHERE namespace_id = ?1 AND key = ?2)`
	rawGet := `SELECT CAST(json(value) AS TEXT), version FROM kv WHERE namespace_id = ?1 AND key = ?2`
	now := micros(s.now())
	byNameArgs := func(k string) []any { return []any{"bench", k, now} }
	byIDArgs := func(k string) []any { return []any{nsi.id, k, now} }
	rawArgs := func(k string) []any { return []any{int64(1), k} }
	type variant struct {
		name string
		q    string
		args func(k string) []any
	}
	rd := s.eng.reader()
	for _, g := range []struct {
		name     string
		miss     bool
		variants []variant
	}{
		{"has", false, []variant{{"engine", sqlitedb.HasEntrySQL, byNameArgs}, {"byid", hasByID, byIDArgs}, {"byid+probe", hasProbe, byIDArgs},
			{"-live", hasNoLive, byNameArgs}, {"raw", rawHas, rawArgs}}},
		{"has/miss", true, []variant{{"engine", sqlitedb.HasEntrySQL, byNameArgs}, {"byid", hasByID, byIDArgs}, {"byid+probe", hasProbe, byIDArgs},
			{"-live", hasNoLive, byNameArgs}, {"raw", rawHas, rawArgs}}},
		{"get", false, []variant{{"engine", sqlitedb.GetEntrySQL, byNameArgs}, {"byid", getByID, byIDArgs}, {"raw", rawGet, rawArgs}}},
		{"get/miss", true, []variant{{"engine", sqlitedb.GetEntrySQL, byNameArgs}, {"byid", getByID, byIDArgs}, {"raw", rawGet, rawArgs}}},
	} {
		rng := rand.New(rand.NewPCG(5, 6))
		names := make([]string, len(g.variants))
		answers := make([]string, len(g.variants))
		run := func(i int) {
			k := fmt.Sprintf("key%09d", rng.IntN(n))
			if g.miss {
				k = "nokey" + k
			}
			v := g.variants[i]
			got := 0
			var first any
			must(t, rd.queryRows(ctx, v.q, v.args(k), func(r rowScanner) error {
				got++
				if got == 1 {
					first = r.(*driverRow).vals[0]
				}
				return nil
			}))
			ans := fmt.Sprint(got)
			if strings.HasPrefix(g.name, "has") {
				ans = fmt.Sprint(first)
			}
			if answers[i] == "" {
				answers[i] = ans
			} else if answers[i] != ans {
				t.Fatalf("%s %s: answer %s, then %s", g.name, v.name, answers[i], ans)
			}
		}
		for i, v := range g.variants {
			names[i] = v.name
			run(i)
		}
		for i := range answers {
			if answers[i] != answers[0] {
				t.Fatalf("%s: %s answers %s, %s %s", g.name, names[i], answers[i], names[0], answers[0])
			}
		}
		t.Logf("%s (answer %s):%s", g.name, answers[0], partsRounds(names, rounds, 3000, run))
	}
}
