package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// indexTests cover storage.Indexer, run where the store has it.
var indexTests = []test{
	{"CreateDrop", testIndexCreateDrop},
	{"AnyValue", testIndexAnyValue},
}

func indexer(t *testing.T, st storage.Store) storage.Indexer {
	t.Helper()
	ix, ok := st.(storage.Indexer)
	if !ok {
		t.Skip("the store is not a storage.Indexer")
	}
	return ix
}

func declared(t *testing.T, st storage.Store, name string) []string {
	t.Helper()
	for _, n := range mustNamespaces(t, st) {
		if n.Name == name {
			return n.Indexes
		}
	}
	t.Fatalf("namespace %q not listed", name)
	return nil
}

// testIndexCreateDrop: CreateIndex on a namespace with data declares the
// field (Namespace.Indexes) and changes no answer; a duplicate, a missing
// namespace, a reserved root are typed errors; DropIndex withdraws it, and
// a second drop is ErrIndexNotFound.
func testIndexCreateDrop(t *testing.T, s *suite) {
	st := s.newStore(t)
	ix := indexer(t, st)
	ctx := t.Context()
	for i := range 40 {
		mustSet(t, st, fmt.Sprintf("k%02d", i), map[string]any{"age": i % 7, "name": fmt.Sprint("n", i%5)}, ns("p"))
	}
	f := storage.And(storage.Gte("age", 2), storage.Lt("age", 4))
	bySort := []storage.Option{ns("p"), storage.SortBy(storage.Desc("age"), storage.Asc("name")), storage.Limit(7)}
	before, beforeSorted := queryKeys(t, st, f, ns("p")), queryKeys(t, st, f, bySort...)
	noErr(t, ix.CreateIndex(ctx, "p", "age"), "CreateIndex")
	noErr(t, ix.CreateIndex(ctx, "p", "name"), "CreateIndex")
	if got := declared(t, st, "p"); !slices.Equal(got, []string{"age", "name"}) {
		t.Errorf("Indexes = %q, want [age name]", got)
	}
	if got := queryKeys(t, st, f, ns("p")); !slices.Equal(got, before) {
		t.Errorf("with the index: %v, want %v", got, before)
	}
	if got := queryKeys(t, st, f, bySort...); !slices.Equal(got, beforeSorted) {
		t.Errorf("sorted with the index: %v, want %v", got, beforeSorted)
	}
	wantErr(t, ix.CreateIndex(ctx, "p", "age"), storage.ErrIndexExists, "CreateIndex twice")
	wantErr(t, ix.CreateIndex(ctx, "nope", "age"), storage.ErrNamespaceNotFound, "CreateIndex on a missing namespace")
	wantErr(t, ix.CreateIndex(ctx, "p", "$key"), storage.ErrInvalidOption, "CreateIndex($key)")
	wantErr(t, ix.DropIndex(ctx, "p", "other"), storage.ErrIndexNotFound, "DropIndex of an undeclared field")
	if got := declared(t, st, "p"); !slices.Equal(got, []string{"age", "name"}) {
		t.Errorf("after refused calls: Indexes = %q, want [age name]", got)
	}
	noErr(t, ix.DropIndex(ctx, "p", "age"), "DropIndex")
	if got := declared(t, st, "p"); !slices.Equal(got, []string{"name"}) {
		t.Errorf("after DropIndex: Indexes = %q, want [name]", got)
	}
	wantErr(t, ix.DropIndex(ctx, "p", "age"), storage.ErrIndexNotFound, "DropIndex twice")
	if got := queryKeys(t, st, f, bySort...); !slices.Equal(got, beforeSorted) {
		t.Errorf("sorted after DropIndex: %v, want %v", got, beforeSorted)
	}
}

// testIndexAnyValue: a long string in an indexed field writes and is found,
// and an index in one namespace changes nothing for another's writes.
func testIndexAnyValue(t *testing.T, s *suite) {
	st := s.newStore(t)
	ix := indexer(t, st)
	noErr(t, st.CreateNamespace(t.Context(), "a"), "CreateNamespace")
	noErr(t, ix.CreateIndex(t.Context(), "a", "name"), "CreateIndex")
	long := strings.Repeat("é", 20000) // 40 kB
	for _, n := range []string{"a", "b"} {
		mustSet(t, st, "long", map[string]any{"name": long}, ns(n))
		mustSet(t, st, "short", map[string]any{"name": "x"}, ns(n))
		if got := queryKeys(t, st, storage.Eq("name", long), ns(n)); !slices.Equal(got, []string{"long"}) {
			t.Errorf("%s: eq on the long string: %v", n, got)
		}
		if got := queryKeys(t, st, storage.StartsWith("name", long[:600]), ns(n)); !slices.Equal(got, []string{"long"}) {
			t.Errorf("%s: startsWith a long prefix: %v", n, got)
		}
	}
}
