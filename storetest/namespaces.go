package storetest

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

var namespaceTests = []test{
	{"Valid", testNamespacesValid},
	{"Invalid", testNamespacesInvalid},
	{"Default", testNamespacesDefault},
	{"WriteCreates", testNamespacesWriteCreates},
	{"ReadDoesNotCreate", testNamespacesReadDoesNotCreate},
	{"FailedWriteDoesNotCreate", testNamespacesFailedWriteDoesNotCreate},
	{"Isolation", testNamespacesIsolation},
}

var namespaceOpTests = []test{
	{"Create", testCreateNamespace},
	{"CreateDuplicate", testCreateNamespaceDuplicate},
	{"CreateMetadata", testCreateNamespaceMetadata},
	{"CreateInvalidMetadata", testCreateNamespaceInvalidMetadata},
	{"DeleteMissing", testDeleteNamespaceMissing},
	{"DeleteEmpty", testDeleteNamespaceEmpty},
	{"DeleteNotEmpty", testDeleteNamespaceNotEmpty},
	{"DeleteRecursive", testDeleteNamespaceRecursive},
	{"DeleteDefault", testDeleteNamespaceDefault},
	{"RecreateIsEmpty", testNamespaceRecreateIsEmpty},
	{"ListFresh", testListNamespacesFresh},
	{"ListSorted", testListNamespacesSorted},
	{"InvalidOptions", testNamespaceInvalidOptions},
}

// validNamespaces are accepted names and the owner each records.
var validNamespaces = []struct{ name, ns, owner string }{
	{"letter", "a", ""},
	{"digit", "0", ""},
	{"upper", "ABC", ""},
	{"punctuation", "a.b_c-d", ""},
	{"dots", "x..", ""},
	{"max", "n" + strings.Repeat("x", 127), ""},
	{"principal", "principal://pk1", "pk1"},
	{"principalChars", "principal://AZaz09._~+=-", "AZaz09._~+=-"},
	{"principalDot", "principal://.a", ".a"},
	{"principalMax", "principal://" + strings.Repeat("p", 256), strings.Repeat("p", 256)},
	{"principalNamespace", "principal://pk1/namespace/notes", "pk1"},
	{"principalNamespaceMax", "principal://pk2/namespace/n" + strings.Repeat("x", 127), "pk2"},
}

// invalidNamespaces are refused names.
var invalidNamespaces = []struct{ name, ns string }{
	{"empty", ""},
	{"slash", "a/b"},
	{"colon", "a:b"},
	{"star", "a*"},
	{"leadingDash", "-x"},
	{"leadingDot", ".x"},
	{"leadingUnderscore", "_x"},
	{"space", "a b"},
	{"unicode", "é"},
	{"NUL", "a\x00"},
	{"tooLong", strings.Repeat("x", 129)},
	{"principalEmpty", "principal://"},
	{"principalDotPKR", "principal://."},
	{"principalDotDotPKR", "principal://.."},
	{"principalSlashPKR", "principal://a/b"},
	{"principalBadChar", "principal://k*"},
	{"principalTooLong", "principal://" + strings.Repeat("p", 257)},
	{"principalOther", "principal://k/other/x"},
	{"principalTrailingSlash", "principal://k/"},
	{"principalNamespaceEmpty", "principal://k/namespace/"},
	{"principalNamespaceInvalid", "principal://k/namespace/-x"},
	{"principalNamespaceNested", "principal://k/namespace/x/y"},
	{"principalDotDot", "principal://../namespace/x"},
	{"principalUpperScheme", "PRINCIPAL://k"},
	{"otherScheme", "user://k"},
}

