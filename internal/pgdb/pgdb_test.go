package pgdb_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose

	"github.com/mycelia-kernel/storage/internal/pgdb"
	"github.com/mycelia-kernel/storage/schema"
)

// open creates a fresh database (dropped when the test ends), applies the
// migrations with goose and returns a pgx connection to it.
func open(t *testing.T) (*pgx.Conn, *pgdb.Queries) {
	t.Helper()
	admin := os.Getenv("STORAGE_TEST_POSTGRES_DSN")
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("STORAGE_TEST_POSTGRES_DSN is not set but CI=true: PostgreSQL tests must run in CI")
		}
		t.Skip(`PostgreSQL tests need a server: export STORAGE_TEST_POSTGRES_DSN="$(bash .ci/postgres.sh)"`)
	}
	ctx := context.Background()
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("STORAGE_TEST_POSTGRES_DSN: %v", err)
	}
	adm, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = adm.Close(ctx) })
	name := fmt.Sprintf("pgdb_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := adm.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := adm.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u.Path = "/" + name
	dsn := u.String()

	sdb, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	if _, err := schema.Up(ctx, schema.Postgres, sdb); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	return conn, pgdb.New(conn)
}

func ptr[T any](v T) *T { return &v }

// at returns a timestamp with PostgreSQL's microsecond precision.
func at(sec int) time.Time { return time.Date(2025, 1, 2, 3, 4, sec, 5000, time.UTC) }

func jsonEq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

