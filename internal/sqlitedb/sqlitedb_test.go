package sqlitedb_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/mycelia-kernel/storage/internal/sqlitedb"
	"github.com/mycelia-kernel/storage/schema"
)

// open returns a migrated in-memory database on one connection (one
// connection: one in-memory database) with foreign keys on.
func open(t *testing.T) (*sql.DB, *sqlitedb.Queries) {
	t.Helper()
	db, err := sql.Open("sqlite", "file::memory:?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := schema.Up(context.Background(), schema.SQLite, db); err != nil {
		t.Fatal(err)
	}
	return db, sqlitedb.New(db)
}

func ptr[T any](v T) *T { return &v }

// jsonEq compares two JSON texts by meaning.
// packedEntry is GetEntry's packed column taken apart: version,
// created_at, updated_at ("" when it equals created_at), expires_at (""
// for none), revision, create_revision ("" when it equals revision) and
// the metadata's length, each followed by a comma, then the metadata's
// JSON, a comma and the value's.
type packedEntry struct {
	nums            []string
	metadata, value string
}

func getEntry(t *testing.T, q *sqlitedb.Queries, ns, key string) packedEntry {
	t.Helper()
	packed, err := q.GetEntry(context.Background(), sqlitedb.GetEntryParams{Namespace: ns, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return unpack(t, packed)
}

func unpack(t *testing.T, packed string) packedEntry {
	t.Helper()
	f := strings.SplitN(packed, ",", 8)
	if len(f) != 8 {
		t.Fatalf("GetEntry = %q: want 7 comma-terminated numbers, then JSON", packed)
	}
	n, err := strconv.Atoi(f[6])
	if err != nil || n >= len(f[7]) || f[7][n] != ',' {
		t.Fatalf("GetEntry = %q: bad metadata length %q", packed, f[6])
	}
	return packedEntry{nums: f[:7], metadata: f[7][:n], value: f[7][n+1:]}
}

func jsonEq(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

// checkCounts compares every namespace's kept entry count (namespace_counts:
// entry_count and the change log's entries not folded into it yet) with a
// real count, and StoreStats with the total.
func checkCounts(t *testing.T, db *sql.DB, q *sqlitedb.Queries) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(`SELECT n.name, n.entry_count, (SELECT count(*) FROM entries e WHERE e.namespace_id = n.id) FROM namespace_counts n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var name string
		var kept, real int64
		if err := rows.Scan(&name, &kept, &real); err != nil {
			t.Fatal(err)
		}
		if kept != real {
			t.Fatalf("namespace %q: entry_count = %d, real count %d", name, kept, real)
		}
		total += real
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	st, err := q.StoreStats(ctx, time.Now().UnixMicro())
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != total {
		t.Fatalf("StoreStats.Entries = %d, want %d", st.Entries, total)
	}
}

func entryCount(t *testing.T, q *sqlitedb.Queries, ns string) int64 {
	t.Helper()
	n, err := q.GetNamespace(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	return n.EntryCount
}

func TestSingleEntryStatements(t *testing.T) {
	ctx := context.Background()
	db, q := open(t)

	// A write to a missing namespace affects nothing and returns no row.
	if _, err := q.UpsertEntry(ctx, sqlitedb.UpsertEntryParams{Namespace: "app", Key: "k", Value: `1`, Now: 10}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("UpsertEntry into a missing namespace: %v, want sql.ErrNoRows", err)
	}
	if _, err := q.InsertEntry(ctx, sqlitedb.InsertEntryParams{Namespace: "app", Key: "k", Value: `1`, Now: 10}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("InsertEntry into a missing namespace: %v, want sql.ErrNoRows", err)
	}
	if err := q.EnsureNamespace(ctx, sqlitedb.EnsureNamespaceParams{Name: "app", Now: 5}); err != nil {
		t.Fatal(err)
	}
	if err := q.EnsureNamespace(ctx, sqlitedb.EnsureNamespaceParams{Name: "app", Now: 6}); err != nil {
		t.Fatalf("EnsureNamespace twice: %v", err)
	}

	// Upsert: insert, then the DO UPDATE path.
	vr, err := q.UpsertEntry(ctx, sqlitedb.UpsertEntryParams{Namespace: "app", Key: "k", Value: `{"a": 1}`, Now: 10})
	v := vr.Version
	if err != nil || v != 1 || vr.Revision == 0 || vr.CreateRevision != vr.Revision {
		t.Fatalf("UpsertEntry = %d, %v; want 1", v, err)
	}
	if n := entryCount(t, q, "app"); n != 1 {
		t.Fatalf("entry_count after insert = %d, want 1", n)
	}
	first := vr
	vr, err = q.UpsertEntry(ctx, sqlitedb.UpsertEntryParams{Namespace: "app", Key: "k", Value: `{"a": 2}`, Metadata: ptr(`{"m": true}`), Now: 20})
	v = vr.Version
	if err != nil || v != 2 || vr.Revision != first.Revision+1 || vr.CreateRevision != first.Revision {
		t.Fatalf("second UpsertEntry = %d, %v; want 2", v, err)
	}
	// The DO UPDATE path must not fire the AFTER INSERT trigger.
	if n := entryCount(t, q, "app"); n != 1 {
		t.Fatalf("entry_count after an upsert that updated = %d, want 1 (AFTER INSERT trigger fired on DO UPDATE?)", n)
	}
	checkCounts(t, db, q)

	e := getEntry(t, q, "app", "k")
	jsonEq(t, "value", e.value, `{"a": 2}`)
	jsonEq(t, "metadata", e.metadata, `{"m": true}`)
	if e.nums[0] != "2" || e.nums[1] != "10" || e.nums[2] != "20" || e.nums[3] != "" || e.nums[4] != strconv.FormatInt(vr.Revision, 10) ||
		e.nums[5] != strconv.FormatInt(first.Revision, 10) {
		t.Fatalf("GetEntry = %+v: want version 2, created 10, updated 20, no expiry, revision %d, created at revision %d", e, vr.Revision, first.Revision)
	}
	// A nil metadata keeps what is stored.
	if vr, err := q.UpsertEntry(ctx, sqlitedb.UpsertEntryParams{Namespace: "app", Key: "k", Value: `"s"`, Now: 30}); err != nil || vr.Version != 3 {
		t.Fatalf("third UpsertEntry = %d, %v", vr.Version, err)
	}
	md, err := q.GetMetadata(ctx, sqlitedb.GetMetadataParams{Namespace: "app", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "kept metadata", md.Metadata, `{"m": true}`)
	if md.Version != 3 || md.CreatedAt != 10 || md.UpdatedAt != 30 {
		t.Fatalf("GetMetadata = %+v", md)
	}
	// ... and a new entry without metadata gets {}.
	if _, err = q.UpsertEntry(ctx, sqlitedb.UpsertEntryParams{Namespace: "app", Key: "fresh", Value: `null`, Now: 30}); err != nil {
		t.Fatal(err)
	}
	md, err = q.GetMetadata(ctx, sqlitedb.GetMetadataParams{Namespace: "app", Key: "fresh"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "new entry metadata", md.Metadata, `{}`)

	// Insert: no row on a conflict.
	if _, err := q.InsertEntry(ctx, sqlitedb.InsertEntryParams{Namespace: "app", Key: "k", Value: `0`, Now: 40}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("InsertEntry of an existing key: %v, want sql.ErrNoRows", err)
	}
	if vr, err := q.InsertEntry(ctx, sqlitedb.InsertEntryParams{Namespace: "app", Key: "k2", Value: `[1,2]`, Metadata: ptr(`{"x":1}`), Now: 40}); err != nil || vr.Version != 1 {
		t.Fatalf("InsertEntry = %d, %v", vr.Version, err)
	}
	checkCounts(t, db, q)

	found, err := q.HasEntry(ctx, sqlitedb.HasEntryParams{Namespace: "app", Key: "k2"})
	if err != nil || !found {
		t.Fatalf("HasEntry(k2) = %v, %v", found, err)
	}
	found, err = q.HasEntry(ctx, sqlitedb.HasEntryParams{Namespace: "app", Key: "nope"})
	if err != nil || found {
		t.Fatalf("HasEntry(nope) = %v, %v", found, err)
	}
	if vr, err := q.GetEntryVersion(ctx, sqlitedb.GetEntryVersionParams{Namespace: "app", Key: "k"}); err != nil || vr.Version != 3 {
		t.Fatalf("GetEntryVersion = %d, %v", vr.Version, err)
	}
	if _, err := q.GetEntry(ctx, sqlitedb.GetEntryParams{Namespace: "other", Key: "k"}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("GetEntry in a missing namespace: %v", err)
	}

	// Compare-and-swap.
	if _, err := q.UpdateEntryIf(ctx, sqlitedb.UpdateEntryIfParams{Namespace: "app", Key: "k", Value: `1`, ExpectedVersion: 2, Now: 50}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("UpdateEntryIf with a stale version: %v", err)
	}
	if vr, err := q.UpdateEntryIf(ctx, sqlitedb.UpdateEntryIfParams{Namespace: "app", Key: "k", Value: `1`, ExpectedVersion: 3, Now: 50}); err != nil || vr.Version != 4 {
		t.Fatalf("UpdateEntryIf = %d, %v", vr.Version, err)
	}
	md, _ = q.GetMetadata(ctx, sqlitedb.GetMetadataParams{Namespace: "app", Key: "k"})
	jsonEq(t, "metadata after CAS without metadata", md.Metadata, `{"m": true}`)
	if vr, err := q.UpdateEntryIf(ctx, sqlitedb.UpdateEntryIfParams{Namespace: "app", Key: "k", Value: `2`, Metadata: ptr(`{"n":2}`), ExpectedVersion: 4, Now: 60}); err != nil || vr.Version != 5 {
		t.Fatalf("UpdateEntryIf with metadata = %d, %v", vr.Version, err)
	}
	md, _ = q.GetMetadata(ctx, sqlitedb.GetMetadataParams{Namespace: "app", Key: "k"})
	jsonEq(t, "metadata after CAS with metadata", md.Metadata, `{"n": 2}`)

	// Metadata replacement, with and without an expected version.
	if vr, err := q.ReplaceMetadata(ctx, sqlitedb.ReplaceMetadataParams{Namespace: "app", Key: "k", Metadata: `{"r":1}`, Now: 70}); err != nil || vr.Version != 6 {
		t.Fatalf("ReplaceMetadata = %d, %v", vr.Version, err)
	}
	if _, err := q.ReplaceMetadata(ctx, sqlitedb.ReplaceMetadataParams{Namespace: "app", Key: "k", Metadata: `{}`, ExpectedVersion: 1, Now: 80}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("ReplaceMetadata with a stale version: %v", err)
	}
	if vr, err := q.ReplaceMetadata(ctx, sqlitedb.ReplaceMetadataParams{Namespace: "app", Key: "k", Metadata: `{"r":2}`, ExpectedVersion: 6, Now: 80}); err != nil || vr.Version != 7 {
		t.Fatalf("ReplaceMetadata with the right version = %d, %v", vr.Version, err)
	}
	e = getEntry(t, q, "app", "k")
	jsonEq(t, "metadata", e.metadata, `{"r":2}`)
	jsonEq(t, "value", e.value, `2`)

	// Deletes.
	if _, err := q.DeleteEntryIf(ctx, sqlitedb.DeleteEntryIfParams{Namespace: "app", Key: "k", ExpectedVersion: 6}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("DeleteEntryIf stale version: %v", err)
	}
	cur, _ := q.GetEntryVersion(ctx, sqlitedb.GetEntryVersionParams{Namespace: "app", Key: "k"})
	if _, err := q.DeleteEntryIf(ctx, sqlitedb.DeleteEntryIfParams{Namespace: "app", Key: "k", ExpectedRevision: cur.Revision - 1}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("DeleteEntryIf stale revision: %v", err)
	}
	if d, err := q.DeleteEntryIf(ctx, sqlitedb.DeleteEntryIfParams{Namespace: "app", Key: "k", ExpectedVersion: 7, ExpectedRevision: cur.Revision}); err != nil || d.Version != 7 || d.Revision != cur.Revision {
		t.Fatalf("DeleteEntryIf = %+v, %v", d, err)
	}
	if _, err := q.DeleteEntryIf(ctx, sqlitedb.DeleteEntryIfParams{Namespace: "app", Key: "k2"}); err != nil {
		t.Fatalf("DeleteEntryIf = %v", err)
	}
	if _, err := q.DeleteEntryIf(ctx, sqlitedb.DeleteEntryIfParams{Namespace: "app", Key: "k2"}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("DeleteEntryIf of a missing key: %v", err)
	}
	if n := entryCount(t, q, "app"); n != 1 {
		t.Fatalf("entry_count = %d, want 1", n)
	}
	checkCounts(t, db, q)
}

func TestBatchStatements(t *testing.T) {
	ctx := context.Background()
	db, q := open(t)

	items := `[["a", {"v":1}, {"m":1}], ["b", [1,2,3], {}], ["c", "text", {"m":3}]]`
	if rows, err := q.UpsertEntries(ctx, sqlitedb.UpsertEntriesParams{Namespace: "batch", Items: batchItems(t, items), Texts: batchTexts(t, items), Slots: batchSlots(t, items), Now: 1}); err != nil || len(rows) != 0 {
		t.Fatalf("UpsertEntries into a missing namespace = %v, %v; want no rows", rows, err)
	}
	if _, err := q.CreateNamespace(ctx, sqlitedb.CreateNamespaceParams{Name: "batch", Metadata: `{}`, Now: 1}); err != nil {
		t.Fatal(err)
	}
	rows, err := q.UpsertEntries(ctx, sqlitedb.UpsertEntriesParams{Namespace: "batch", Items: batchItems(t, items), Texts: batchTexts(t, items), Slots: batchSlots(t, items), Now: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []sqlitedb.UpsertEntriesRow{{Key: "a", Version: 1}, {Key: "b", Version: 1}, {Key: "c", Version: 1}}
	if !reflect.DeepEqual(kvs(rows), kvs(want)) {
		t.Fatalf("UpsertEntries = %+v, want %+v", rows, want)
	}
	if n := entryCount(t, q, "batch"); n != 3 {
		t.Fatalf("entry_count = %d, want 3", n)
	}
	// Again, plus one new key: the updates must not count as inserts.
	rows, err = q.UpsertEntries(ctx, sqlitedb.UpsertEntriesParams{Namespace: "batch", Items: batchItems(t, `[["a", 2, {"m":"x"}], ["d", true, {}]]`), Texts: batchTexts(t, `[["a", 2, {"m":"x"}], ["d", true, {}]]`), Slots: batchSlots(t, `[["a", 2, {"m":"x"}], ["d", true, {}]]`), Now: 3})
	if err != nil {
		t.Fatal(err)
	}
	want = []sqlitedb.UpsertEntriesRow{{Key: "a", Version: 2}, {Key: "d", Version: 1}}
	if !reflect.DeepEqual(kvs(rows), kvs(want)) {
		t.Fatalf("second UpsertEntries = %+v, want %+v", rows, want)
	}
	if n := entryCount(t, q, "batch"); n != 4 {
		t.Fatalf("entry_count after a batch upsert that updated = %d, want 4", n)
	}
	checkCounts(t, db, q)

	keep, err := q.UpsertEntriesKeepMetadata(ctx, sqlitedb.UpsertEntriesKeepMetadataParams{Namespace: "batch", Items: batchItems(t, `[["a", 3], ["e", {"new":true}]]`), Texts: batchTexts(t, `[["a", 3], ["e", {"new":true}]]`), Slots: batchSlots(t, `[["a", 3], ["e", {"new":true}]]`), Now: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kvs(keep), kvs([]sqlitedb.UpsertEntriesKeepMetadataRow{{Key: "a", Version: 3}, {Key: "e", Version: 1}})) {
		t.Fatalf("UpsertEntriesKeepMetadata = %+v", keep)
	}

	ins, err := q.InsertEntries(ctx, sqlitedb.InsertEntriesParams{Base: base(t, q), Namespace: "batch", Items: batchItems(t, `[["a", 0, {}], ["f", {"f":1}, {"m":"f"}]]`), Texts: batchTexts(t, `[["a", 0, {}], ["f", {"f":1}, {"m":"f"}]]`), Slots: batchSlots(t, `[["a", 0, {}], ["f", {"f":1}, {"m":"f"}]]`), Now: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kvs(ins), kvs([]sqlitedb.InsertEntriesRow{{Key: "f", Version: 1}})) {
		t.Fatalf("InsertEntries = %+v, want only f", ins)
	}
	checkCounts(t, db, q)

	got, err := q.GetEntries(ctx, sqlitedb.GetEntriesParams{Namespace: "batch", Keys: `["a", "e", "f", "zz"]`})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]packedEntry{}
	for _, r := range got {
		byKey[r.Key] = unpack(t, r.Packed)
	}
	if len(got) != 3 {
		t.Fatalf("GetEntries returned %d rows, want 3", len(got))
	}
	jsonEq(t, "a.value", byKey["a"].value, `3`)
	jsonEq(t, "a.metadata (kept)", byKey["a"].metadata, `{"m":"x"}`)
	jsonEq(t, "e.metadata", byKey["e"].metadata, `{}`)
	jsonEq(t, "f.value", byKey["f"].value, `{"f":1}`)
	jsonEq(t, "f.metadata", byKey["f"].metadata, `{"m":"f"}`)
	if a := byKey["a"].nums; a[0] != "3" || a[1] != "2" || a[2] != "4" || a[5] == "" || a[5] == a[4] {
		t.Fatalf("a = %+v", byKey["a"])
	}
	// e was written once: updated_at and create_revision are left empty
	// (they equal created_at and revision).
	if e := byKey["e"].nums; e[0] != "1" || e[1] != "4" || e[2] != "" || e[3] != "" || e[4] == "" || e[5] != "" {
		t.Fatalf("e = %+v", byKey["e"])
	}

	del, err := q.DeleteEntries(ctx, sqlitedb.DeleteEntriesParams{Namespace: "batch", Keys: `["a", "b", "missing"]`})
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 2 {
		t.Fatalf("DeleteEntries = %v, want a and b", del)
	}
	if n := entryCount(t, q, "batch"); n != 4 {
		t.Fatalf("entry_count after DeleteEntries = %d, want 4", n)
	}
	checkCounts(t, db, q)

	// Duplicate keys in one batch: SQLite applies them in order (the second
	// updates the first), where PostgreSQL refuses the statement, so the
	// engine must settle duplicates before it calls the batch statements.
	dup, err := q.UpsertEntries(ctx, sqlitedb.UpsertEntriesParams{Namespace: "batch", Items: batchItems(t, `[["dup", 1, {}], ["dup", 2, {}]]`), Texts: batchTexts(t, `[["dup", 1, {}], ["dup", 2, {}]]`), Slots: batchSlots(t, `[["dup", 1, {}], ["dup", 2, {}]]`), Now: 6})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kvs(dup), kvs([]sqlitedb.UpsertEntriesRow{{Key: "dup", Version: 1}, {Key: "dup", Version: 2}})) {
		t.Fatalf("UpsertEntries with a duplicate key = %+v", dup)
	}
	if _, err := q.DeleteEntryIf(ctx, sqlitedb.DeleteEntryIfParams{Namespace: "batch", Key: "dup"}); err != nil {
		t.Fatalf("DeleteEntryIf(dup): %v", err)
	}
	checkCounts(t, db, q)

	// Clearing.
	if _, err := q.UpsertEntry(ctx, sqlitedb.UpsertEntryParams{Namespace: "default", Key: "d", Value: `1`, Now: 6}); err != nil {
		t.Fatal(err)
	}
	if n, err := q.ClearNamespace(ctx, "batch"); err != nil || n != 4 {
		t.Fatalf("ClearNamespace = %d, %v", n, err)
	}
	checkCounts(t, db, q)
	if n, err := q.ClearAll(ctx); err != nil || n != 1 {
		t.Fatalf("ClearAll = %d, %v", n, err)
	}
	checkCounts(t, db, q)
}

func TestNamespaceStatements(t *testing.T) {
	ctx := context.Background()
	db, q := open(t)

	id, err := q.CreateNamespace(ctx, sqlitedb.CreateNamespaceParams{Name: "users", Owner: ptr("pkr1"), Metadata: `{"d":1}`, Now: 100})
	if err != nil || id == 0 {
		t.Fatalf("CreateNamespace = %d, %v", id, err)
	}
	if _, err := q.CreateNamespace(ctx, sqlitedb.CreateNamespaceParams{Name: "users", Metadata: `{}`, Now: 101}); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("CreateNamespace duplicate: %v, want sql.ErrNoRows", err)
	}
	ns, err := q.GetNamespace(ctx, "users")
	if err != nil {
		t.Fatal(err)
	}
	if ns.ID != id || ns.Name != "users" || ns.Owner == nil || *ns.Owner != "pkr1" || ns.EntryCount != 0 || ns.CreatedAt != 100 {
		t.Fatalf("GetNamespace = %+v", ns)
	}
	jsonEq(t, "namespace metadata", ns.Metadata, `{"d":1}`)

	// The engine lists namespaces with a dynamic keyset statement
	// (sqlstore/nsscope.go); the default namespace's row is here.
	def, err := q.GetNamespace(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if def.Name != "default" || def.Owner != nil {
		t.Fatalf("GetNamespace(default) = %+v", def)
	}
	jsonEq(t, "default metadata", def.Metadata, `{}`)

	if _, err := q.UpsertEntry(ctx, sqlitedb.UpsertEntryParams{Namespace: "users", Key: "u1", Value: `1`, Now: 1}); err != nil {
		t.Fatal(err)
	}
	// entries has no foreign key to namespaces since migration 00033 (an
	// unlinked namespace's entries outlive its row until purged), so
	// nothing stops DeleteNamespace here: the engine deletes or unlinks the
	// entries first.
	if n, err := q.DeleteNamespaceEntries(ctx, id); err != nil || n != 1 {
		t.Fatalf("DeleteNamespaceEntries = %d, %v", n, err)
	}
	checkCounts(t, db, q)
	if n, err := q.DeleteNamespace(ctx, id); err != nil || n != 1 {
		t.Fatalf("DeleteNamespace = %d, %v", n, err)
	}
	st, err := q.StoreStats(ctx, time.Now().UnixMicro())
	if err != nil || st.Namespaces != 1 || st.Entries != 0 {
		t.Fatalf("StoreStats = %+v, %v", st, err)
	}
}

// keyVer is a batch statement's row without its revisions.
type keyVer struct {
	Key     string
	Version int64
}

// kvs projects batch rows (any slice of structs with Key and Version) on
// keyVer.
func kvs(rows any) []keyVer {
	v := reflect.ValueOf(rows)
	out := make([]keyVer, v.Len())
	for i := range out {
		out[i] = keyVer{v.Index(i).FieldByName("Key").String(), v.Index(i).FieldByName("Version").Int()}
	}
	return out
}

// base is the revision counter: batch statements give their rows the
// revisions after it.
func base(t *testing.T, q *sqlitedb.Queries) int64 {
	t.Helper()
	n, err := q.RevisionCounter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// batchItems, batchTexts and batchSlots are splitBatch's three
// parameters (sqlstore's batchItems builds the same).
func batchItems(t *testing.T, old string) string {
	items, _, _ := splitBatch(t, old)
	return items
}

func batchTexts(t *testing.T, old string) []byte {
	_, texts, _ := splitBatch(t, old)
	return texts
}

func batchSlots(t *testing.T, old string) []byte {
	_, _, slots := splitBatch(t, old)
	return slots
}

// splitBatch turns a batch written as [[key, value, metadata?], ...] into
// the batch statements' parameters (queries/sqlite/entries.sql): the keys
// as a JSON array, the values and metadata laid end to end (texts), and
// one 52-byte slot per item: the value's offset in texts (from 1) and
// length, the metadata's length (10 digits each), '0' and 20 spaces (no
// expiry), '0' (keep_ttl off).
func splitBatch(t *testing.T, old string) (string, []byte, []byte) {
	t.Helper()
	var in [][]json.RawMessage
	if err := json.Unmarshal([]byte(old), &in); err != nil {
		t.Fatalf("batch %s: %v", old, err)
	}
	var texts, slots []byte
	keys := make([]string, 0, len(in))
	for _, it := range in {
		var key string
		if err := json.Unmarshal(it[0], &key); err != nil {
			t.Fatalf("batch %s: key: %v", old, err)
		}
		md := json.RawMessage(`{}`)
		if len(it) > 2 {
			md = it[2]
		}
		slots = fmt.Appendf(slots, "%010d%010d%010d0%20s0", len(texts)+1, len(it[1]), len(md), "")
		texts = append(texts, it[1]...)
		texts = append(texts, md...)
		keys = append(keys, key)
	}
	b, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), texts, slots
}