func testNamespacesValid(t *testing.T, s *suite) {
	st := s.newStore(t)
	for i, tc := range validNamespaces {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			wantOwner := func(how string) {
				t.Helper()
				n, ok := findNamespace(t, st, tc.ns)
				if !ok {
					t.Fatalf("namespace %q not listed after %s", tc.ns, how)
				}
				if n.Owner != tc.owner {
					t.Errorf("after %s: Namespace(%q).Owner = %q, want %q", how, tc.ns, n.Owner, tc.owner)
				}
			}
			// CreateNamespace accepts it and records the owner.
			noErr(t, st.CreateNamespace(ctx, tc.ns), "CreateNamespace")
			wantOwner("CreateNamespace")
			noErr(t, st.DeleteNamespace(ctx, tc.ns), "DeleteNamespace")
			// So does a write that creates it.
			value := mustJSON(t, i)
			mustSet(t, st, "k", raw(value), ns(tc.ns))
			wantOwner("Set")
			e := wantEntry(t, st, "k", string(value), 1, ns(tc.ns))
			wantEntryFields(t, e, tc.ns, "k")
		})
	}
	if got := mustStatus(t, st); got.Size != int64(len(validNamespaces)) || got.Namespaces != int64(len(validNamespaces))+1 {
		t.Errorf("Status() Size, Namespaces = %d, %d, want %d, %d", got.Size, got.Namespaces, len(validNamespaces), len(validNamespaces)+1)
	}
}

func testNamespacesInvalid(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`))
	for _, tc := range invalidNamespaces {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			before := snapshot(t, st)
			o := ns(tc.ns)
			_, err := st.Get(ctx, "k", o)
			wantErr(t, err, storage.ErrInvalidNamespace, "Get")
			wantErr(t, st.Set(ctx, "k", raw(`2`), o), storage.ErrInvalidNamespace, "Set")
			wantErr(t, st.Delete(ctx, "k", o), storage.ErrInvalidNamespace, "Delete")
			_, err = st.Has(ctx, "k", o)
			wantErr(t, err, storage.ErrInvalidNamespace, "Has")
			_, err = st.GetMany(ctx, []string{"k"}, o)
			wantErr(t, err, storage.ErrInvalidNamespace, "GetMany")
			_, err = st.SetMany(ctx, []storage.Item{{Key: "k", Value: raw(`2`)}}, o)
			wantErr(t, err, storage.ErrInvalidNamespace, "SetMany")
			_, err = st.DeleteMany(ctx, []string{"k"}, o)
			wantErr(t, err, storage.ErrInvalidNamespace, "DeleteMany")
			_, err = st.GetMetadata(ctx, "k", o)
			wantErr(t, err, storage.ErrInvalidNamespace, "GetMetadata")
			wantErr(t, st.SetMetadata(ctx, "k", map[string]any{"a": 1}, o), storage.ErrInvalidNamespace, "SetMetadata")
			wantErr(t, st.Clear(ctx, o), storage.ErrInvalidNamespace, "Clear")
			wantErr(t, st.CreateNamespace(ctx, tc.ns), storage.ErrInvalidNamespace, "CreateNamespace")
			wantErr(t, st.DeleteNamespace(ctx, tc.ns), storage.ErrInvalidNamespace, "DeleteNamespace")
			wantErr(t, st.DeleteNamespace(ctx, tc.ns, storage.Recursive()), storage.ErrInvalidNamespace, "DeleteNamespace Recursive")
			unchanged(t, st, before, "an invalid namespace")
			wantEntry(t, st, "k", `1`, 1)
		})
	}
}

func testNamespacesDefault(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`"plain"`))
	e := wantEntry(t, st, "k", `"plain"`, 1, ns(storage.DefaultNamespace))
	wantEntryFields(t, e, storage.DefaultNamespace, "k")
	mustSet(t, st, "k", raw(`"explicit"`), ns(storage.DefaultNamespace))
	wantEntry(t, st, "k", `"explicit"`, 2)
	if got := namespaceNames(t, st); !slices.Equal(got, []string{storage.DefaultNamespace}) {
		t.Errorf("namespaces = %q, want only %q", got, storage.DefaultNamespace)
	}
}

func testNamespacesWriteCreates(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`), ns("bySet"))
	_, err := st.SetMany(ctx, []storage.Item{{Key: "k", Value: raw(`1`)}}, ns("bySetMany"))
	noErr(t, err, "SetMany")
	mustSet(t, st, "k", raw(`1`), ns("principal://pk/namespace/bySet"))
	want := []string{"bySet", "bySetMany", storage.DefaultNamespace, "principal://pk/namespace/bySet"}
	if got := namespaceNames(t, st); !slices.Equal(got, want) {
		t.Errorf("namespaces = %q, want %q", got, want)
	}
	for _, n := range mustNamespaces(t, st) {
		wantTime(t, n.CreatedAt, "Namespace("+quote(n.Name)+").CreatedAt")
		if n.Name != storage.DefaultNamespace {
			wantObject(t, n.Metadata, `{}`, "Namespace("+quote(n.Name)+").Metadata")
		}
	}
	if n, _ := findNamespace(t, st, "principal://pk/namespace/bySet"); n.Owner != "pk" {
		t.Errorf("Owner = %q, want %q", n.Owner, "pk")
	}
	if got := mustStatus(t, st); got.Namespaces != 4 || got.Size != 3 {
		t.Errorf("Status() Namespaces, Size = %d, %d, want 4, 3", got.Namespaces, got.Size)
	}
}

