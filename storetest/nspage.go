package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// nsPageTests check ListNamespaces' paging: Limit, After (a name) and
// OmitValues.
var nsPageTests = []test{
	{"ListPaged", testListNamespacesPaged},
	{"ListPagedInvalid", testListNamespacesPagedInvalid},
	{"ListPagedConcurrent", testListNamespacesPagedConcurrent},
}

// pageNamespaces reads every namespace page by page: Limit(limit), then
// After the last name of the previous page, until a page is shorter than
// limit. It fails t if a page holds more than limit.
func pageNamespaces(t *testing.T, st storage.Store, limit int, opts ...storage.Option) []storage.Namespace {
	t.Helper()
	var all []storage.Namespace
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("ListNamespaces Limit(%d): more than 10000 pages", limit)
		}
		o := append([]storage.Option{storage.Limit(limit)}, opts...)
		if after != "" {
			o = append(o, storage.After(after))
		}
		page, err := st.ListNamespaces(t.Context(), o...)
		if err != nil {
			t.Fatalf("ListNamespaces Limit(%d) After(%q): %v", limit, after, err)
		}
		if len(page) > limit {
			t.Fatalf("ListNamespaces Limit(%d): %d namespaces", limit, len(page))
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		after = page[len(page)-1].Name
	}
}

func names(list []storage.Namespace) []string {
	out := make([]string, len(list))
	for i, n := range list {
		out[i] = n.Name
	}
	return out
}

func testListNamespacesPaged(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	created := byteOrderNames
	for i, n := range created {
		noErr(t, st.CreateNamespace(ctx, n, storage.WithNamespaceMetadata(map[string]any{"i": i, "pad": strings.Repeat("x", i)})),
			"CreateNamespace("+quote(n)+")")
	}
	full := mustNamespaces(t, st)
	if len(full) != len(created)+1 {
		t.Fatalf("ListNamespaces: %d namespaces, want %d", len(full), len(created)+1)
	}
	for _, limit := range []int{1, 2, 5, len(full) - 1, len(full), len(full) + 1} {
		got := pageNamespaces(t, st, limit)
		if !reflect.DeepEqual(got, full) {
			t.Errorf("pages of Limit(%d) = %q,\nwant %q", limit, names(got), names(full))
		}
		lean := pageNamespaces(t, st, limit, storage.OmitValues())
		if !slices.Equal(names(lean), names(full)) {
			t.Errorf("pages of Limit(%d) OmitValues = %q,\nwant %q", limit, names(lean), names(full))
		}
		for i, n := range lean {
			if n.Metadata != nil {
				t.Fatalf("OmitValues: %s has metadata %v", n.Name, n.Metadata)
			}
			if n.Owner != full[i].Owner || !n.CreatedAt.Equal(full[i].CreatedAt) || !slices.Equal(n.Indexes, full[i].Indexes) {
				t.Errorf("OmitValues: %+v, want %+v without metadata", n, full[i])
			}
		}
	}
	if got, err := st.ListNamespaces(ctx, storage.Limit(0)); err != nil || len(got) != 0 {
		t.Errorf("ListNamespaces Limit(0) = %q, %v; want none", names(got), err)
	}
	// After is any position, not only a listed name.
	got, err := st.ListNamespaces(ctx, storage.After("a."))
	noErr(t, err, "ListNamespaces After(a.)")
	var want []string
	for _, n := range full {
		if n.Name > "a." {
			want = append(want, n.Name)
		}
	}
	if !slices.Equal(names(got), want) {
		t.Errorf("ListNamespaces After(a.) = %q, want %q", names(got), want)
	}
	got, err = st.ListNamespaces(ctx, storage.After(full[len(full)-1].Name))
	if err != nil || len(got) != 0 {
		t.Errorf("ListNamespaces After(the last name) = %q, %v; want none", names(got), err)
	}
}

func testListNamespacesPagedInvalid(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	for what, opts := range map[string][]storage.Option{
		"Limit(-1)":          {storage.Limit(-1)},
		"After NUL":          {storage.After("a\x00")},
		"After not UTF-8":    {storage.After("a\xff")},
		"After too long":     {storage.After(strings.Repeat("x", 513))},
		"After empty":        {storage.After("")},
		"InNamespace":        {ns("default")},
		"Offset":             {storage.Offset(1)},
		"Pattern":            {storage.Pattern("*")},
		"Limit twice":        {storage.Limit(1), storage.Limit(2)},
		"OmitValues, Offset": {storage.OmitValues(), storage.Offset(0)},
	} {
		list, err := st.ListNamespaces(ctx, opts...)
		wantErr(t, err, storage.ErrInvalidOption, "ListNamespaces "+what)
		if list != nil {
			t.Errorf("ListNamespaces %s: %d namespaces beside the error", what, len(list))
		}
	}
	// The longest position is taken.
	_, err := st.ListNamespaces(ctx, storage.After(strings.Repeat("x", 512)))
	noErr(t, err, "ListNamespaces After(512 bytes)")
}

// testListNamespacesPagedConcurrent pages while namespaces between the
// pages' names are created and deleted: every namespace that exists
// throughout is listed exactly once, in order (keyset paging).
func testListNamespacesPagedConcurrent(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	const stable = 40
	var keep []string
	for i := range stable {
		n := fmt.Sprintf("s%03d", i)
		keep = append(keep, n)
		noErr(t, st.CreateNamespace(ctx, n), "CreateNamespace")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// A name between two stable ones, created, and the
			// previous one deleted: at most two exist at a time, so
			// the listing stays finite.
			n := fmt.Sprintf("s%03dx%d", i%stable, i)
			if err := st.CreateNamespace(ctx, n); err != nil {
				t.Errorf("CreateNamespace(%s): %v", n, err)
				return
			}
			if i > 0 {
				prev := fmt.Sprintf("s%03dx%d", (i-1)%stable, i-1)
				if err := st.DeleteNamespace(ctx, prev); err != nil {
					t.Errorf("DeleteNamespace(%s): %v", prev, err)
					return
				}
			}
		}
	}()
	for _, limit := range []int{1, 3, 7} {
		got := names(pageNamespaces(t, st, limit))
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("pages of Limit(%d) while namespaces change: out of order or repeated: %q", limit, got)
		}
		for _, n := range keep {
			if _, ok := slices.BinarySearch(got, n); !ok {
				t.Errorf("pages of Limit(%d) while namespaces change: %s is missing", limit, n)
			}
		}
	}
	close(stop)
	wg.Wait()
}
