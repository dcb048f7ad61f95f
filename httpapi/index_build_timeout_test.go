package httpapi_test

import (
	"database/sql"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite": the index rows, counted

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestIndexBuildOutlastsTimeout (an index can be built over HTTP on a
// namespace whose build takes longer than a request may): with a request
// Timeout of 300 ms and the server's timeouts set from it as
// cmd/storeserver sets them (ReadTimeout 300 ms; WriteTimeout three times
// it, without storeserver's 10 s of slack), alice's CreateIndex through
// the Go client on a namespace of her own whose build takes seconds
// (100,000 entries; 5,000 under the race detector, which slows SQLite's
// builds tens of times) succeeds, and the index is declared, listed and
// whole: one row per entry, and a query on the field finds its entries.
// Before Config.IndexTimeout the build's context ended at Timeout and
// CreateIndex failed with deadline_exceeded (504) after 0.3 s, the
// engine deleting what it had built; however often retried, it never
// ended.
func TestIndexBuildOutlastsTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	entries := 100_000
	if raceEnabled {
		entries = 5_000
	}
	dsn := testdb.SQLiteFile(t)
	s := newServerWith(t, dsn, hostileAuth, httpapi.Config{Timeout: timeout, IndexTimeout: 10 * time.Minute}, nil,
		func(srv *http.Server) { srv.ReadTimeout, srv.WriteTimeout = timeout, 3*timeout })
	s.fillOwn(t, aliceBig, entries)
	ctx := t.Context()
	tr, err := httpapi.NewTransport(s.URL, hAlice)
	if err != nil {
		t.Fatal(err)
	}
	st, err := client.New(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	if err := st.CreateIndex(ctx, aliceBig, "f"); err != nil {
		t.Fatalf("CreateIndex over %d entries (Timeout %v) after %v: %v", entries, timeout, time.Since(start), err)
	}
	d := time.Since(start)
	t.Logf("CreateIndex over %d entries through the client: %v (Timeout %v, WriteTimeout %v)", entries, d.Round(time.Millisecond), timeout, 3*timeout)
	if d < timeout {
		t.Errorf("the build took %v, less than Timeout (%v): the test proves nothing; raise its entries", d, timeout)
	}
	list, err := st.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(n storage.Namespace) bool { return n.Name == aliceBig })
	if i < 0 || !slices.Equal(list[i].Indexes, []string{"f"}) {
		t.Fatalf("ListNamespaces after CreateIndex: %+v; want %s with the index f", list, aliceBig)
	}
	// Whole: a row per entry under the declared field.
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM index_entries e JOIN index_fields f
ON f.namespace_id = e.ix_ns AND f.field_id = e.ix_field WHERE f.field = 'f'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != entries {
		t.Errorf("the index of f holds %d rows, want one per entry (%d)", rows, entries)
	}
	want := 0
	for k := range entries {
		if k%97 == 42 {
			want++
		}
	}
	if n, err := st.Count(ctx, storage.Where(storage.Eq("f", 42)), storage.InNamespace(aliceBig)); err != nil || n != int64(want) {
		t.Fatalf("Count f = 42: %d, %v; want %d", n, err, want)
	}
}
