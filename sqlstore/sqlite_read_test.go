package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestUnpackEntry: the packed column of GetEntry and GetEntries reads back
// into every field, the metadata by its length in bytes (commas and
// multi-byte characters in it and in the value), the parts left empty as
// what they stand for (updated_at as created_at, no expiry,
// create_revision as revision), and a malformed one is an error.
func TestUnpackEntry(t *testing.T) {
	md, val := `{"a":"é,ü 😀","b":[1,2]}`, `{"x":",,,","y":"日本"}`
	s := "7,-1000,1700000000000001,1700000000000002,42,3," + strconv.Itoa(len(md)) + "," + md + "," + val
	var r row
	if err := unpackEntry(s, &r); err != nil {
		t.Fatal(err)
	}
	want := row{Value: []byte(val), Metadata: []byte(md), Version: 7, Revision: 42, CreateRevision: 3,
		CreatedAt: fromMicros(-1000), UpdatedAt: fromMicros(1700000000000001), ExpiresAt: fromMicros(1700000000000002)}
	same := func(r, want row) bool {
		return string(r.Value) == string(want.Value) && string(r.Metadata) == string(want.Metadata) && r.Version == want.Version &&
			r.Revision == want.Revision && r.CreateRevision == want.CreateRevision && r.CreatedAt.Equal(want.CreatedAt) &&
			r.UpdatedAt.Equal(want.UpdatedAt) && r.ExpiresAt.Equal(want.ExpiresAt) && r.ExpiresAt.IsZero() == want.ExpiresAt.IsZero()
	}
	if !same(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	if cap(r.Metadata) != len(md) {
		t.Errorf("metadata cap %d, want %d: an append to it would write over the value", cap(r.Metadata), len(md))
	}
	// The empty parts.
	r = row{}
	want = row{Value: []byte("null"), Metadata: []byte("{}"), Version: 1, Revision: 5, CreateRevision: 5,
		CreatedAt: fromMicros(1700000000000009), UpdatedAt: fromMicros(1700000000000009)}
	if err := unpackEntry("1,1700000000000009,,,5,,2,{},null", &r); err != nil || !same(r, want) {
		t.Errorf("empty parts: %+v %v\nwant %+v", r, err, want)
	}
	// Each alone.
	r = row{}
	want = row{Value: []byte("1"), Metadata: []byte("{}"), Version: 2, Revision: 9, CreateRevision: 9,
		CreatedAt: fromMicros(10), UpdatedAt: fromMicros(20), ExpiresAt: fromMicros(30)}
	if err := unpackEntry("2,10,20,30,9,,2,{},1", &r); err != nil || !same(r, want) {
		t.Errorf("create_revision empty: %+v %v\nwant %+v", r, err, want)
	}
	r = row{}
	want = row{Value: []byte("1"), Metadata: []byte("{}"), Version: 2, Revision: 9, CreateRevision: 4,
		CreatedAt: fromMicros(10), UpdatedAt: fromMicros(10)}
	if err := unpackEntry("2,10,,,9,4,2,{},1", &r); err != nil || !same(r, want) {
		t.Errorf("updated_at, expires_at empty: %+v %v\nwant %+v", r, err, want)
	}
	for _, bad := range []string{"", "1,2,3", "1,2,3,4,5,6,x,{},1", "1,2,3,4,5,6,9,{},1", "1,2,3,4,5,6,-1,{},1",
		"a,2,3,4,5,6,2,{},1", "1,2,3,4,5,6,2,{}1", "1,2,3,4,5,6,2,{}", ",2,3,4,5,6,2,{},1", "1,,3,4,5,6,2,{},1",
		"1,2,3,4,,6,2,{},1", "1,2,3,4,5,6,,{},1", "1,2,3,4,5,6,2,", "1,2,3,4,5,6"} {
		if err := unpackEntry(bad, &r); !errors.Is(err, errPacked) {
			t.Errorf("unpackEntry(%q): %v, want errPacked", bad, err)
		}
	}
}

// TestSQLiteGetPacked: Get and GetMany read values and metadata with
// commas, escapes and multi-byte characters, and the expiry, as they were
// written (json() normalises spacing only).
func TestSQLiteGetPacked(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, testdb.SQLiteFile(t))
	defer s.Close()
	in := storage.InNamespace("packed")
	if err := s.CreateNamespace(ctx, "packed"); err != nil {
		t.Fatal(err)
	}
	md := json.RawMessage(`{"a":"é,ü 😀 \"q\" \\ \n","b":[1,2.5e300,-0.0]}`)
	val := json.RawMessage(`{"x":",,,","y":"日本\u0001\t","z":{"n":123456789012345678901234567890}}`)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	if err := s.Set(ctx, "k,1", val, in, storage.WithMetadata(md), storage.ExpiresAt(exp)); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "k2", json.RawMessage(`"plain"`), in); err != nil {
		t.Fatal(err)
	}
	check := func(what string, e storage.Entry, key, value, meta string, expires time.Time) {
		t.Helper()
		if e.Key != key || string(e.Value) != value || string(e.Metadata) != meta || !e.ExpiresAt.Equal(expires) ||
			e.Version != 1 || e.Revision == 0 || e.CreateRevision != e.Revision || e.CreatedAt.IsZero() || !e.UpdatedAt.Equal(e.CreatedAt) {
			t.Errorf("%s: %+v", what, e)
		}
	}
	wantVal := `{"x":",,,","y":"日本\u0001\t","z":{"n":123456789012345678901234567890}}`
	wantMD := `{"a":"é,ü 😀 \"q\" \\ \n","b":[1,2.5e300,-0.0]}`
	e, err := s.Get(ctx, "k,1", in)
	if err != nil {
		t.Fatal(err)
	}
	check("Get", e, "k,1", wantVal, wantMD, exp)
	e, err = s.Get(ctx, "k2", in)
	if err != nil {
		t.Fatal(err)
	}
	check("Get k2", e, "k2", `"plain"`, `{}`, time.Time{})
	// GetEntry spells the JSONB of {} x'0c' (its usual metadata, read
	// without json()).
	var hex string
	if err := s.eng.reader().queryRows(ctx, "SELECT hex(metadata) FROM entries WHERE key = 'k2'", nil, func(r rowScanner) error {
		return r.Scan(&hex)
	}); err != nil || hex != "0C" {
		t.Errorf("the metadata {} is stored as x'%s' (%v), GetEntry expects x'0c'", hex, err)
	}
	r, err := s.GetMany(ctx, []string{"k2", "k,1", "none"}, in)
	if err != nil || len(r.Entries) != 2 {
		t.Fatalf("GetMany: %+v %v", r, err)
	}
	check("GetMany", r.Entries["k,1"], "k,1", wantVal, wantMD, exp)
	check("GetMany k2", r.Entries["k2"], "k2", `"plain"`, `{}`, time.Time{})
}