func checkCounts(t *testing.T, conn *pgx.Conn, q *pgdb.Queries) {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT n.name, n.entry_count, (SELECT count(*) FROM entries e WHERE e.namespace_id = n.id) FROM namespaces n`)
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
	st, err := q.StoreStats(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != total {
		t.Fatalf("StoreStats.Entries = %d, want %d", st.Entries, total)
	}
}

func entryCount(t *testing.T, q *pgdb.Queries, ns string) int64 {
	t.Helper()
	n, err := q.GetNamespace(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	return n.EntryCount
}

func TestSingleEntryStatements(t *testing.T) {
	ctx := context.Background()
	conn, q := open(t)

	if _, err := q.UpsertEntry(ctx, pgdb.UpsertEntryParams{Namespace: "app", Key: "k", Value: []byte(`1`), Now: at(1)}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("UpsertEntry into a missing namespace: %v, want pgx.ErrNoRows", err)
	}
	if _, err := q.InsertEntry(ctx, pgdb.InsertEntryParams{Namespace: "app", Key: "k", Value: []byte(`1`), Now: at(1)}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("InsertEntry into a missing namespace: %v, want pgx.ErrNoRows", err)
	}
	if err := q.EnsureNamespace(ctx, pgdb.EnsureNamespaceParams{Name: "app", Now: at(0)}); err != nil {
		t.Fatal(err)
	}
	if err := q.EnsureNamespace(ctx, pgdb.EnsureNamespaceParams{Name: "app", Now: at(0)}); err != nil {
		t.Fatalf("EnsureNamespace twice: %v", err)
	}

	vr, err := q.UpsertEntry(ctx, pgdb.UpsertEntryParams{Namespace: "app", Key: "k", Value: []byte(`{"a": 1}`), Now: at(10)})
	v := vr.Version
	if err != nil || v != 1 || vr.Revision == 0 || vr.CreateRevision != vr.Revision {
		t.Fatalf("UpsertEntry = %d, %v; want 1", v, err)
	}
	first := vr
	vr, err = q.UpsertEntry(ctx, pgdb.UpsertEntryParams{Namespace: "app", Key: "k", Value: []byte(`{"a": 2}`), Metadata: []byte(`{"m": true}`), Now: at(20)})
	v = vr.Version
	if err != nil || v != 2 || vr.Revision != first.Revision+1 || vr.CreateRevision != first.Revision {
		t.Fatalf("second UpsertEntry = %d, %v; want 2", v, err)
	}
	if n := entryCount(t, q, "app"); n != 1 {
		t.Fatalf("entry_count after an upsert that updated = %d, want 1", n)
	}
	checkCounts(t, conn, q)

	e, err := q.GetEntry(ctx, pgdb.GetEntryParams{Namespace: "app", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "value", e.Value, `{"a": 2}`)
	jsonEq(t, "metadata", e.Metadata, `{"m": true}`)
	if e.Key != "k" || e.Version != 2 || !e.CreatedAt.Equal(at(10)) || !e.UpdatedAt.Equal(at(20)) {
		t.Fatalf("GetEntry = %+v", e)
	}
	if vr, err := q.UpsertEntry(ctx, pgdb.UpsertEntryParams{Namespace: "app", Key: "k", Value: []byte(`"s"`), Now: at(30)}); err != nil || vr.Version != 3 {
		t.Fatalf("third UpsertEntry = %d, %v", vr.Version, err)
	}
	md, err := q.GetMetadata(ctx, pgdb.GetMetadataParams{Namespace: "app", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "kept metadata", md.Metadata, `{"m": true}`)
	if md.Version != 3 || !md.CreatedAt.Equal(at(10)) || !md.UpdatedAt.Equal(at(30)) {
		t.Fatalf("GetMetadata = %+v", md)
	}
	if _, err = q.UpsertEntry(ctx, pgdb.UpsertEntryParams{Namespace: "app", Key: "fresh", Value: []byte(`null`), Now: at(30)}); err != nil {
		t.Fatal(err)
	}
	md, err = q.GetMetadata(ctx, pgdb.GetMetadataParams{Namespace: "app", Key: "fresh"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "new entry metadata", md.Metadata, `{}`)

	if _, err := q.InsertEntry(ctx, pgdb.InsertEntryParams{Namespace: "app", Key: "k", Value: []byte(`0`), Now: at(40)}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("InsertEntry of an existing key: %v, want pgx.ErrNoRows", err)
	}
	if vr, err := q.InsertEntry(ctx, pgdb.InsertEntryParams{Namespace: "app", Key: "k2", Value: []byte(`[1,2]`), Metadata: []byte(`{"x":1}`), Now: at(40)}); err != nil || vr.Version != 1 {
		t.Fatalf("InsertEntry = %d, %v", vr.Version, err)
	}
	checkCounts(t, conn, q)

	found, err := q.HasEntry(ctx, pgdb.HasEntryParams{Namespace: "app", Key: "k2"})
	if err != nil || !found {
		t.Fatalf("HasEntry(k2) = %v, %v", found, err)
	}
	found, err = q.HasEntry(ctx, pgdb.HasEntryParams{Namespace: "app", Key: "nope"})
	if err != nil || found {
		t.Fatalf("HasEntry(nope) = %v, %v", found, err)
	}
	if vr, err := q.GetEntryVersion(ctx, pgdb.GetEntryVersionParams{Namespace: "app", Key: "k"}); err != nil || vr.Version != 3 {
		t.Fatalf("GetEntryVersion = %d, %v", vr.Version, err)
	}

	if _, err := q.UpdateEntryIf(ctx, pgdb.UpdateEntryIfParams{Namespace: "app", Key: "k", Value: []byte(`1`), ExpectedVersion: 2, Now: at(50)}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("UpdateEntryIf with a stale version: %v", err)
	}
	if vr, err := q.UpdateEntryIf(ctx, pgdb.UpdateEntryIfParams{Namespace: "app", Key: "k", Value: []byte(`1`), ExpectedVersion: 3, Now: at(50)}); err != nil || vr.Version != 4 {
		t.Fatalf("UpdateEntryIf = %d, %v", vr.Version, err)
	}
	md, _ = q.GetMetadata(ctx, pgdb.GetMetadataParams{Namespace: "app", Key: "k"})
	jsonEq(t, "metadata after CAS without metadata", md.Metadata, `{"m": true}`)
	if vr, err := q.UpdateEntryIf(ctx, pgdb.UpdateEntryIfParams{Namespace: "app", Key: "k", Value: []byte(`2`), Metadata: []byte(`{"n":2}`), ExpectedVersion: 4, Now: at(55)}); err != nil || vr.Version != 5 {
		t.Fatalf("UpdateEntryIf with metadata = %d, %v", vr.Version, err)
	}

	if vr, err := q.ReplaceMetadata(ctx, pgdb.ReplaceMetadataParams{Namespace: "app", Key: "k", Metadata: []byte(`{"r":1}`), Now: at(60)}); err != nil || vr.Version != 6 {
		t.Fatalf("ReplaceMetadata = %d, %v", vr.Version, err)
	}
	if _, err := q.ReplaceMetadata(ctx, pgdb.ReplaceMetadataParams{Namespace: "app", Key: "k", Metadata: []byte(`{}`), ExpectedVersion: 1, Now: at(61)}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("ReplaceMetadata with a stale version: %v", err)
	}
	if vr, err := q.ReplaceMetadata(ctx, pgdb.ReplaceMetadataParams{Namespace: "app", Key: "k", Metadata: []byte(`{"r":2}`), ExpectedVersion: 6, Now: at(62)}); err != nil || vr.Version != 7 {
		t.Fatalf("ReplaceMetadata with the right version = %d, %v", vr.Version, err)
	}
	e, _ = q.GetEntry(ctx, pgdb.GetEntryParams{Namespace: "app", Key: "k"})
	jsonEq(t, "metadata", e.Metadata, `{"r":2}`)
	jsonEq(t, "value", e.Value, `2`)
	if !e.UpdatedAt.Equal(at(62)) {
		t.Fatalf("updated_at = %v", e.UpdatedAt)
	}

	if _, err := q.DeleteEntryIf(ctx, pgdb.DeleteEntryIfParams{Namespace: "app", Key: "k", ExpectedVersion: 6}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("DeleteEntryIf stale version: %v", err)
	}
	cur, _ := q.GetEntryVersion(ctx, pgdb.GetEntryVersionParams{Namespace: "app", Key: "k"})
	if _, err := q.DeleteEntryIf(ctx, pgdb.DeleteEntryIfParams{Namespace: "app", Key: "k", ExpectedRevision: cur.Revision - 1}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("DeleteEntryIf stale revision: %v", err)
	}
	if d, err := q.DeleteEntryIf(ctx, pgdb.DeleteEntryIfParams{Namespace: "app", Key: "k", ExpectedVersion: 7, ExpectedRevision: cur.Revision}); err != nil || d.Version != 7 || d.Revision <= cur.Revision {
		t.Fatalf("DeleteEntryIf = %+v, %v", d, err)
	}
	if _, err := q.DeleteEntryIf(ctx, pgdb.DeleteEntryIfParams{Namespace: "app", Key: "k2"}); err != nil {
		t.Fatalf("DeleteEntryIf = %v", err)
	}
	if _, err := q.DeleteEntryIf(ctx, pgdb.DeleteEntryIfParams{Namespace: "app", Key: "k2"}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("DeleteEntryIf of a missing key: %v", err)
	}
	if n := entryCount(t, q, "app"); n != 1 {
		t.Fatalf("entry_count = %d, want 1", n)
	}
	checkCounts(t, conn, q)
}

func TestBatchStatements(t *testing.T) {
	ctx := context.Background()
	conn, q := open(t)

	keys := []string{"a", "b", "c"}
	vals := [][]byte{[]byte(`{"v":1}`), []byte(`[1,2,3]`), []byte(`"text"`)}
	mds := [][]byte{[]byte(`{"m":1}`), []byte(`{}`), []byte(`{"m":3}`)}
	if rows, err := q.UpsertEntries(ctx, pgdb.UpsertEntriesParams{Namespace: "batch", Keys: keys, Vals: vals, Metadatas: mds, Now: at(1)}); err != nil || len(rows) != 0 {
		t.Fatalf("UpsertEntries into a missing namespace = %v, %v; want no rows", rows, err)
	}
	if _, err := q.CreateNamespace(ctx, pgdb.CreateNamespaceParams{Name: "batch", Metadata: []byte(`{}`), Now: at(1)}); err != nil {
		t.Fatal(err)
	}
	rows, err := q.UpsertEntries(ctx, pgdb.UpsertEntriesParams{Namespace: "batch", Keys: keys, Vals: vals, Metadatas: mds, Now: at(2)})
	if err != nil {
		t.Fatal(err)
	}
	want := []pgdb.UpsertEntriesRow{{Key: "a", Version: 1}, {Key: "b", Version: 1}, {Key: "c", Version: 1}}
	if !reflect.DeepEqual(kvs(rows), kvs(want)) {
		t.Fatalf("UpsertEntries = %+v, want %+v", rows, want)
	}
	if n := entryCount(t, q, "batch"); n != 3 {
		t.Fatalf("entry_count = %d, want 3", n)
	}
	rows, err = q.UpsertEntries(ctx, pgdb.UpsertEntriesParams{Namespace: "batch",
		Keys: []string{"a", "d"}, Vals: [][]byte{[]byte(`2`), []byte(`true`)}, Metadatas: [][]byte{[]byte(`{"m":"x"}`), []byte(`{}`)}, Now: at(3)})
	if err != nil {
		t.Fatal(err)
	}
	want = []pgdb.UpsertEntriesRow{{Key: "a", Version: 2}, {Key: "d", Version: 1}}
	if !reflect.DeepEqual(kvs(rows), kvs(want)) {
		t.Fatalf("second UpsertEntries = %+v, want %+v", rows, want)
	}
	if n := entryCount(t, q, "batch"); n != 4 {
		t.Fatalf("entry_count after a batch upsert that updated = %d, want 4", n)
	}
	checkCounts(t, conn, q)

	keep, err := q.UpsertEntriesKeepMetadata(ctx, pgdb.UpsertEntriesKeepMetadataParams{Namespace: "batch",
		Keys: []string{"a", "e"}, Vals: [][]byte{[]byte(`3`), []byte(`{"new":true}`)}, Now: at(4)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kvs(keep), kvs([]pgdb.UpsertEntriesKeepMetadataRow{{Key: "a", Version: 3}, {Key: "e", Version: 1}})) {
		t.Fatalf("UpsertEntriesKeepMetadata = %+v", keep)
	}

	ins, err := q.InsertEntries(ctx, pgdb.InsertEntriesParams{Namespace: "batch",
		Keys: []string{"a", "f"}, Vals: [][]byte{[]byte(`0`), []byte(`{"f":1}`)}, Metadatas: [][]byte{[]byte(`{}`), []byte(`{"m":"f"}`)}, Now: at(5)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kvs(ins), kvs([]pgdb.InsertEntriesRow{{Key: "f", Version: 1}})) {
		t.Fatalf("InsertEntries = %+v, want only f", ins)
	}
	checkCounts(t, conn, q)

	got, err := q.GetEntries(ctx, pgdb.GetEntriesParams{Namespace: "batch", Keys: []string{"a", "e", "f", "zz"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("GetEntries returned %d rows, want 3", len(got))
	}
	byKey := map[string]pgdb.GetEntriesRow{}
	for _, r := range got {
		byKey[r.Key] = r
	}
	jsonEq(t, "a.value", byKey["a"].Value, `3`)
	jsonEq(t, "a.metadata (kept)", byKey["a"].Metadata, `{"m":"x"}`)
	jsonEq(t, "e.metadata", byKey["e"].Metadata, `{}`)
	jsonEq(t, "f.value", byKey["f"].Value, `{"f":1}`)
	jsonEq(t, "f.metadata", byKey["f"].Metadata, `{"m":"f"}`)
	if a := byKey["a"]; a.Version != 3 || !a.CreatedAt.Equal(at(2)) || !a.UpdatedAt.Equal(at(4)) {
		t.Fatalf("a = %+v", a)
	}

	del, err := q.DeleteEntries(ctx, pgdb.DeleteEntriesParams{Namespace: "batch", Keys: []string{"a", "b", "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 2 {
		t.Fatalf("DeleteEntries = %v, want a and b", del)
	}
	if n := entryCount(t, q, "batch"); n != 4 {
		t.Fatalf("entry_count after DeleteEntries = %d, want 4", n)
	}
	checkCounts(t, conn, q)

	// Duplicate keys in one batch: PostgreSQL refuses to update a row twice
	// in one statement (SQLite applies both), so the engine must settle
	// duplicates before it calls the batch statements.
	_, err = q.UpsertEntries(ctx, pgdb.UpsertEntriesParams{Namespace: "batch",
		Keys: []string{"dup", "dup"}, Vals: [][]byte{[]byte(`1`), []byte(`2`)}, Metadatas: [][]byte{[]byte(`{}`), []byte(`{}`)}, Now: at(6)})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "21000" {
		t.Fatalf("UpsertEntries with a duplicate key: %v, want SQLSTATE 21000", err)
	}

	if _, err := q.UpsertEntry(ctx, pgdb.UpsertEntryParams{Namespace: "default", Key: "d", Value: []byte(`1`), Now: at(7)}); err != nil {
		t.Fatal(err)
	}
	// 1: the namespace's 4 entries were unlinked (migration 00034).
	if n, err := q.ClearNamespace(ctx, pgdb.ClearNamespaceParams{Namespace: "batch", Now: at(8)}); err != nil || n != 1 {
		t.Fatalf("ClearNamespace = %d, %v; want 1", n, err)
	}
	checkCounts(t, conn, q)
	if n, err := q.ClearAll(ctx, at(8)); err != nil || n != 1 {
		t.Fatalf("ClearAll = %d, %v", n, err)
	}
	checkCounts(t, conn, q)
}

func TestNamespaceStatements(t *testing.T) {
	ctx := context.Background()
	conn, q := open(t)

	id, err := q.CreateNamespace(ctx, pgdb.CreateNamespaceParams{Name: "users", Owner: ptr("pkr1"), Metadata: []byte(`{"d":1}`), Now: at(9)})
	if err != nil || id == 0 {
		t.Fatalf("CreateNamespace = %d, %v", id, err)
	}
	if _, err := q.CreateNamespace(ctx, pgdb.CreateNamespaceParams{Name: "users", Metadata: []byte(`{}`), Now: at(9)}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("CreateNamespace duplicate: %v, want pgx.ErrNoRows", err)
	}
	ns, err := q.GetNamespace(ctx, "users")
	if err != nil {
		t.Fatal(err)
	}
	if ns.ID != id || ns.Name != "users" || ns.Owner == nil || *ns.Owner != "pkr1" || ns.EntryCount != 0 || !ns.CreatedAt.Equal(at(9)) {
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

	if _, err := q.UpsertEntry(ctx, pgdb.UpsertEntryParams{Namespace: "users", Key: "u1", Value: []byte(`1`), Now: at(10)}); err != nil {
		t.Fatal(err)
	}

	// Row and advisory locks inside a transaction.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	qtx := q.WithTx(tx)
	if err := qtx.CapacityLock(ctx, 42); err != nil {
		t.Fatalf("CapacityLock: %v", err)
	}
	l, err := qtx.LockNamespace(ctx, "users")
	if err != nil || l.ID != id || l.EntryCount != 1 {
		t.Fatalf("LockNamespace = %+v, %v", l, err)
	}
	if _, err := qtx.LockNamespace(ctx, "missing"); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("LockNamespace(missing): %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	if _, err := q.DeleteNamespace(ctx, id); err == nil {
		t.Fatal("DeleteNamespace with entries left succeeded")
	}
	if n, err := q.DeleteNamespaceEntries(ctx, id); err != nil || n != 1 {
		t.Fatalf("DeleteNamespaceEntries = %d, %v", n, err)
	}
	checkCounts(t, conn, q)
	if n, err := q.DeleteNamespace(ctx, id); err != nil || n != 1 {
		t.Fatalf("DeleteNamespace = %d, %v", n, err)
	}
	st, err := q.StoreStats(ctx, time.Now())
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
