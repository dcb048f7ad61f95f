package dump_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// testdata/v1.ndjson was written by Export before the lines took the
// wire's camelCase shape (format version 1: "ns", "created_at", …): two
// namespaces (one with metadata and declared indexes), an entry written by
// two actors, one with an expiry, one with a U+2028 in its value.

// TestImportVersion1 reads an old dump, and the version 2 file exported
// from what it restored holds the same store.
func TestImportVersion1(t *testing.T) {
	v1, err := os.ReadFile("testdata/v1.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			s := teststore.Open(t, b.DSN(t))
			st, err := dump.Import(ctx, s, bytes.NewReader(v1), dump.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Header.Version != 1 || st.Header.SchemaVersion != 6 || st.Header.Dialect != "sqlite" || st.Header.ExportedAt.IsZero() {
				t.Errorf("header %+v", st.Header)
			}
			if st.Inserted != 3 || st.Namespaces != 2 {
				t.Errorf("stats %+v, want 3 entries inserted in 2 namespaces", st)
			}
			checkVersion1Store(t, s)

			// Exported again it is a version 2 file in the wire's shape,
			// which restores the same store.
			v2 := exportBytes(t, s, dump.ExportOptions{})
			for _, want := range []string{`"version":2`, `"schemaVersion":`, `"exportedAt":`, `"namespace":"people","key":"ada"`,
				`"createdAt":"2026-11-25T20:06:47.361706Z"`, `"updatedAt":"2026-11-25T20:06:48.861706Z"`,
				`"createdBy":"alice","updatedBy":"bob"`, `"expiresAt":"2099-01-02T03:04:05Z"`} {
				if !bytes.Contains(v2, []byte(want)) {
					t.Errorf("the version 2 export lacks %s:\n%s", want, v2)
				}
			}
			for _, old := range []string{`"ns":`, `_at":`, `_by":`, `schema_version`} {
				if bytes.Contains(v2, []byte(old)) {
					t.Errorf("the version 2 export has a version 1 member %s:\n%s", old, v2)
				}
			}
			s2 := teststore.Open(t, b.DSN(t))
			if _, err := dump.Import(ctx, s2, bytes.NewReader(v2), dump.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			checkVersion1Store(t, s2)
			sameSnapshot(t, "version 1 import vs its version 2 re-import", take(t, s), take(t, s2))

			// Importing the old file again changes nothing (idempotent).
			st, err = dump.Import(ctx, s, bytes.NewReader(v1), dump.ImportOptions{})
			if err != nil || st.Inserted != 0 || st.Unchanged != 3 {
				t.Errorf("second import: %v, %+v; want 3 unchanged", err, st)
			}
		})
	}
}

func checkVersion1Store(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	people := storage.InNamespace("people")
	ada, err := s.Get(ctx, "ada", people)
	if err != nil {
		t.Fatal(err)
	}
	md, err := s.GetMetadata(ctx, "ada", people)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 25, 20, 6, 47, 361706000, time.UTC)
	if ada.Version != 2 || !ada.CreatedAt.Equal(created) || !ada.UpdatedAt.Equal(created.Add(1500*time.Millisecond)) ||
		md.CreatedBy != "alice" || md.UpdatedBy != "bob" || md.User["src"] != "v1" || !JSONEq(ada.Value, `{"age":37,"profile":{"city":"London"}}`) {
		t.Errorf("ada: %+v %s, metadata %+v", ada, ada.Value, md)
	}
	grace, err := s.Get(ctx, "grace", people)
	if err != nil || !grace.ExpiresAt.Equal(time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("grace: %v, expires %v", err, grace.ExpiresAt)
	}
	g, err := s.Get(ctx, "greeting")
	if err != nil || !JSONEq(g.Value, `"héllo \u2028"`) {
		t.Errorf("greeting: %v %s", err, g.Value)
	}
	nss, err := s.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nss {
		if n.Name == "people" {
			if n.Metadata["team"] != "core" || strings.Join(n.Indexes, ",") != "age,profile.city" || !n.CreatedAt.Equal(created) {
				t.Errorf("namespace people: %+v", n)
			}
			return
		}
	}
	t.Errorf("no namespace people in %+v", nss)
}

// JSONEq compares JSON by meaning.
func JSONEq(b []byte, want string) bool { return sqlstore.JSONEqual(b, []byte(want)) }

// TestImportSpellingsDoNotMix: a version 1 file with a version 2 member,
// or a version 2 file with a version 1 member, is malformed, and the error
// names the member.
func TestImportSpellingsDoNotMix(t *testing.T) {
	v1, err := os.ReadFile("testdata/v1.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	src := teststore.Open(t, backends[0].DSN(t))
	if _, err := dump.Import(context.Background(), src, bytes.NewReader(v1), dump.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	v2 := exportBytes(t, src, dump.ExportOptions{})
	for _, c := range []struct {
		name, file, from, to, member string
	}{
		{"v1 entry with namespace", string(v1), `"ns":"people","key":"ada"`, `"namespace":"people","key":"ada"`, `"namespace"`},
		{"v1 entry with createdAt", string(v1), `"created_by":"alice","updated_by":"bob"`, `"createdBy":"alice","updated_by":"bob"`, `"createdBy"`},
		{"v1 header with exportedAt", string(v1), `"exported_at"`, `"exportedAt"`, `"exportedAt"`},
		{"v2 entry with ns", string(v2), `"namespace":"people","key":"ada"`, `"ns":"people","key":"ada"`, `"ns"`},
		{"v2 namespace line with created_at", string(v2), `"name":"people","metadata":{"team":"core"},"createdAt"`,
			`"name":"people","metadata":{"team":"core"},"created_at"`, `"created_at"`},
		{"v2 entry with expires_at", string(v2), `"expiresAt"`, `"expires_at"`, `"expires_at"`},
		{"v2 header with schema_version", string(v2), `"schemaVersion"`, `"schema_version"`, `"schema_version"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(c.file, c.from) {
				t.Fatalf("the file lacks %s", c.from)
			}
			bad := strings.Replace(c.file, c.from, c.to, 1)
			s := teststore.Open(t, backends[0].DSN(t))
			_, err := dump.Import(context.Background(), s, strings.NewReader(bad), dump.ImportOptions{Check: true})
			if !errors.Is(err, dump.ErrMalformed) || !strings.Contains(err.Error(), c.member) {
				t.Errorf("import: %v, want malformed naming %s", err, c.member)
			}
		})
	}
}