func testNamespacesReadDoesNotCreate(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	before := snapshot(t, st)
	o := ns("missing")
	_, err := st.Get(ctx, "k", o)
	wantErr(t, err, storage.ErrNotFound, "Get")
	ok, err := st.Has(ctx, "k", o)
	noErr(t, err, "Has")
	if ok {
		t.Errorf("Has = true in a missing namespace")
	}
	res, err := st.GetMany(ctx, []string{"k", "j"}, o)
	noErr(t, err, "GetMany")
	if len(res.Entries) != 0 || len(res.Errors) != 2 {
		t.Errorf("GetMany found %d entries and %d errors, want 0 and 2", len(res.Entries), len(res.Errors))
	}
	for k, err := range res.Errors {
		wantErr(t, err, storage.ErrNotFound, "GetMany key "+quote(k))
	}
	_, err = st.GetMetadata(ctx, "k", o)
	wantErr(t, err, storage.ErrNotFound, "GetMetadata")
	wantErr(t, st.Delete(ctx, "k", o), storage.ErrNotFound, "Delete")
	dres, err := st.DeleteMany(ctx, []string{"k"}, o)
	batchCallErr(t, err, "DeleteMany", storage.ErrNotFound)
	checkBatch(t, dres, []string{"k"}, "DeleteMany")
	wantErr(t, resultOf(t, dres, "k").Err, storage.ErrNotFound, "DeleteMany key")
	wantErr(t, st.SetMetadata(ctx, "k", map[string]any{"a": 1}, o), storage.ErrNotFound, "SetMetadata")
	unchanged(t, st, before, "reads from a missing namespace")
}

func testNamespacesFailedWriteDoesNotCreate(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	before := snapshot(t, st)
	o := ns("missing")
	wantErr(t, st.Set(ctx, "k", raw(`1`), o, storage.IfVersion(1)), storage.ErrConflict, "Set IfVersion")
	wantErr(t, st.Set(ctx, "k", raw(`{`), o), storage.ErrInvalidValue, "Set invalid value")
	wantErr(t, st.Set(ctx, "k", raw(`1`), o, storage.Merge(), storage.IfVersion(1)), storage.ErrConflict, "Set Merge IfVersion")
	wantErr(t, st.Set(ctx, "k", raw(`1`), o, storage.Merge(), storage.NoOverwrite()), storage.ErrInvalidOption, "Set Merge NoOverwrite")
	res, err := st.SetMany(ctx, []storage.Item{{Key: "k", Value: raw(`1`)}, {Key: "bad", Value: raw(`{`)}}, o, storage.Atomic())
	batchCallErr(t, err, "SetMany Atomic", storage.ErrInvalidValue)
	checkBatch(t, res, []string{"k", "bad"}, "SetMany Atomic")
	res, err = st.SetMany(ctx, []storage.Item{{Key: "", Value: raw(`1`)}}, o)
	batchCallErr(t, err, "SetMany invalid key", storage.ErrInvalidKey)
	checkBatch(t, res, []string{""}, "SetMany invalid key")
	unchanged(t, st, before, "failed writes to a missing namespace")
}

