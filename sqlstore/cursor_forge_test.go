package sqlstore

import (
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestForgedCursorNUL: a cursor edited to hold NUL (in its key or a sort
// value) is invalid_option on every dialect; PostgreSQL once answered with
// its own "invalid byte sequence" error.
func TestForgedCursorNUL(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			ctx := t.Context()
			for _, k := range []string{"a", "b", "c"} {
				if err := s.Set(ctx, k, map[string]any{"name": k}); err != nil {
					t.Fatal(err)
				}
			}
			forge := func(cur string, op string, edit func(*cursor)) string {
				t.Helper()
				dec, err := decodeCursor(cur, op, mustCursor(t, cur).Hash)
				if err != nil {
					t.Fatal(err)
				}
				edit(&dec)
				return encodeCursor(dec)
			}
			lr, err := s.List(ctx, storage.Limit(1))
			if err != nil || lr.Cursor == "" {
				t.Fatalf("List: %v, cursor %q", err, lr.Cursor)
			}
			bad := forge(lr.Cursor, "list", func(c *cursor) { c.Key = "a\x00" })
			if _, err := s.List(ctx, storage.Limit(1), storage.After(bad)); !errors.Is(err, storage.ErrInvalidOption) {
				t.Errorf("List after a cursor with NUL in its key: %v, want ErrInvalidOption", err)
			}
			qr, err := s.Query(ctx, storage.All(), storage.SortBy(storage.Asc("name")), storage.Limit(1))
			if err != nil || qr.Cursor == "" {
				t.Fatalf("Query: %v, cursor %q", err, qr.Cursor)
			}
			for name, edit := range map[string]func(*cursor){
				"key":   func(c *cursor) { c.Key = "a\x00" },
				"value": func(c *cursor) { s := "a\x00"; c.Vals[0].Str = &s },
			} {
				bad := forge(qr.Cursor, "query", edit)
				_, err := s.Query(ctx, storage.All(), storage.SortBy(storage.Asc("name")), storage.Limit(1), storage.After(bad))
				if !errors.Is(err, storage.ErrInvalidOption) {
					t.Errorf("Query after a cursor with NUL in its %s: %v, want ErrInvalidOption", name, err)
				}
			}
		})
	}
}

func mustCursor(t *testing.T, s string) cursor {
	t.Helper()
	c, err := decodeCursor(s, "", "")
	if c.Op == "" {
		t.Fatalf("cursor %q: %v", s, err)
	}
	return c
}
