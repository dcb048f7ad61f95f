package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// physicalIndexes returns the declared fields recorded in index_fields,
// as "<namespace id>/<field>", sorted; and checks that each has exactly
// one index_entries row per entry of its namespace, each for an entry of
// the namespace, with the values the entry has now (the triggers and
// fills kept it).
func physicalIndexes(t *testing.T, s *Store) []string {
	t.Helper()
	ctx := t.Context()
	q := s.eng.reader()
	var names []string
	type fieldRow struct {
		ns, id int64
		field  string
	}
	var rows []fieldRow
	err := q.queryRows(ctx, "SELECT namespace_id, field_id, field FROM index_fields", nil, func(r rowScanner) error {
		var f fieldRow
		err := r.Scan(&f.ns, &f.id, &f.field)
		if strings.HasPrefix(f.field, buildingPrefix) {
			// An index being built, or left by a build whose clean-up
			// failed (a full disk): undeclared, never read by a query.
			return err
		}
		rows = append(rows, f)
		names = append(names, fmt.Sprintf("%d/%s", f.ns, f.field))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rows {
		var entries, indexed, matched int64
		ph := s.placeholders
		if err := q.queryRows(ctx, ph("SELECT count(*) FROM entries WHERE namespace_id = ?"), []any{f.ns}, func(r rowScanner) error { return r.Scan(&entries) }); err != nil {
			t.Fatal(err)
		}
		if err := q.queryRows(ctx, ph("SELECT count(*) FROM index_entries WHERE ix_ns = ? AND ix_field = ?"), []any{f.ns, f.id}, func(r rowScanner) error { return r.Scan(&indexed) }); err != nil {
			t.Fatal(err)
		}
		if err := q.queryRows(ctx, ph("SELECT count(*) FROM index_entries i JOIN entries e ON e.namespace_id = i.ix_ns AND e.key = i.ix_key WHERE i.ix_ns = ? AND i.ix_field = ?"),
			[]any{f.ns, f.id}, func(r rowScanner) error { return r.Scan(&matched) }); err != nil {
			t.Fatal(err)
		}
		if entries != indexed || indexed != matched {
			t.Errorf("namespace %d field %q: %d entries, %d index rows, %d of them for an entry", f.ns, f.field, entries, indexed, matched)
		}
		pf, err := driver.ParseField(f.field)
		if err != nil {
			t.Fatal(err)
		}
		// Every row holds the values the entry has: a query driven by the
		// index finds each entry by its own value.
		c := s.compiler()
		vals := c.ValueExprs(pf)
		stmt := ph("SELECT count(*) FROM index_entries ix CROSS JOIN entries WHERE ix.ix_ns = ? AND ix.ix_field = ? AND entries.namespace_id = ix.ix_ns AND entries.key = ix.ix_key" +
			" AND ix.ix_rank = " + vals[0] + " AND ix.ix_num = COALESCE(" + vals[1] + ", 0) AND (ix.ix_str = COALESCE(" + vals[2] + ", '') OR " + vals[0] + " = 5)")
		var exact int64
		if err := q.queryRows(ctx, stmt, []any{f.ns, f.id}, func(r rowScanner) error { return r.Scan(&exact) }); err != nil {
			t.Fatal(err)
		}
		if exact != indexed {
			t.Errorf("namespace %d field %q: %d of %d index rows hold the entry's values", f.ns, f.field, exact, indexed)
		}
	}
	slices.Sort(names)
	return names
}

// wantIndexes returns physicalIndexes' names of fields of namespace ns,
// sorted.
func wantIndexes(t *testing.T, s *Store, ns string, fields ...string) []string {
	t.Helper()
	id, err := s.readNamespaceID(t.Context(), ns)
	if err != nil || id == 0 {
		t.Fatalf("namespace %q: id %d, %v", ns, id, err)
	}
	var names []string
	for _, f := range fields {
		names = append(names, fmt.Sprintf("%d/%s", id, f))
	}
	slices.Sort(names)
	return names
}

// nsIndexes returns the declared indexes ListNamespaces reports for name.
func nsIndexes(t *testing.T, s *Store, name string) []string {
	t.Helper()
	list, err := s.ListNamespaces(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if n.Name == name {
			return n.Indexes
		}
	}
	t.Fatalf("namespace %q not listed", name)
	return nil
}

// TestNamespaceIndexesRecorded: CreateNamespace records the declared fields
// as declared (duplicates dropped, order kept), ListNamespaces and Export
// return them, a namespace without any reports nil, and the physical
// indexes are the ones the fields call for.
func TestNamespaceIndexesRecorded(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			if got := physicalIndexes(t, s); len(got) != 0 {
				t.Fatalf("fresh store has indexes %v", got)
			}
			if err := s.CreateNamespace(ctx, "people", storage.WithIndexes("age", "profile.city", "age", "$metadata.tag")); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateNamespace(ctx, "plain"); err != nil {
				t.Fatal(err)
			}
			want := []string{"age", "profile.city", "$metadata.tag"}
			if got := nsIndexes(t, s, "people"); !slices.Equal(got, want) {
				t.Errorf("people indexes = %q, want %q", got, want)
			}
			for _, ns := range []string{"plain", "default"} {
				if got := nsIndexes(t, s, ns); got != nil {
					t.Errorf("%s indexes = %q, want nil", ns, got)
				}
			}
			if got, want := physicalIndexes(t, s), wantIndexes(t, s, "people", want...); len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("physical indexes = %v, want %v", got, want)
			}
			// A rejected declaration records nothing.
			err := s.CreateNamespace(ctx, "bad", storage.WithIndexes("$key"))
			if !errors.Is(err, storage.ErrInvalidOption) {
				t.Fatalf("WithIndexes($key) = %v, want ErrInvalidOption", err)
			}
			got := map[string][]string{}
			err = s.Export(ctx, ExportOptions{}, func(n NamespaceRecord) error {
				got[n.Name] = n.Indexes
				return nil
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || !slices.Equal(got["people"], want) || got["plain"] != nil || got["default"] != nil {
				t.Errorf("exported indexes = %q", got)
			}
			one := ExportOptions{Namespace: "people"}
			err = s.Export(ctx, one, func(n NamespaceRecord) error {
				if !slices.Equal(n.Indexes, want) {
					t.Errorf("export of people: indexes = %q, want %q", n.Indexes, want)
				}
				return nil
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRestoreNamespaceIndexes: RestoreNamespace creates a namespace with its
// record's indexes (recorded and physical), merges the fields of a later
// record into an existing namespace (a union, whatever the metadata
// outcome but a failure), reports "updated" when that adds a field and
// "unchanged" when not, and rejects fields WithIndexes rejects, writing
// nothing.
func TestRestoreNamespaceIndexes(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
			rec := NamespaceRecord{Name: "people", Metadata: json.RawMessage(`{"a":1}`), CreatedAt: at, Indexes: []string{"age"}}
			restore := func(r NamespaceRecord, mode ConflictMode, want string) {
				t.Helper()
				out, err := s.RestoreNamespace(ctx, r, mode)
				if err != nil || out != want {
					t.Fatalf("RestoreNamespace(%v) = %q, %v; want %q", r.Indexes, out, err, want)
				}
			}
			check := func(want ...string) {
				t.Helper()
				if got := nsIndexes(t, s, "people"); !slices.Equal(got, want) {
					t.Fatalf("indexes = %q, want %q", got, want)
				}
				if got, want := physicalIndexes(t, s), wantIndexes(t, s, "people", want...); !slices.Equal(got, want) {
					t.Fatalf("physical indexes = %v, want %v", got, want)
				}
			}
			restore(rec, ConflictFail, "created")
			check("age")
			restore(rec, ConflictFail, "unchanged")
			check("age")

			rec.Indexes = []string{"profile.city", "age"}
			restore(rec, ConflictFail, "updated")
			check("age", "profile.city")

			// An old record (no indexes) removes none.
			rec.Indexes = nil
			restore(rec, ConflictFail, "unchanged")
			check("age", "profile.city")

			// With entries and other metadata: a conflict. Fail merges
			// nothing; skip keeps the metadata and still merges.
			if err := s.Set(ctx, "k", 1, storage.InNamespace("people")); err != nil {
				t.Fatal(err)
			}
			other := NamespaceRecord{Name: "people", Metadata: json.RawMessage(`{"a":2}`), CreatedAt: at, Indexes: []string{"tags.0"}}
			if _, err := s.RestoreNamespace(ctx, other, ConflictFail); !errors.Is(err, storage.ErrAlreadyExists) {
				t.Fatalf("conflicting record under fail = %v, want ErrAlreadyExists", err)
			}
			check("age", "profile.city")
			restore(other, ConflictSkip, "skipped")
			check("age", "profile.city", "tags.0")

			// Invalid fields: the typed error CreateNamespace gives, nothing
			// written.
			for _, bad := range []struct {
				fields []string
				want   error
			}{
				{[]string{"$key"}, storage.ErrInvalidOption},
				{[]string{"ok", "$version"}, storage.ErrInvalidOption},
				{[]string{"a b"}, storage.ErrInvalidFilter},
			} {
				r := NamespaceRecord{Name: "fresh", Metadata: json.RawMessage(`{}`), CreatedAt: at, Indexes: bad.fields}
				_, err := s.RestoreNamespace(ctx, r, ConflictFail)
				var oe *storage.OpError
				if !errors.Is(err, bad.want) || !errors.As(err, &oe) {
					t.Errorf("indexes %q: err = %v, want an *OpError wrapping %v", bad.fields, err, bad.want)
				}
			}
			list, err := s.ListNamespaces(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range list {
				if n.Name == "fresh" {
					t.Errorf("a record with invalid indexes created its namespace")
				}
			}
			check("age", "profile.city", "tags.0")
		})
	}
}

// TestRestoreNamespaceIndexesMax: a record whose fields, merged into those
// the namespace declares, would make more than storage.MaxIndexes is
// refused with ErrInvalidOption in every conflict mode, and changes
// nothing (neither the declaration nor the metadata); a union of exactly
// MaxIndexes is fine. Before, the union was declared whatever its size: an
// import of two exports made a namespace of 32 indexes, each a cost to
// every write, which CreateIndex refuses past 16.
func TestRestoreNamespaceIndexesMax(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			fields := func(prefix string, n int) []string {
				var out []string
				for i := range n {
					out = append(out, fmt.Sprintf("%s%d", prefix, i))
				}
				return out
			}
			have := fields("a", 10)
			if err := s.CreateNamespace(ctx, "p", storage.WithIndexes(have...), storage.WithNamespaceMetadata(map[string]any{"m": 1})); err != nil {
				t.Fatal(err)
			}
			if err := s.Set(ctx, "k", map[string]any{"a1": 1, "b1": 2}, storage.InNamespace("p")); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			for _, mode := range []ConflictMode{ConflictOverwrite, ConflictSkip} {
				rec := NamespaceRecord{Name: "p", Metadata: json.RawMessage(`{"m":2}`), CreatedAt: at, Indexes: fields("b", 7)}
				out, err := s.RestoreNamespace(ctx, rec, mode)
				var oe *storage.OpError
				if !errors.Is(err, storage.ErrInvalidOption) || !errors.As(err, &oe) {
					t.Fatalf("mode %v: a union of 17 fields = %q, %v; want an *OpError wrapping ErrInvalidOption", mode, out, err)
				}
				list, err := s.ListNamespaces(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var ns storage.Namespace
				for _, n := range list {
					if n.Name == "p" {
						ns = n
					}
				}
				if !slices.Equal(ns.Indexes, have) || fmt.Sprint(ns.Metadata["m"]) != "1" {
					t.Fatalf("mode %v: after the refused record: indexes %q, metadata %v; want %q and m 1", mode, ns.Indexes, ns.Metadata, have)
				}
			}
			rec := NamespaceRecord{Name: "p", Metadata: json.RawMessage(`{"m":1}`), CreatedAt: at, Indexes: fields("b", 6)}
			if out, err := s.RestoreNamespace(ctx, rec, ConflictSkip); err != nil || out != "updated" {
				t.Fatalf("a union of 16 fields = %q, %v; want updated", out, err)
			}
			if got := nsIndexes(t, s, "p"); len(got) != storage.MaxIndexes {
				t.Fatalf("indexes = %q, want %d", got, storage.MaxIndexes)
			}
		})
	}
}