func testNamespacesIsolation(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	a, b := ns("a"), ns("b")
	mustSet(t, st, "k", raw(`"in a"`), a, storage.WithMetadata(map[string]any{"ns": "a"}))
	mustSet(t, st, "k", raw(`"in b"`), b)
	mustSet(t, st, "k", raw(`"in b again"`), b)
	wantEntry(t, st, "k", `"in a"`, 1, a)
	eb := wantEntry(t, st, "k", `"in b again"`, 2, b)
	wantEntryFields(t, eb, "b", "k")
	if !JSONEqual(eb.Metadata, []byte(`{}`)) {
		t.Errorf("metadata leaked across namespaces: %s", eb.Metadata)
	}
	wantMissing(t, st, "k") // default
	// NoOverwrite sees only its own namespace.
	noErr(t, st.Set(ctx, "only-a", raw(`1`), a, storage.NoOverwrite()), "Set NoOverwrite a")
	noErr(t, st.Set(ctx, "only-a", raw(`2`), b, storage.NoOverwrite()), "Set NoOverwrite b")
	// Deleting in one leaves the other.
	noErr(t, st.Delete(ctx, "k", a), "Delete in a")
	wantMissing(t, st, "k", a)
	wantEntry(t, st, "k", `"in b again"`, 2, b)
	// Batches see only their namespace.
	res, err := st.GetMany(ctx, []string{"k", "only-a"}, a)
	noErr(t, err, "GetMany")
	if _, ok := res.Entries["k"]; ok {
		t.Errorf("GetMany in a found k, deleted there")
	}
	if e, ok := res.Entries["only-a"]; !ok || !JSONEqual(e.Value, []byte(`1`)) || e.Namespace != "a" {
		t.Errorf("GetMany in a: only-a = %+v, want value 1 in namespace a", e)
	}
	// Clear of one leaves the other.
	noErr(t, st.Clear(ctx, b), "Clear b")
	wantEntry(t, st, "only-a", `1`, 1, a)
	wantMissing(t, st, "only-a", b)
	wantSize(t, st, 1)
}

func testCreateNamespace(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	noErr(t, st.CreateNamespace(ctx, "users"), "CreateNamespace")
	noErr(t, st.CreateNamespace(ctx, "principal://pk/namespace/inbox"), "CreateNamespace principal")
	noErr(t, st.CreateNamespace(ctx, "principal://pk"), "CreateNamespace principal root")
	want := []string{storage.DefaultNamespace, "principal://pk", "principal://pk/namespace/inbox", "users"}
	if got := namespaceNames(t, st); !slices.Equal(got, want) {
		t.Errorf("namespaces = %q, want %q", got, want)
	}
	for _, n := range mustNamespaces(t, st) {
		wantTime(t, n.CreatedAt, "Namespace("+quote(n.Name)+").CreatedAt")
		wantOwner := ""
		if strings.HasPrefix(n.Name, "principal://") {
			wantOwner = "pk"
		}
		if n.Owner != wantOwner {
			t.Errorf("Namespace(%q).Owner = %q, want %q", n.Name, n.Owner, wantOwner)
		}
		if n.Name != storage.DefaultNamespace {
			wantObject(t, n.Metadata, `{}`, "Namespace("+quote(n.Name)+").Metadata")
		}
	}
	if got := mustStatus(t, st); got.Namespaces != 4 || got.Size != 0 {
		t.Errorf("Status() Namespaces, Size = %d, %d, want 4, 0", got.Namespaces, got.Size)
	}
	// A created namespace is usable and empty.
	wantMissing(t, st, "k", ns("users"))
	mustSet(t, st, "k", raw(`1`), ns("users"))
	wantEntry(t, st, "k", `1`, 1, ns("users"))
}

