package sqlstore

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/pgdb"
)

// TestPGDecodeEntryAsScan: decodeEntry reads an entry row exactly as
// pgx's Scan did before it (the same row values, times in UTC), for
// GetEntry's and GetEntries' rows: metadata or none, an expiry or none,
// times before 2000 and before 1970 (negative offsets), a value TOASTed,
// keys with quotes and non-ASCII; it leaves to Scan what it does not
// read (an infinite expiry, which Get then fails on as before).
// And a store in every pgx exec mode (simple_protocol: text results, which
// go to Scan) returns the same entries from Get and GetMany.
func TestPGDecodeEntryAsScan(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	admin, _ := pgMigrator(t, dsn)
	const ns = "dec"
	in := storage.InNamespace(ns)
	keys := []string{"plain", `q"uo\te`, "ключ-é", "meta", "ttl", "old", "epoch", "big", "inf"}
	for _, k := range keys {
		var opts []storage.Option
		switch k {
		case "meta":
			opts = append(opts, storage.WithMetadata(map[string]any{"a": 1, "b": "x"}))
		case "ttl", "inf":
			opts = append(opts, storage.WithTTL(time.Hour))
		}
		v := map[string]any{"k": k, "n": 1.5}
		if k == "big" {
			v["s"] = strings.Repeat("xyz", 5000) // TOASTed
		}
		must(t, s.Set(ctx, k, v, append(opts, in)...))
	}
	for _, u := range []string{
		// The check of migration 00031 refuses infinite times; a row can
		// still hold one from before it (NOT VALID: an infinite created_at
		// stays), or with the check dropped, as here.
		`ALTER TABLE entries DROP CONSTRAINT entries_times_finite`,
		`UPDATE entries SET created_at = '1999-12-31 23:59:59.999999+00', updated_at = '2000-01-01 00:00:00.000001+00' WHERE key = 'old'`,
		`UPDATE entries SET created_at = '1969-12-31 23:59:59.5+00', updated_at = '1900-02-03 04:05:06.7+00' WHERE key = 'epoch'`,
		`UPDATE entries SET expires_at = 'infinity' WHERE key = 'inf'`,
	} {
		if _, err := admin.ExecContext(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	q := s.eng.reader().(pgPointQ).pgQ
	now := s.now()
	// read runs GetEntries on every key (GetEntry on one key) and returns
	// its rows, by decodeEntry or Scan.
	read := func(viaScan bool, one string) ([]row, error) {
		entryScanViaPgx.Store(viaScan)
		defer entryScanViaPgx.Store(false)
		if one != "" {
			r, err := q.getEntry(ctx, ns, one, now)
			return []row{r}, err
		}
		rows, _, err := q.getEntries(ctx, ns, keys, now, nil)
		return rows, err
	}
	check := func(one string) {
		t.Helper()
		got, gerr := read(false, one)
		want, werr := read(true, one)
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decoded %+v, %v;\nscanned %+v, %v", one, got, gerr, want, werr)
		}
	}
	for _, k := range keys {
		if k != "inf" {
			check(k)
		}
	}
	// The infinite expiry: Scan's error, as before, and Get's typed one.
	_, derr := read(false, "inf")
	_, serr := read(true, "inf")
	if derr == nil || serr == nil || derr.Error() != serr.Error() {
		t.Fatalf("infinite expiry: decoded %v, scanned %v: want Scan's error both times", derr, serr)
	}
	if _, err := s.Get(ctx, "inf", in); err == nil {
		t.Fatal("Get of an infinite expiry succeeded, want Scan's error")
	}
	if _, err := admin.ExecContext(ctx, `UPDATE entries SET expires_at = NULL WHERE key = 'inf'`); err != nil {
		t.Fatal(err)
	}
	check("")
	check("nope") // a miss: errNoRow both ways
	if _, err := q.getEntry(ctx, ns, "nope", now); !errors.Is(err, errNoRow) {
		t.Fatalf("miss: %v, want errNoRow", err)
	}
	// The rows decodeEntry reads are the ones it expects.
	rows, err := q.db.Query(ctx, pgdb.GetEntrySQL, ns, "meta", now)
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() || !decodeEntry(rows.FieldDescriptions(), rows.RawValues(), new(row), "meta") {
		t.Fatal("decodeEntry does not read GetEntry's row in the default exec mode")
	}
	rows.Close()

	// Every exec mode: the same entries.
	wantGet := map[string]storage.Entry{}
	for _, k := range keys {
		e, err := s.Get(ctx, k, in)
		must(t, err)
		wantGet[k] = e
	}
	wantMany, err := s.GetMany(ctx, append(slices.Clone(keys), "nope"), in)
	must(t, err)
	for _, mode := range []string{"cache_describe", "exec", "simple_protocol"} {
		u, err := url.Parse(dsn)
		must(t, err)
		p := u.Query()
		p.Set("default_query_exec_mode", mode)
		u.RawQuery = p.Encode()
		m := openTest(t, u.String(), WithSweepInterval(-1))
		for _, k := range keys {
			e, err := m.Get(ctx, k, in)
			must(t, err)
			if !reflect.DeepEqual(e, wantGet[k]) {
				t.Fatalf("%s: Get(%q) = %+v, want %+v", mode, k, e, wantGet[k])
			}
		}
		got, err := m.GetMany(ctx, append(slices.Clone(keys), "nope"), in)
		must(t, err)
		if !reflect.DeepEqual(got.Entries, wantMany.Entries) || len(got.Errors) != 1 || !errors.Is(got.Errors["nope"], storage.ErrNotFound) {
			t.Fatalf("%s: GetMany = %+v, want %+v", mode, got, wantMany)
		}
		_ = m.Close()
	}
	js := wantGet["meta"].Metadata
	if !json.Valid(js) || string(wantGet["plain"].Metadata) != "{}" {
		t.Fatalf("metadata %s, %s", js, wantGet["plain"].Metadata)
	}
}
