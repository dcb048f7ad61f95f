package sqlstore

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestCreateDropIndex: CreateIndex on a namespace that holds data records
// the field and builds its index, which queries then use; DropIndex removes
// both; bad input (a duplicate, a reserved root, a malformed path, a
// missing namespace, one index past MaxIndexes, dropping an undeclared
// field) gets its typed error and changes nothing.
func TestCreateDropIndex(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			items := make([]storage.Item, 300)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("k%03d", i), Value: map[string]any{"age": i % 30, "name": fmt.Sprint("n", i)}}
			}
			if res, err := s.SetMany(ctx, items, storage.InNamespace("p")); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			if err := s.CreateIndex(ctx, "p", "age"); err != nil {
				t.Fatal(err)
			}
			state := func() ([]string, []string) {
				t.Helper()
				return nsIndexes(t, s, "p"), physicalIndexes(t, s)
			}
			decl, phys := state()
			if !slices.Equal(decl, []string{"age"}) || !slices.Equal(phys, wantIndexes(t, s, "p", "age")) {
				t.Fatalf("after CreateIndex: declared %v, indexes %v", decl, phys)
			}
			res, err := s.Query(ctx, storage.Eq("age", 7), storage.InNamespace("p"))
			if err != nil || len(res.Entries) != 10 {
				t.Fatalf("Query: %d entries, %v", len(res.Entries), err)
			}
			for _, bad := range []struct {
				ns, field string
				want      error
			}{
				{"p", "age", storage.ErrIndexExists},
				{"p", "$key", storage.ErrInvalidOption},
				{"p", "a b", storage.ErrInvalidFilter},
				{"missing", "age", storage.ErrNamespaceNotFound},
				{"bad/name", "age", storage.ErrInvalidNamespace},
			} {
				err := s.CreateIndex(ctx, bad.ns, bad.field)
				var oe *storage.OpError
				if !errors.Is(err, bad.want) || !errors.As(err, &oe) {
					t.Errorf("CreateIndex(%q, %q) = %v, want an *OpError wrapping %v", bad.ns, bad.field, err, bad.want)
				}
				if d, p := state(); !slices.Equal(d, decl) || !slices.Equal(p, phys) {
					t.Errorf("CreateIndex(%q, %q) changed the indexes: %v %v", bad.ns, bad.field, d, p)
				}
			}
			if list, _ := s.ListNamespaces(ctx); slices.ContainsFunc(list, func(n storage.Namespace) bool { return n.Name == "missing" }) {
				t.Error("CreateIndex on a missing namespace created it")
			}
			// Up to MaxIndexes, and not one more.
			for i := 1; i < storage.MaxIndexes; i++ {
				if err := s.CreateIndex(ctx, "p", fmt.Sprintf("f%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			decl, phys = state()
			if len(decl) != storage.MaxIndexes || len(phys) != storage.MaxIndexes {
				t.Fatalf("%d declared, %d indexes; want %d", len(decl), len(phys), storage.MaxIndexes)
			}
			if err := s.CreateIndex(ctx, "p", "one.more"); !errors.Is(err, storage.ErrInvalidOption) {
				t.Errorf("index %d: %v, want ErrInvalidOption", storage.MaxIndexes+1, err)
			}
			if d, p := state(); !slices.Equal(d, decl) || !slices.Equal(p, phys) {
				t.Errorf("the refused index changed the indexes: %v %v", d, p)
			}
			// Drop.
			for _, bad := range []struct {
				ns, field string
				want      error
			}{
				{"p", "nope", storage.ErrIndexNotFound},
				{"missing", "age", storage.ErrNamespaceNotFound},
				{"p", "$key", storage.ErrInvalidOption},
			} {
				if err := s.DropIndex(ctx, bad.ns, bad.field); !errors.Is(err, bad.want) {
					t.Errorf("DropIndex(%q, %q) = %v, want %v", bad.ns, bad.field, err, bad.want)
				}
			}
			if err := s.DropIndex(ctx, "p", "age"); err != nil {
				t.Fatal(err)
			}
			d, p := state()
			if slices.Contains(d, "age") || len(d) != storage.MaxIndexes-1 || len(p) != storage.MaxIndexes-1 ||
				slices.Contains(p, wantIndexes(t, s, "p", "age")[0]) {
				t.Errorf("after DropIndex: declared %v, indexes %v", d, p)
			}
			if err := s.DropIndex(ctx, "p", "age"); !errors.Is(err, storage.ErrIndexNotFound) {
				t.Errorf("second DropIndex = %v, want ErrIndexNotFound", err)
			}
			res, err = s.Query(ctx, storage.Eq("age", 7), storage.InNamespace("p"))
			if err != nil || len(res.Entries) != 10 {
				t.Fatalf("Query after DropIndex: %d entries, %v", len(res.Entries), err)
			}
		})
	}
}