func testCreateNamespaceDuplicate(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	wantErr(t, st.CreateNamespace(ctx, storage.DefaultNamespace), storage.ErrNamespaceExists, "CreateNamespace(default)")
	noErr(t, st.CreateNamespace(ctx, "x", storage.WithNamespaceMetadata(map[string]any{"v": 1})), "CreateNamespace")
	mustSet(t, st, "k", raw(`1`), ns("x"))
	before := snapshot(t, st)
	wantErr(t, st.CreateNamespace(ctx, "x", storage.WithNamespaceMetadata(map[string]any{"v": 2})), storage.ErrNamespaceExists, "CreateNamespace duplicate")
	mustSet(t, st, "k", raw(`1`), ns("byWrite"))
	wantErr(t, st.CreateNamespace(ctx, "byWrite"), storage.ErrNamespaceExists, "CreateNamespace of a namespace a write created")
	n, _ := findNamespace(t, st, "x")
	wantObject(t, n.Metadata, `{"v":1}`, "metadata after a duplicate create")
	wantEntry(t, st, "k", `1`, 1, ns("x"))
	if got := mustStatus(t, st).Namespaces; got != int64(len(before.names))+1 {
		t.Errorf("Status().Namespaces = %d, want %d", got, len(before.names)+1)
	}
}

func testCreateNamespaceMetadata(t *testing.T, s *suite) {
	st := s.newStore(t)
	md := `{"title":"Users","limits":{"max":10,"ratio":0.5},"tags":["a","b"],"on":true,"none":null}`
	noErr(t, st.CreateNamespace(t.Context(), "users", storage.WithNamespaceMetadata(obj(t, md))), "CreateNamespace")
	n, ok := findNamespace(t, st, "users")
	if !ok {
		t.Fatalf("namespace not listed")
	}
	wantObject(t, n.Metadata, md, "Namespace.Metadata")
	// Writing entries does not change it.
	mustSet(t, st, "k", raw(`1`), ns("users"), storage.WithMetadata(map[string]any{"entry": true}))
	n, _ = findNamespace(t, st, "users")
	wantObject(t, n.Metadata, md, "Namespace.Metadata after a write")
}

func testCreateNamespaceInvalidMetadata(t *testing.T, s *suite) {
	st := s.newStore(t)
	before := snapshot(t, st)
	err := st.CreateNamespace(t.Context(), "x", storage.WithNamespaceMetadata(map[string]any{"bad": nan()}))
	wantErr(t, err, storage.ErrInvalidValue, "CreateNamespace with NaN metadata")
	err = st.CreateNamespace(t.Context(), "y", storage.WithNamespaceMetadata(map[string]any{"bad": "a\x00b"}))
	wantErr(t, err, storage.ErrInvalidValue, "CreateNamespace with NUL in metadata")
	unchanged(t, st, before, "CreateNamespace with invalid metadata")
}

func testDeleteNamespaceMissing(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	before := snapshot(t, st)
	wantErr(t, st.DeleteNamespace(ctx, "missing"), storage.ErrNamespaceNotFound, "DeleteNamespace")
	wantErr(t, st.DeleteNamespace(ctx, "missing", storage.Recursive()), storage.ErrNamespaceNotFound, "DeleteNamespace Recursive")
	wantErr(t, st.DeleteNamespace(ctx, "principal://pk"), storage.ErrNamespaceNotFound, "DeleteNamespace principal")
	noErr(t, st.CreateNamespace(ctx, "once"), "CreateNamespace")
	noErr(t, st.DeleteNamespace(ctx, "once"), "DeleteNamespace")
	wantErr(t, st.DeleteNamespace(ctx, "once"), storage.ErrNamespaceNotFound, "DeleteNamespace twice")
	unchanged(t, st, before, "DeleteNamespace of missing namespaces")
}

