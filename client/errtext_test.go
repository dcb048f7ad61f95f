package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestErrorMessagesMatchTheEngine: an error that comes back over the wire
// prints exactly as the engine's own, wraps the same one sentinel, and
// carries no second "storage: " or transport text.
func TestErrorMessagesMatchTheEngine(t *testing.T) {
	ctx := context.Background()
	eng := teststore.Open(t, testdb.SQLiteFile(t), sqlstore.WithMaxValueSize(100), sqlstore.WithMaxOpenTx(2))
	_, c := serve(t, eng)
	for _, st := range []storage.Store{eng, c} {
		if err := st.Set(ctx, "k", 1); err != nil {
			t.Fatal(err)
		}
	}
	type call func(s storage.Store) error
	cases := []struct {
		name string
		f    call
	}{
		{"get missing", func(s storage.Store) error { _, err := s.Get(ctx, "missing"); return err }},
		{"delete missing", func(s storage.Store) error { return s.Delete(ctx, "missing", storage.InNamespace("x")) }},
		{"getMetadata missing", func(s storage.Store) error { _, err := s.GetMetadata(ctx, "missing"); return err }},
		{"setMetadata not object", func(s storage.Store) error { return s.SetMetadata(ctx, "k", json.RawMessage(`[1]`)) }},
		{"no overwrite", func(s storage.Store) error { return s.Set(ctx, "k", 1, storage.NoOverwrite()) }},
		{"if version", func(s storage.Store) error { return s.Set(ctx, "k", 1, storage.IfVersion(9)) }},
		{"too large", func(s storage.Store) error { return s.Set(ctx, "big", strings.Repeat("x", 200)) }},
		{"duplicate keys", func(s storage.Store) error { return s.Set(ctx, "d", json.RawMessage(`{"a":1,"a":2}`)) }},
		{"empty key", func(s storage.Store) error { return s.Set(ctx, "", 1) }},
		{"bad namespace", func(s storage.Store) error { return s.Set(ctx, "k", 1, storage.InNamespace("a/b")) }},
		{"option not taken", func(s storage.Store) error { return s.Set(ctx, "k", 1, storage.Limit(3)) }},
		{"bad filter", func(s storage.Store) error { _, err := s.Query(ctx, storage.Eq("a..b", 1)); return err }},
		{"never-existing sort", func(s storage.Store) error {
			_, err := s.Query(ctx, storage.All(), storage.SortBy(storage.Asc("$metadata.0")))
			return err
		}},
		{"namespace exists", func(s storage.Store) error { return s.CreateNamespace(ctx, "default") }},
		{"namespace not found", func(s storage.Store) error { return s.DeleteNamespace(ctx, "nope") }},
		{"namespace not empty", func(s storage.Store) error { return s.DeleteNamespace(ctx, "default") }},
		{"tx not found", func(s storage.Store) error { _, err := s.LookupTx("nope"); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, got := tc.f(eng), tc.f(c)
			if want == nil || got == nil {
				t.Fatalf("engine %v, client %v: want both to fail", want, got)
			}
			if strings.Contains(tc.name, "sort") && !strings.Contains(want.Error(), "invalid sort: ") {
				t.Errorf("a sort's error %q does not say invalid sort", want)
			}
			if got.Error() != want.Error() {
				t.Errorf("client prints\n  %s\nthe engine\n  %s", got, want)
			}
			if strings.Count(got.Error(), "storage: ") != 1 {
				t.Errorf("client error %q repeats the prefix", got)
			}
			for _, s := range storage.Sentinels() {
				if errors.Is(want, s) != errors.Is(got, s) {
					t.Errorf("errors.Is(_, %v): engine %v, client %v", s, errors.Is(want, s), errors.Is(got, s))
				}
			}
		})
	}
}
