package sqlstore

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/sqlitedb"
)

// TestTopStatementParts measures what each part of the SQLite statement
// of Query(n in [lo, lo+100)) sorted by n descending limit 20 costs (the
// top20 of TestReadCostVsRaw): the statement buildQuery writes, run as it
// is, with parts removed or replaced by hand, and raw SQL's statement
// (bench/peers' modernc program) on a table of its own in the same file
// (kv, the same entries, one expression index on n ending in the key),
// each prepared once on one reader connection of the store's file (one
// page cache for all) and run in rotating rounds in one process. It
// reports the CPU per statement (reading its rows with database/sql into
// *any) and the median of the per-round ratios to the engine's
// statement, and asserts nothing but the parts' presence (a part
// buildQuery no longer writes fails the test, so that the figures name
// real SQL); "casecol" reads the sort's value as it did before
// IndexPinnedValueExpr, through the CASE on the rank. Run it with
// STORAGE_READCOST=1 (STORAGE_READCOST_N,
// STORAGE_READCOST_ROUNDS as TestReadCostVsRaw):
//
//	STORAGE_READCOST=1 go test -run TestTopStatementParts -v ./sqlstore
func TestTopStatementParts(t *testing.T) {
	n, rounds := measureParams(t, "STORAGE_READCOST", 100000, 9)
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "engine.db")
	s := loadReadCostEngine(t, path, n)
	w := s.eng.(*sqliteEngine).w
	_, err := w.ExecContext(ctx, rawKVTable+
		"INSERT INTO kv SELECT 1, key, value, metadata, version, created_at, updated_at FROM entries ORDER BY key;"+rawKVIndex)
	must(t, err)
	o, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor,
		[]storage.Option{storage.InNamespace("bench"), storage.SortBy(storage.Desc("n")), storage.Limit(20)})
	must(t, err)
	nsi, err := s.readNamespace(ctx, "bench")
	must(t, err)
	p, err := prepareQuery(storage.And(storage.Gte("n", 1), storage.Lt("n", 101)), o)
	must(t, err)
	q, args, _, err := s.buildQuery(ctx, &p, o, nsi, s.now())
	must(t, err)
	t.Logf("engine statement: %s %v", q, args)
	packed := sqliteCompiler.EntryColumns()[1] // the packed column
	md := "CASE WHEN metadata = x'0c' THEN '2,{}' ELSE concat(octet_length(json(metadata)), ',', json(metadata)) END, "
	numCol := ", ix.ix_num FROM" // the sort's value (IndexPinnedValueExpr)
	threeCols := ", CAST(ix.ix_rank AS INTEGER), (CASE WHEN ix.ix_rank = 4 THEN ix.ix_num END), (CASE WHEN ix.ix_rank = 5 THEN ix.ix_str END)"
	live := "(expires_at IS NULL OR expires_at > ?)"
	for _, part := range []string{packed, md, numCol, live, "LIMIT 21", " ORDER BY "} {
		if !strings.Contains(q, part) || len(args) != 4 {
			t.Fatalf("the statement's parts moved (%s): %s %v", part, q, args)
		}
	}
	// args: lo, hi, the field's name (indexDrive.fieldLive), now.
	all := func(lo, hi float64) []any { return append([]any{lo, hi}, args[2:]...) }
	// The checks of the cached ids against the names that the statement
	// held until migration 00028.
	where, order, _ := strings.Cut(q, " ORDER BY ")
	idChecks := where + " AND " + strconv.FormatInt(nsi.fields["n"], 10) + " = (SELECT field_id FROM index_fields WHERE namespace_id = " +
		strconv.FormatInt(nsi.id, 10) + " AND field = 'n') AND namespace_id = (SELECT id FROM namespaces WHERE name = 'bench') ORDER BY " + order
	variants := []struct {
		name string
		q    string
		args func(lo, hi float64) []any
	}{
		{"engine", q, all},
		{"casecol", strings.Replace(q, numCol, ", (CASE WHEN ix.ix_rank = 4 THEN ix.ix_num END) FROM", 1), all},
		{"3sortcols", strings.Replace(q, numCol, threeCols+" FROM", 1), all},
		{"-sortcol", strings.Replace(q, numCol, " FROM", 1), all},
		{"limit20", strings.Replace(q, "LIMIT 21", "LIMIT 20", 1), all},
		{"+idchecks", idChecks, all},
		{"-expiry", strings.Replace(q, live, "? IS NOT NULL", 1), all},
		{"-metadata", strings.Replace(q, md, "", 1), all},
		{"json+version", strings.Replace(q, packed, "CAST(json(value) AS TEXT), version", 1), all},
		{"json,-sortcol", strings.Replace(strings.Replace(q, packed, "CAST(json(value) AS TEXT), version", 1), numCol, " FROM", 1), all},
		{"key only", strings.Replace(q, packed+numCol, "1 FROM", 1), all},
		{"-liveguard", withoutLiveGuard(t, q), all},
		{"raw", `SELECT key, CAST(json(value) AS TEXT), version FROM kv
WHERE namespace_id = ?1 AND value ->> '$.n' >= ?2 AND value ->> '$.n' < ?3
ORDER BY value ->> '$.n' DESC, key DESC LIMIT 20`, func(lo, hi float64) []any { return []any{1, lo, hi} }},
	}
	conn, err := s.eng.(*sqliteEngine).r.Conn(ctx) // one connection: one page cache
	must(t, err)
	defer func() { _ = conn.Close() }()
	sts := make([]*sql.Stmt, len(variants))
	names := make([]string, len(variants))
	for i, v := range variants {
		if sts[i], err = conn.PrepareContext(ctx, v.q); err != nil {
			t.Fatalf("%s: %v\n%s", v.name, err, v.q)
		}
		defer func() { _ = sts[i].Close() }()
		names[i] = v.name
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var dst []any
	run := func(i int) {
		lo := float64(rng.IntN(n/10 - 100))
		rows, err := sts[i].QueryContext(ctx, variants[i].args(lo, lo+100)...)
		must(t, err)
		cols, err := rows.Columns()
		must(t, err)
		for len(dst) < len(cols) {
			dst = append(dst, new(any))
		}
		got := 0
		for rows.Next() {
			must(t, rows.Scan(dst[:len(cols)]...))
			got++
		}
		must(t, rows.Err())
		must(t, rows.Close())
		if got < 20 {
			t.Fatalf("%s: %d rows, want 20 or 21", variants[i].name, got)
		}
	}
	t.Log(partsRounds(names, rounds, 500, run))
}

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