func testDeleteNamespaceEmpty(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	noErr(t, st.CreateNamespace(ctx, "a"), "CreateNamespace a")
	noErr(t, st.CreateNamespace(ctx, "b"), "CreateNamespace b")
	mustSet(t, st, "k", raw(`1`), ns("c"))
	noErr(t, st.Delete(ctx, "k", ns("c")), "Delete")
	noErr(t, st.DeleteNamespace(ctx, "a"), "DeleteNamespace a")
	noErr(t, st.DeleteNamespace(ctx, "b", storage.Recursive()), "DeleteNamespace b Recursive")
	noErr(t, st.DeleteNamespace(ctx, "c"), "DeleteNamespace c (emptied)")
	if got := namespaceNames(t, st); !slices.Equal(got, []string{storage.DefaultNamespace}) {
		t.Errorf("namespaces = %q, want only default", got)
	}
	if got := mustStatus(t, st).Namespaces; got != 1 {
		t.Errorf("Status().Namespaces = %d, want 1", got)
	}
}

func testDeleteNamespaceNotEmpty(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k1", raw(`1`), ns("full"))
	mustSet(t, st, "k2", raw(`2`), ns("full"))
	before := snapshot(t, st)
	wantErr(t, st.DeleteNamespace(ctx, "full"), storage.ErrNamespaceNotEmpty, "DeleteNamespace")
	unchanged(t, st, before, "DeleteNamespace of a non-empty namespace")
	wantEntry(t, st, "k1", `1`, 1, ns("full"))
	wantEntry(t, st, "k2", `2`, 1, ns("full"))
}

func testDeleteNamespaceRecursive(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	for i := range 5 {
		mustSet(t, st, "k"+string(rune('0'+i)), i, ns("doomed"))
	}
	mustSet(t, st, "k0", raw(`"kept"`), ns("kept"))
	mustSet(t, st, "k0", raw(`"kept"`))
	wantSize(t, st, 7)
	noErr(t, st.DeleteNamespace(ctx, "doomed", storage.Recursive()), "DeleteNamespace Recursive")
	wantSize(t, st, 2)
	if _, ok := findNamespace(t, st, "doomed"); ok {
		t.Errorf("namespace still listed after DeleteNamespace")
	}
	_, err := st.Get(ctx, "k0", ns("doomed"))
	wantErr(t, err, storage.ErrNotFound, "Get from a deleted namespace")
	if _, ok := findNamespace(t, st, "doomed"); ok {
		t.Errorf("Get recreated a deleted namespace")
	}
	wantEntry(t, st, "k0", `"kept"`, 1, ns("kept"))
	wantEntry(t, st, "k0", `"kept"`, 1)
	if got := mustStatus(t, st).Namespaces; got != 2 {
		t.Errorf("Status().Namespaces = %d, want 2", got)
	}
}