// TestListExpiredUnswept: List (and Has) hides the entries that have expired and
// that the sweeper has not deleted yet, whether the expired rows are in
// the listed namespace or only in another one (listLiveCond's two
// branches), with one span or several (a UNION ALL), and reads the
// primary key's index alone on SQLite (no lookup of the table's rows).
func TestListExpiredUnswept(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s, advance := openUnswept(t, c.dsn(t), "la", "lb")
			a, b := storage.InNamespace("la"), storage.InNamespace("lb")
			v := json.RawMessage(`1`)
			for _, k := range []string{"a1", "a2", "a3", "b1", "b2"} {
				if err := s.Set(ctx, k, v, a); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Set(ctx, "x", v, b, storage.WithTTL(time.Minute)); err != nil {
				t.Fatal(err)
			}
			list := func(what string, want []string, opts ...storage.Option) {
				t.Helper()
				r, err := s.List(ctx, append([]storage.Option{a}, opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(r.Keys, want) {
					t.Errorf("%s: %q, want %q", what, r.Keys, want)
				}
			}
			spans := storage.InKeyRanges(storage.PrefixRange("a"), storage.PrefixRange("b"))
			advance(2 * time.Minute) // lb's x expired, unswept
			list("expired elsewhere", []string{"a1", "a2", "a3", "b1", "b2"})
			has := func(what, key string, want bool) {
				t.Helper()
				if got, err := s.Has(ctx, key, a); err != nil || got != want {
					t.Errorf("%s: Has(%q) = %v, %v; want %v", what, key, got, err, want)
				}
			}
			has("expired elsewhere", "a2", true)
			list("expired elsewhere, spans", []string{"a1", "a2", "a3", "b1", "b2"}, spans)
			for _, k := range []string{"a2", "b1"} {
				if err := s.Set(ctx, k, v, a, storage.WithTTL(time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			list("live", []string{"a1", "a2", "a3", "b1", "b2"})
			advance(time.Minute)
			list("expired here", []string{"a1", "a3", "b2"})
			has("expired here", "a2", false)
			has("expired here, live", "a1", true)
			has("missing", "zz", false)
			list("expired here, spans", []string{"a1", "a3", "b2"}, spans)
			list("expired here, pattern", []string{"a1", "a3"}, storage.Pattern("a*"))
			list("expired here, literal", nil, storage.Pattern("a2"))
			list("expired here, limit", []string{"a1", "a3"}, storage.Limit(2))
			if s.Dialect() != "sqlite" {
				return
			}
			o, err := driver.ResolveOptions("list", driver.AllOptionKinds, []storage.Option{a, storage.Pattern("a*"), storage.Limit(2)})
			if err != nil {
				t.Fatal(err)
			}
			q, args, err := s.listQuery(o)
			if err != nil {
				t.Fatal(err)
			}
			plan := explainPlan(t, s, "EXPLAIN (ANALYZE, COSTS OFF) ", q, args)
			if !strings.Contains(plan, "INDEX sqlite_autoindex_entries_1") {
				t.Errorf("List does not search the primary key's index:\n%s", plan)
			}
			checkLiveTestBounded(t, s, "List", q, args)
		})
	}
}

// checkLiveTestBounded checks, on SQLite, that statement q's test of
// expiry costs the same whatever the number of expired rows not yet swept
// (in any namespace): it never builds the list of every expired row (a
// LIST SUBQUERY, which made each List and Has of every namespace scan
// them all: 14 ms per Has with 50,000 expired rows elsewhere, against
// 0.2 ms), and the entry's row is read only when a column of it is needed
// (a DeferredSeek: with nothing expired, the index alone).
func checkLiveTestBounded(t *testing.T, s *Store, what, q string, args []any) {
	t.Helper()
	if plan := explainPlan(t, s, "", q, args); strings.Contains(plan, "LIST SUBQUERY") {
		t.Errorf("%s lists every expired row of the store:\n%s", what, plan)
	}
	var ops []string
	var p1s, p2s []int64
	err := s.eng.reader().queryRows(t.Context(), "EXPLAIN "+q, args, func(r rowScanner) error {
		var addr, p1, p2, p3 int64
		var op, p5 string
		var p4, comment any
		if err := r.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			return err
		}
		ops, p1s, p2s = append(ops, op), append(p1s, p1), append(p2s, p2)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ops, "DeferredSeek") {
		t.Errorf("%s reads each entry's row before it needs it (no DeferredSeek): %v", what, ops)
	}
	// The row put off must not be read before the once-only subquery
	// that asks whether any row has expired: SQLite orders an OR's terms
	// itself, and read expires_at first (every List and Has read its rows).
	if d := slices.Index(ops, "DeferredSeek"); d >= 0 {
		for i := d + 1; i < len(ops) && ops[i] != "Once"; i++ {
			if ops[i] == "Column" && p1s[i] == p2s[d] {
				t.Errorf("%s reads the entry's row before it asks whether any row has expired: %v", what, ops)
				break
			}
		}
	}
}

// TestExpiredElsewhereBounded: on SQLite, List and Has in one namespace
// give the same answers, by statements whose cost does not depend on the
// expired rows another namespace holds before the sweeper deletes them
// (checkLiveTestBounded), with and without such rows.
func TestExpiredElsewhereBounded(t *testing.T) {
	for _, c := range configs {
		if !strings.HasPrefix(c.name, "sqlite") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s, advance := openUnswept(t, c.dsn(t), "ea", "eb")
			a, b := storage.InNamespace("ea"), storage.InNamespace("eb")
			for _, k := range []string{"k1", "k2", "k3"} {
				if err := s.Set(ctx, k, json.RawMessage(`1`), a); err != nil {
					t.Fatal(err)
				}
			}
			items := make([]storage.Item, 2000)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("x%05d", i), Value: json.RawMessage(`2`)}
			}
			if res, err := s.SetMany(ctx, items, b, storage.WithTTL(time.Minute)); err != nil || !res.OK() {
				t.Fatal(res, err)
			}
			check := func(when string) {
				t.Helper()
				r, err := s.List(ctx, a)
				if err != nil || !slices.Equal(r.Keys, []string{"k1", "k2", "k3"}) {
					t.Fatalf("%s: List = %v, %v", when, r.Keys, err)
				}
				if ok, err := s.Has(ctx, "k2", a); err != nil || !ok {
					t.Fatalf("%s: Has = %v, %v", when, ok, err)
				}
				o, err := driver.ResolveOptions("list", driver.AllOptionKinds, []storage.Option{a})
				if err != nil {
					t.Fatal(err)
				}
				q, args, err := s.listQuery(o)
				if err != nil {
					t.Fatal(err)
				}
				checkLiveTestBounded(t, s, when+": List", q, args)
			}
			check("nothing expired")
			advance(2 * time.Minute)
			check("2000 expired in another namespace")
		})
	}
}

// openUnswept opens a store on dsn whose clock stands still until advance
// moves it and whose sweeper never runs (expired entries stay until
// swept by hand), with the namespaces nss created.
func openUnswept(t *testing.T, dsn string, nss ...string) (s *Store, advance func(time.Duration)) {
	t.Helper()
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s = openTest(t, dsn, WithClock(clock), WithSweepInterval(-1))
	t.Cleanup(func() { s.Close() })
	for _, ns := range nss {
		if err := s.CreateNamespace(t.Context(), ns); err != nil {
			t.Fatal(err)
		}
	}
	return s, func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}
