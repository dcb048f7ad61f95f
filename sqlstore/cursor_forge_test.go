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

// TestForgedCursorSortValue: a Query cursor edited to hold a sort value no
// page can end at (a type rank outside the sort order's, a number that is
// NaN or not a number) is invalid_option on every dialect and on a
// declared field as on an undeclared one. Such cursors were taken, and
// each dialect answered its own page (NaN sorts above every number on
// PostgreSQL and is NULL on SQLite).
func TestForgedCursorSortValue(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			ctx := t.Context()
			must(t, s.CreateNamespace(ctx, "ix", storage.WithIndexes("n")))
			for _, ns := range []string{"default", "ix"} {
				for i := range 5 {
					must(t, s.Set(ctx, string(rune('a'+i)), map[string]any{"n": i}, storage.InNamespace(ns)))
				}
				sort := storage.SortBy(storage.Asc("n"))
				qr, err := s.Query(ctx, storage.All(), sort, storage.Limit(2), storage.InNamespace(ns))
				if err != nil || qr.Cursor == "" {
					t.Fatalf("%s: Query: %v, cursor %q", ns, err, qr.Cursor)
				}
				good := mustCursor(t, qr.Cursor)
				for name, edit := range map[string]func(*sortValue){
					"rank 99":     func(v *sortValue) { v.Rank = 99 },
					"rank -1":     func(v *sortValue) { v.Rank = -1 },
					"number NaN":  func(v *sortValue) { v.Num = "NaN" },
					"number text": func(v *sortValue) { v.Num = "x" },
				} {
					forged := good
					forged.Vals = append([]sortValue(nil), good.Vals...)
					edit(&forged.Vals[0])
					_, err := s.Query(ctx, storage.All(), sort, storage.Limit(2), storage.InNamespace(ns), storage.After(encodeCursor(forged)))
					if !errors.Is(err, storage.ErrInvalidOption) {
						t.Errorf("%s: Query after a cursor with %s: %v, want ErrInvalidOption", ns, name, err)
					}
				}
				// The cursor as given still pages.
				if r, err := s.Query(ctx, storage.All(), sort, storage.Limit(2), storage.InNamespace(ns), storage.After(qr.Cursor)); err != nil || len(r.Entries) != 2 || r.Entries[0].Key != "c" {
					t.Errorf("%s: Query after its cursor: %v, %+v", ns, err, r.Entries)
				}
			}
		})
	}
}