func testDeleteNamespaceDefault(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`))
	wantErr(t, st.DeleteNamespace(ctx, storage.DefaultNamespace), storage.ErrNamespaceNotEmpty, "DeleteNamespace(default)")
	noErr(t, st.DeleteNamespace(ctx, storage.DefaultNamespace, storage.Recursive()), "DeleteNamespace(default) Recursive")
	if got := namespaceNames(t, st); len(got) != 0 {
		t.Errorf("namespaces = %q, want none", got)
	}
	wantSize(t, st, 0)
	wantMissing(t, st, "k")
	if got := namespaceNames(t, st); len(got) != 0 {
		t.Errorf("a read recreated the default namespace: %q", got)
	}
	mustSet(t, st, "k", raw(`2`))
	wantEntry(t, st, "k", `2`, 1)
	if got := namespaceNames(t, st); !slices.Equal(got, []string{storage.DefaultNamespace}) {
		t.Errorf("namespaces = %q, want the default recreated by a write", got)
	}
}

func testNamespaceRecreateIsEmpty(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	noErr(t, st.CreateNamespace(ctx, "x", storage.WithNamespaceMetadata(map[string]any{"gen": 1})), "CreateNamespace")
	mustSet(t, st, "k", raw(`1`), ns("x"))
	noErr(t, st.DeleteNamespace(ctx, "x", storage.Recursive()), "DeleteNamespace")
	noErr(t, st.CreateNamespace(ctx, "x"), "CreateNamespace again")
	n, _ := findNamespace(t, st, "x")
	wantObject(t, n.Metadata, `{}`, "metadata of the recreated namespace")
	wantMissing(t, st, "k", ns("x"))
	mustSet(t, st, "k", raw(`2`), ns("x"))
	wantEntry(t, st, "k", `2`, 1, ns("x"))
	wantSize(t, st, 1)
}

func testListNamespacesFresh(t *testing.T, s *suite) {
	st := s.newStore(t)
	list := mustNamespaces(t, st)
	if len(list) != 1 || list[0].Name != storage.DefaultNamespace {
		t.Fatalf("ListNamespaces of a fresh store = %+v, want only %q", list, storage.DefaultNamespace)
	}
	if list[0].Owner != "" {
		t.Errorf("default namespace Owner = %q, want none", list[0].Owner)
	}
	wantObject(t, list[0].Metadata, `{}`, "default namespace Metadata")
	if got := mustStatus(t, st).Namespaces; got != 1 {
		t.Errorf("Status().Namespaces = %d, want 1", got)
	}
}

// byteOrderNames are namespaces whose byte order differs from other
// orders (case, punctuation, principal names).
var byteOrderNames = []string{"b", "B", "a", "A", "0", "9z", "a.b", "a-b", "a_b", "aa", "a0", "Z",
	"principal://pk", "principal://pk/namespace/a", "principal://PK", "zz", "a.", "a-"}

func testListNamespacesSorted(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	names := byteOrderNames
	for i, n := range names {
		if i%2 == 0 {
			noErr(t, st.CreateNamespace(ctx, n), "CreateNamespace("+quote(n)+")")
		} else {
			mustSet(t, st, "k", i, ns(n))
		}
	}
	want := append(slices.Clone(names), storage.DefaultNamespace)
	sort.Strings(want) // byte order
	if got := namespaceNames(t, st); !slices.Equal(got, want) {
		t.Errorf("ListNamespaces = %q,\nwant byte order %q", got, want)
	}
	if got := mustStatus(t, st).Namespaces; got != int64(len(want)) {
		t.Errorf("Status().Namespaces = %d, want %d", got, len(want))
	}
}

func testNamespaceInvalidOptions(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`), ns("full"))
	noErr(t, st.CreateNamespace(ctx, "empty"), "CreateNamespace")
	before := snapshot(t, st)
	md := storage.WithNamespaceMetadata(map[string]any{"a": 1})
	wantErr(t, st.CreateNamespace(ctx, "x", storage.Recursive()), storage.ErrInvalidOption, "CreateNamespace Recursive")
	wantErr(t, st.CreateNamespace(ctx, "x", md, md), storage.ErrInvalidOption, "CreateNamespace metadata twice")
	wantErr(t, st.CreateNamespace(ctx, "x", storage.NamespaceOption{}), storage.ErrInvalidOption, "CreateNamespace zero option")
	wantErr(t, st.DeleteNamespace(ctx, "empty", md), storage.ErrInvalidOption, "DeleteNamespace WithNamespaceMetadata")
	wantErr(t, st.DeleteNamespace(ctx, "full", storage.Recursive(), storage.Recursive()), storage.ErrInvalidOption, "DeleteNamespace Recursive twice")
	wantErr(t, st.DeleteNamespace(ctx, "empty", storage.NamespaceOption{}), storage.ErrInvalidOption, "DeleteNamespace zero option")
	unchanged(t, st, before, "namespace operations with invalid options")
	wantEntry(t, st, "k", `1`, 1, ns("full"))
}
