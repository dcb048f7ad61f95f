package dump_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// storeIndexes returns the engine's physical indexes of declared fields in
// s, one "ns<namespace id>:<field>" per field that has its index_fields row
// (the fields whose values index_entries holds), sorted.
func storeIndexes(t testing.TB, s *sqlstore.Store) []string {
	t.Helper()
	ctx := context.Background()
	const q = `SELECT 'ns' || namespace_id || ':' || field FROM index_fields`
	var names []string
	b := s.Backend()
	if b.Pool != nil {
		rows, err := b.Pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	} else {
		rows, err := b.Reader.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(names)
	return names
}

// declared returns each namespace's declared indexes (ListNamespaces).
func declared(t testing.TB, s *sqlstore.Store) map[string][]string {
	t.Helper()
	list, err := s.ListNamespaces(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, n := range list {
		out[n.Name] = n.Indexes
	}
	return out
}

func sameDeclared(t testing.TB, what string, got, want map[string][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: namespaces %v, want %v", what, got, want)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || !slices.Equal(g, w) {
			t.Fatalf("%s: namespace %q declares %q, want %q", what, name, got[name], w)
		}
	}
}

// indexedFields are the fields the source declares.
var indexedFields = []string{"age", "profile.city", "$metadata.tag"}

// referenceIndexes returns the physical indexes a fresh store on dsn makes
// for CreateNamespace with indexedFields: what an import must have made.
func referenceIndexes(t *testing.T, dsn string) []string {
	t.Helper()
	ref := teststore.Open(t, dsn)
	defer ref.Close()
	if err := ref.CreateNamespace(t.Context(), "ref", storage.WithIndexes(indexedFields...)); err != nil {
		t.Fatal(err)
	}
	names := storeIndexes(t, ref)
	if len(names) < len(indexedFields) {
		t.Fatalf("reference store made indexes %v for %v", names, indexedFields)
	}
	return names
}

// seedIndexed makes a store with a namespace that declares indexedFields,
// one that declares none, and a few entries.
func seedIndexed(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	ctx := t.Context()
	if err := s.CreateNamespace(ctx, "people", storage.WithIndexes(indexedFields...),
		storage.WithNamespaceMetadata(map[string]any{"kind": "people"})); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNamespace(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		v := map[string]any{"age": 20 + i, "profile": map[string]any{"city": fmt.Sprintf("c%d", i%3)}}
		if err := s.Set(ctx, fmt.Sprintf("p%02d", i), v, storage.InNamespace("people"), storage.WithMetadata(map[string]any{"tag": "t"})); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, fmt.Sprintf("q%02d", i), i, storage.InNamespace("plain")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIndexesCrossBackend: a namespace created WithIndexes on one backend,
// exported to a file and imported into a fresh store on the other backend
// (and that store exported and imported back into a fresh store of the
// first), lists the same declared indexes and has the physical indexes that
// CreateNamespace makes on that backend; Copy does the same without a
// file. The file's namespace line carries "indexes" for the namespace that
// declares some and no such member for the others.
func TestIndexesCrossBackend(t *testing.T) {
	for _, pair := range [][2]int{{0, 1}, {1, 0}} {
		from, to := backends[pair[0]], backends[pair[1]]
		t.Run(from.Name+"-to-"+to.Name, func(t *testing.T) {
			ctx := t.Context()
			src := teststore.Open(t, from.DSN(t))
			defer src.Close()
			seedIndexed(t, src)
			want := declared(t, src)
			if !slices.Equal(want["people"], indexedFields) || want["plain"] != nil {
				t.Fatalf("source declares %q", want)
			}
			srcIdx := storeIndexes(t, src)
			wantTo, wantFrom := referenceIndexes(t, to.DSN(t)), referenceIndexes(t, from.DSN(t))
			if !slices.Equal(srcIdx, wantFrom) {
				t.Fatalf("source indexes %v, want %v", srcIdx, wantFrom)
			}

			var file bytes.Buffer
			if _, err := dump.Export(ctx, src, &file, dump.ExportOptions{}); err != nil {
				t.Fatal(err)
			}
			nsLines := 0
			for _, line := range strings.Split(strings.TrimSpace(file.String()), "\n") {
				var l map[string]json.RawMessage
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatal(err)
				}
				if string(l["type"]) != `"namespace"` {
					continue
				}
				nsLines++
				ix, has := l["indexes"]
				switch string(l["name"]) {
				case `"people"`:
					if want := `["age","profile.city","$metadata.tag"]`; string(ix) != want {
						t.Errorf("people line indexes = %s, want %s", ix, want)
					}
				default:
					if has {
						t.Errorf("line %s has an indexes member", line)
					}
				}
			}
			if nsLines != 3 {
				t.Fatalf("%d namespace lines, want 3", nsLines)
			}

			dst := teststore.Open(t, to.DSN(t))
			defer dst.Close()
			st, err := dump.Import(ctx, dst, bytes.NewReader(file.Bytes()), dump.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Inserted != 40 {
				t.Fatalf("imported %d entries, want 40", st.Inserted)
			}
			sameDeclared(t, "imported", declared(t, dst), want)
			if got := storeIndexes(t, dst); !slices.Equal(got, wantTo) {
				t.Fatalf("imported store has indexes %v, want %v", got, wantTo)
			}
			n, err := dst.Count(ctx, storage.InNamespace("people"), storage.Where(storage.Eq("age", 25)))
			if err != nil || n != 1 {
				t.Fatalf("indexed count = %d, %v; want 1", n, err)
			}

			// And back, through a file written by the target.
			file.Reset()
			if _, err := dump.Export(ctx, dst, &file, dump.ExportOptions{}); err != nil {
				t.Fatal(err)
			}
			back := teststore.Open(t, from.DSN(t))
			defer back.Close()
			if _, err := dump.Import(ctx, back, &file, dump.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			sameDeclared(t, "imported back", declared(t, back), want)
			if got := storeIndexes(t, back); !slices.Equal(got, wantFrom) {
				t.Fatalf("store imported back has indexes %v, want %v", got, wantFrom)
			}

			// Copy, one namespace.
			cp := teststore.Open(t, to.DSN(t))
			defer cp.Close()
			if _, err := dump.Copy(ctx, src, cp, dump.CopyOptions{Namespace: "people"}); err != nil {
				t.Fatal(err)
			}
			if got := declared(t, cp)["people"]; !slices.Equal(got, indexedFields) {
				t.Fatalf("copied namespace declares %q", got)
			}
			if got := storeIndexes(t, cp); !slices.Equal(got, wantTo) {
				t.Fatalf("copied store has indexes %v, want %v", got, wantTo)
			}
		})
	}
}

// ndjson builds a file from lines (without the trailer), adding the trailer
// with the counts and checksum.
func ndjson(t *testing.T, lines ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	var nss, entries int
	for _, l := range lines {
		b.WriteString(l + "\n")
		switch {
		case strings.Contains(l, `"type":"namespace"`):
			nss++
		case strings.Contains(l, `"type":"entry"`):
			entries++
		}
	}
	sum := sha256.Sum256(b.Bytes())
	fmt.Fprintf(&b, `{"type":"trailer","namespaces":%d,"entries":%d,"sha256":"%s"}`+"\n", nss, entries, hex.EncodeToString(sum[:]))
	return b.Bytes()
}

const testHeader = `{"type":"header","format":"mycelia-storage-ndjson","version":1,"dialect":"sqlite","schema_version":3,"exported_at":"2026-11-25T20:06:47Z"}`

// TestIndexesOldFormat: a file written before indexes were recorded (no
// "indexes" member) imports on both backends and declares nothing; imported
// into a namespace that declares indexes it keeps them; a file's indexes
// are merged into the target's (a union); and a line with indexes
// WithIndexes refuses is malformed, in Check mode too, before anything of
// it is written.
func TestIndexesOldFormat(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			old := ndjson(t, testHeader,
				`{"type":"namespace","name":"people","metadata":{},"created_at":"2026-11-25T20:06:47.357Z","entries":1}`,
				`{"type":"entry","ns":"people","key":"p","value":{"age":3},"metadata":{},"version":1,"created_at":"2026-11-25T20:06:47.361706Z","updated_at":"2026-11-25T20:06:47.361706Z"}`)
			s := teststore.Open(t, b.DSN(t))
			defer s.Close()
			if _, err := dump.Import(ctx, s, bytes.NewReader(old), dump.ImportOptions{}); err != nil {
				t.Fatalf("old-format file: %v", err)
			}
			if got := declared(t, s)["people"]; got != nil {
				t.Fatalf("old-format import declares %q", got)
			}
			if got := storeIndexes(t, s); len(got) != 0 {
				t.Fatalf("old-format import made indexes %v", got)
			}

			// A namespace that declares indexes keeps them when an old file
			// is imported into it, and gains a newer file's (a union).
			s2 := teststore.Open(t, b.DSN(t))
			defer s2.Close()
			if err := s2.CreateNamespace(ctx, "people", storage.WithIndexes("age")); err != nil {
				t.Fatal(err)
			}
			if _, err := dump.Import(ctx, s2, bytes.NewReader(old), dump.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := declared(t, s2)["people"]; !slices.Equal(got, []string{"age"}) {
				t.Fatalf("after old import: declares %q, want [age]", got)
			}
			before := storeIndexes(t, s2)
			newer := ndjson(t, testHeader,
				`{"type":"namespace","name":"people","metadata":{},"created_at":"2026-11-25T20:06:47.357Z","indexes":["profile.city","age"],"entries":1}`)
			st, err := dump.Import(ctx, s2, bytes.NewReader(newer), dump.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.NamespacesUpdated != 1 {
				t.Errorf("merging indexes: NamespacesUpdated = %d, want 1", st.NamespacesUpdated)
			}
			if got := declared(t, s2)["people"]; !slices.Equal(got, []string{"age", "profile.city"}) {
				t.Fatalf("after merge: declares %q, want [age profile.city]", got)
			}
			if after := storeIndexes(t, s2); len(after) <= len(before) || !isSubset(before, after) {
				t.Fatalf("after merge: indexes %v, before %v", after, before)
			}

			// Indexes WithIndexes refuses: malformed, nothing written.
			bad := ndjson(t, testHeader,
				`{"type":"namespace","name":"other","metadata":{},"created_at":"2026-11-25T20:06:47.357Z","indexes":["$key"],"entries":0}`)
			for _, check := range []bool{true, false} {
				_, err := dump.Import(ctx, s, bytes.NewReader(bad), dump.ImportOptions{Check: check})
				var ie *dump.ImportError
				if !errors.Is(err, dump.ErrMalformed) || !errors.Is(err, storage.ErrInvalidOption) || !errors.As(err, &ie) || ie.Line != 2 {
					t.Fatalf("check=%v: bad indexes: err = %v, want a line-2 ErrMalformed ImportError wrapping ErrInvalidOption", check, err)
				}
			}
			if _, ok := declared(t, s)["other"]; ok {
				t.Fatal("a namespace line with bad indexes created its namespace")
			}
			// Indexes must be an array of strings.
			wrong := ndjson(t, testHeader,
				`{"type":"namespace","name":"other","metadata":{},"created_at":"2026-11-25T20:06:47.357Z","indexes":"age","entries":0}`)
			if _, err := dump.Import(ctx, s, bytes.NewReader(wrong), dump.ImportOptions{}); !errors.Is(err, dump.ErrMalformed) {
				t.Fatalf("indexes not an array: err = %v, want ErrMalformed", err)
			}
		})
	}
}

func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
