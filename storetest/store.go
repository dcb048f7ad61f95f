package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

var optionTests = []test{
	{"Invalid", testOptionsInvalid},
	{"ZeroValue", testOptionsZeroValue},
}

var clearTests = []test{
	{"Namespace", testClearNamespace},
	{"All", testClearAll},
	{"Empty", testClearEmpty},
	{"VersionsRestart", testClearVersionsRestart},
}

var statusTests = []test{
	{"Fresh", testStatusFresh},
	{"Size", testStatusSize},
	{"Namespaces", testStatusNamespaces},
	{"Capacity", testStatusCapacity},
}

var capacityTests = []test{
	{"Fill", testCapacityFill},
	{"Overwrite", testCapacityOverwrite},
	{"DeleteFrees", testCapacityDeleteFrees},
	{"SetMany", testCapacitySetMany},
	{"ConcurrentSet", testCapacityConcurrentSet},
	{"ConcurrentSetMany", testCapacityConcurrentSetMany},
	{"Capabilities", testCapacityCapabilities},
}

var closedTests = []test{
	{"Operations", testClosedOperations},
	{"CloseTwice", testClosedCloseTwice},
}

var contextTests = []test{
	{"Cancelled", func(t *testing.T, s *suite) { testContextDone(t, s, cancelled(), context.Canceled) }},
	{"DeadlineExceeded", func(t *testing.T, s *suite) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		testContextDone(t, s, ctx, context.DeadlineExceeded)
	}},
}

// opCall is one call of an operation, for tests that check every operation of
// the interface the same way.
type opCall struct {
	name string
	call func(ctx context.Context, st storage.Store) error
}

// operations calls every operation that takes a context, with valid
// arguments; the data operations get opts.
func operations(opts ...storage.Option) []opCall {
	item := []storage.Item{{Key: "k", Value: raw(`2`)}}
	return []opCall{
		{"Get", func(ctx context.Context, st storage.Store) error { _, err := st.Get(ctx, "k", opts...); return err }},
		{"Set", func(ctx context.Context, st storage.Store) error { return st.Set(ctx, "k", raw(`2`), opts...) }},
		{"Delete", func(ctx context.Context, st storage.Store) error { return st.Delete(ctx, "k", opts...) }},
		{"Has", func(ctx context.Context, st storage.Store) error { _, err := st.Has(ctx, "k", opts...); return err }},
		{"GetMany", func(ctx context.Context, st storage.Store) error {
			_, err := st.GetMany(ctx, []string{"k"}, opts...)
			return err
		}},
		{"SetMany", func(ctx context.Context, st storage.Store) error {
			_, err := st.SetMany(ctx, item, opts...)
			return err
		}},
		{"DeleteMany", func(ctx context.Context, st storage.Store) error {
			_, err := st.DeleteMany(ctx, []string{"k"}, opts...)
			return err
		}},
		{"GetMetadata", func(ctx context.Context, st storage.Store) error {
			_, err := st.GetMetadata(ctx, "k", opts...)
			return err
		}},
		{"SetMetadata", func(ctx context.Context, st storage.Store) error {
			return st.SetMetadata(ctx, "k", map[string]any{"b": 2}, opts...)
		}},
		{"Clear", func(ctx context.Context, st storage.Store) error { return st.Clear(ctx, opts...) }},
		{"CreateNamespace", func(ctx context.Context, st storage.Store) error { return st.CreateNamespace(ctx, "created") }},
		{"DeleteNamespace", func(ctx context.Context, st storage.Store) error {
			return st.DeleteNamespace(ctx, "n", storage.Recursive())
		}},
		{"ListNamespaces", func(ctx context.Context, st storage.Store) error { _, err := st.ListNamespaces(ctx); return err }},
		{"Status", func(ctx context.Context, st storage.Store) error { _, err := st.Status(ctx); return err }},
	}
}

// operation returns the operation called name, with opts.
func operation(name string, opts ...storage.Option) opCall {
	ops := operations(opts...)
	return ops[slices.IndexFunc(ops, func(o opCall) bool { return o.name == name })]
}

func testOptionsInvalid(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`), storage.WithMetadata(map[string]any{"m": 1}))
	md := storage.WithMetadata(map[string]any{"x": 1})
	var (
		nsOpt   = ns("other")
		noOver  = storage.NoOverwrite()
		ifVer   = storage.IfVersion(1)
		merge   = storage.Merge()
		atomic  = storage.Atomic()
		ns2     = ns("other2")
		ifVer2  = storage.IfVersion(2)
		invalid = map[string][][]storage.Option{
			"Get":         {{noOver}, {ifVer}, {merge}, {atomic}, {md}, {nsOpt, ns2}},
			"Set":         {{merge, noOver}, {merge, merge}, {atomic}, {ifVer, ifVer2}, {noOver, noOver}, {md, md}, {nsOpt, nsOpt}},
			"Delete":      {{noOver}, {merge}, {atomic}, {md}, {ifVer, ifVer}},
			"Has":         {{noOver}, {ifVer}, {merge}, {atomic}, {md}, {nsOpt, nsOpt}},
			"GetMany":     {{noOver}, {ifVer}, {merge}, {atomic}, {md}},
			"SetMany":     {{ifVer}, {merge}, {atomic, atomic}, {md, md}, {nsOpt, ns2}},
			"DeleteMany":  {{noOver}, {ifVer}, {merge}, {md}, {atomic, atomic}},
			"GetMetadata": {{noOver}, {ifVer}, {merge}, {atomic}, {md}},
			"SetMetadata": {{noOver}, {atomic}, {md}, {merge, merge}, {ifVer, ifVer}},
			"Clear":       {{noOver}, {ifVer}, {merge}, {atomic}, {md}, {nsOpt, ns2}},
		}
	)
	for _, name := range []string{"Get", "Set", "Delete", "Has", "GetMany", "SetMany", "DeleteMany", "GetMetadata", "SetMetadata", "Clear"} {
		t.Run(name, func(t *testing.T) {
			for _, opts := range invalid[name] {
				before := snapshot(t, st)
				var kinds []string
				for _, o := range opts {
					kinds = append(kinds, o.Kind().String())
				}
				what := fmt.Sprintf("%s with %v", name, kinds)
				wantErr(t, operation(name, opts...).call(t.Context(), st), storage.ErrInvalidOption, what)
				unchanged(t, st, before, what)
				e := wantEntry(t, st, "k", `1`, 1)
				if !JSONEqual(e.Metadata, []byte(`{"m":1}`)) {
					t.Errorf("%s changed the metadata to %s", what, e.Metadata)
				}
			}
		})
	}
}

func testOptionsZeroValue(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`))
	before := snapshot(t, st)
	for _, op := range operations(storage.Option{}) {
		switch op.name {
		case "CreateNamespace", "DeleteNamespace", "ListNamespaces", "Status":
			continue
		}
		wantErr(t, op.call(t.Context(), st), storage.ErrInvalidOption, op.name+" with a zero Option")
	}
	unchanged(t, st, before, "operations with a zero Option")
	wantEntry(t, st, "k", `1`, 1)
}

func testClearNamespace(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	for _, n := range []string{"a", "b"} {
		for _, k := range []string{"x", "y"} {
			mustSet(t, st, k, raw(`1`), ns(n))
		}
	}
	mustSet(t, st, "x", raw(`1`))
	noErr(t, st.Clear(ctx, ns("a")), "Clear a")
	wantMissing(t, st, "x", ns("a"))
	wantMissing(t, st, "y", ns("a"))
	wantEntry(t, st, "x", `1`, 1, ns("b"))
	wantEntry(t, st, "y", `1`, 1, ns("b"))
	wantEntry(t, st, "x", `1`, 1)
	wantSize(t, st, 3)
	if _, ok := findNamespace(t, st, "a"); !ok {
		t.Errorf("Clear deleted the namespace")
	}
	noErr(t, st.Clear(ctx, ns(storage.DefaultNamespace)), "Clear default")
	wantMissing(t, st, "x")
	wantSize(t, st, 2)
}

func testClearAll(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "x", raw(`1`))
	mustSet(t, st, "x", raw(`1`), ns("a"))
	mustSet(t, st, "y", raw(`1`), ns("principal://pk/namespace/b"))
	noErr(t, st.CreateNamespace(t.Context(), "empty", storage.WithNamespaceMetadata(map[string]any{"keep": true})), "CreateNamespace")
	names := namespaceNames(t, st)
	noErr(t, st.Clear(t.Context()), "Clear")
	wantSize(t, st, 0)
	wantMissing(t, st, "x")
	wantMissing(t, st, "x", ns("a"))
	wantMissing(t, st, "y", ns("principal://pk/namespace/b"))
	if got := namespaceNames(t, st); !slices.Equal(got, names) {
		t.Errorf("namespaces after Clear = %q, want %q", got, names)
	}
	n, _ := findNamespace(t, st, "empty")
	wantObject(t, n.Metadata, `{"keep":true}`, "namespace metadata after Clear")
	if n, _ := findNamespace(t, st, "principal://pk/namespace/b"); n.Owner != "pk" {
		t.Errorf("namespace owner after Clear = %q, want pk", n.Owner)
	}
}

func testClearEmpty(t *testing.T, s *suite) {
	st := s.newStore(t)
	noErr(t, st.Clear(t.Context()), "Clear of an empty store")
	noErr(t, st.Clear(t.Context(), ns(storage.DefaultNamespace)), "Clear of an empty namespace")
	wantSize(t, st, 0)
	if got := namespaceNames(t, st); !slices.Equal(got, []string{storage.DefaultNamespace}) {
		t.Errorf("namespaces = %q", got)
	}
}

func testClearVersionsRestart(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`), storage.WithMetadata(map[string]any{"m": 1}))
	mustSet(t, st, "k", raw(`2`))
	noErr(t, st.Clear(t.Context()), "Clear")
	mustSet(t, st, "k", raw(`3`))
	if e := wantEntry(t, st, "k", `3`, 1); !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("metadata survived Clear: %s", e.Metadata)
	}
}

func testStatusFresh(t *testing.T, s *suite) {
	st := s.newStore(t)
	got := mustStatus(t, st)
	if !got.Healthy {
		t.Errorf("Status().Healthy = false")
	}
	if got.Size != 0 || got.Namespaces != 1 || got.Capacity != 0 {
		t.Errorf("Status() of a fresh store: Size %d, Namespaces %d, Capacity %d; want 0, 1, 0", got.Size, got.Namespaces, got.Capacity)
	}
	if got.Dialect == "" {
		t.Errorf("Status().Dialect is empty")
	}
	if got.SchemaVersion <= 0 {
		t.Errorf("Status().SchemaVersion = %d, want > 0", got.SchemaVersion)
	}
}

func testStatusSize(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	step := func(what string, want int64) {
		t.Helper()
		if got := mustStatus(t, st).Size; got != want {
			t.Errorf("after %s: Status().Size = %d, want %d", what, got, want)
		}
	}
	mustSet(t, st, "a", raw(`1`))
	mustSet(t, st, "b", raw(`1`))
	mustSet(t, st, "a", raw(`1`), ns("n"))
	step("three sets", 3)
	mustSet(t, st, "a", raw(`2`))
	noErr(t, st.SetMetadata(ctx, "a", map[string]any{"m": 1}), "SetMetadata")
	step("an overwrite and SetMetadata", 3)
	_ = st.Set(ctx, "a", raw(`3`), storage.NoOverwrite())
	_ = st.Set(ctx, "c", raw(`{`))
	step("failed sets", 3)
	noErr(t, st.Delete(ctx, "b"), "Delete")
	_ = st.Delete(ctx, "b")
	step("a delete", 2)
	res, err := st.SetMany(ctx, []storage.Item{{Key: "a", Value: 1}, {Key: "c", Value: 1}, {Key: "d", Value: 1}, {Key: "c", Value: 2}, {Key: "", Value: 1}})
	batchCallErr(t, err, "SetMany", storage.ErrInvalidKey)
	checkBatch(t, res, []string{"a", "c", "d", ""}, "SetMany")
	step("SetMany of one old, two new (one twice) and one invalid key", 4)
	_, _ = st.SetMany(ctx, []storage.Item{{Key: "e", Value: 1}, {Key: "f", Value: nan()}}, storage.Atomic())
	step("a failed atomic SetMany", 4)
	_, _ = st.DeleteMany(ctx, []string{"c", "missing"}, storage.Atomic())
	step("a failed atomic DeleteMany", 4)
	_, _ = st.DeleteMany(ctx, []string{"c", "missing", "c"})
	step("DeleteMany", 3)
	mustSet(t, st, "b", raw(`1`), ns("n"))
	mustSet(t, st, "c", raw(`1`), ns("m"))
	step("more sets", 5)
	noErr(t, st.Clear(ctx, ns("m")), "Clear m")
	step("Clear of one namespace", 4)
	noErr(t, st.DeleteNamespace(ctx, "n", storage.Recursive()), "DeleteNamespace")
	step("a recursive DeleteNamespace", 2)
	noErr(t, st.Clear(ctx), "Clear")
	step("Clear", 0)
}

func testStatusNamespaces(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	check := func(what string) {
		t.Helper()
		if got, want := mustStatus(t, st).Namespaces, int64(len(mustNamespaces(t, st))); got != want {
			t.Errorf("after %s: Status().Namespaces = %d, len(ListNamespaces) = %d", what, got, want)
		}
	}
	check("nothing")
	noErr(t, st.CreateNamespace(ctx, "a"), "CreateNamespace")
	check("CreateNamespace")
	mustSet(t, st, "k", raw(`1`), ns("b"))
	check("a write to a new namespace")
	noErr(t, st.DeleteNamespace(ctx, "a"), "DeleteNamespace")
	check("DeleteNamespace")
	noErr(t, st.Clear(ctx), "Clear")
	check("Clear")
}

func testStatusCapacity(t *testing.T, s *suite) {
	s.needCapacity(t)
	st := s.open(t, Config{Capacity: 7})
	if got := mustStatus(t, st).Capacity; got != 7 {
		t.Errorf("Status().Capacity = %d, want 7", got)
	}
}

func testCapacityFill(t *testing.T, s *suite) {
	s.needCapacity(t)
	st := s.open(t, Config{Capacity: 5})
	ctx := t.Context()
	for i := range 3 {
		mustSet(t, st, fmt.Sprint(i), i)
	}
	mustSet(t, st, "3", 3, ns("other"))
	mustSet(t, st, "4", 4, ns("principal://pk"))
	wantSize(t, st, 5)
	before := snapshot(t, st)
	wantErr(t, st.Set(ctx, "5", 5), storage.ErrCapacityExceeded, "Set of a 6th key")
	wantErr(t, st.Set(ctx, "5", 5, ns("other")), storage.ErrCapacityExceeded, "Set of a 6th key in another namespace")
	wantErr(t, st.Set(ctx, "5", 5, ns("fresh")), storage.ErrCapacityExceeded, "Set of a 6th key in a new namespace")
	wantErr(t, st.Set(ctx, "5", 5, storage.NoOverwrite()), storage.ErrCapacityExceeded, "Set NoOverwrite of a 6th key")
	unchanged(t, st, before, "a write past capacity")
	wantMissing(t, st, "5")
	if got := mustStatus(t, st); got.Size != 5 || got.Capacity != 5 {
		t.Errorf("Status() Size, Capacity = %d, %d; want 5, 5", got.Size, got.Capacity)
	}
}

func testCapacityOverwrite(t *testing.T, s *suite) {
	s.needCapacity(t)
	st := s.open(t, Config{Capacity: 2})
	ctx := t.Context()
	mustSet(t, st, "a", raw(`1`))
	mustSet(t, st, "b", raw(`1`))
	mustSet(t, st, "a", raw(`2`))
	noErr(t, st.Set(ctx, "b", raw(`2`), storage.IfVersion(1)), "Set IfVersion at capacity")
	noErr(t, st.SetMetadata(ctx, "a", map[string]any{"m": 1}), "SetMetadata at capacity")
	res, err := st.SetMany(ctx, []storage.Item{{Key: "a", Value: raw(`3`)}, {Key: "b", Value: raw(`3`)}}, storage.Atomic())
	noErr(t, err, "SetMany of existing keys at capacity")
	if !res.OK() {
		t.Errorf("SetMany of existing keys at capacity: %v", res.Err())
	}
	wantEntry(t, st, "a", `3`, 4)
	wantEntry(t, st, "b", `3`, 3)
	wantSize(t, st, 2)
}

func testCapacityDeleteFrees(t *testing.T, s *suite) {
	s.needCapacity(t)
	st := s.open(t, Config{Capacity: 3})
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, st, k, raw(`1`))
	}
	wantErr(t, st.Set(ctx, "d", raw(`1`)), storage.ErrCapacityExceeded, "Set past capacity")
	noErr(t, st.Delete(ctx, "a"), "Delete")
	mustSet(t, st, "d", raw(`1`))
	wantErr(t, st.Set(ctx, "e", raw(`1`)), storage.ErrCapacityExceeded, "Set past capacity")
	_, err := st.DeleteMany(ctx, []string{"b", "c"})
	noErr(t, err, "DeleteMany")
	mustSet(t, st, "e", raw(`1`))
	noErr(t, st.Clear(ctx), "Clear")
	for _, k := range []string{"x", "y", "z"} {
		mustSet(t, st, k, raw(`1`), ns("n"))
	}
	noErr(t, st.DeleteNamespace(ctx, "n", storage.Recursive()), "DeleteNamespace")
	for _, k := range []string{"x", "y", "z"} {
		mustSet(t, st, k, raw(`1`))
	}
	wantSize(t, st, 3)
}

// testCapacitySetMany checks the batch rule: a SetMany whose new keys would
// take the store past its capacity writes nothing, and every key of the
// batch (the overwrites too) fails with ErrCapacityExceeded, whether the
// batch is atomic or not. The call itself may also return
// ErrCapacityExceeded.
func testCapacitySetMany(t *testing.T, s *suite) {
	s.needCapacity(t)
	st := s.open(t, Config{Capacity: 5})
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, st, k, raw(`1`))
	}
	for _, opts := range [][]storage.Option{nil, {storage.Atomic()}, {ns("fresh")}} {
		before := snapshot(t, st)
		items := []storage.Item{{Key: "a", Value: raw(`2`)}, {Key: "x", Value: raw(`2`)}, {Key: "y", Value: raw(`2`)}, {Key: "z", Value: raw(`2`)}}
		res, err := st.SetMany(ctx, items, opts...)
		batchCallErr(t, err, "SetMany past capacity", storage.ErrCapacityExceeded)
		checkBatch(t, res, []string{"a", "x", "y", "z"}, "SetMany past capacity")
		for _, kr := range res.Results {
			wantErr(t, kr.Err, storage.ErrCapacityExceeded, "SetMany past capacity key "+quote(kr.Key))
		}
		unchanged(t, st, before, "SetMany past capacity")
		wantNothingWritten(t, st, []string{"a", "x", "y", "z"}, map[string]string{"a": `1`})
	}
	// Exactly up to capacity fits, duplicates counting once.
	res, err := st.SetMany(ctx, []storage.Item{{Key: "a", Value: raw(`2`)}, {Key: "x", Value: raw(`2`)}, {Key: "y", Value: raw(`2`)}, {Key: "x", Value: raw(`3`)}})
	noErr(t, err, "SetMany up to capacity")
	checkBatch(t, res, []string{"a", "x", "y"}, "SetMany up to capacity")
	if !res.OK() {
		t.Errorf("SetMany up to capacity: %v", res.Err())
	}
	wantSize(t, st, 5)
}

func testCapacityConcurrentSet(t *testing.T, s *suite) {
	s.needCapacity(t)
	const capacity, n = 10, 32
	st := s.open(t, Config{Capacity: capacity})
	errs := race(n, func(i int) error {
		return st.Set(t.Context(), fmt.Sprintf("k%02d", i), i)
	})
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantErr(t, err, storage.ErrCapacityExceeded, fmt.Sprintf("goroutine %d", i))
	}
	if ok != capacity {
		t.Errorf("%d of %d concurrent Sets succeeded, want %d", ok, n, capacity)
	}
	wantSize(t, st, capacity)
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("k%02d", i))
	}
	res, err := st.GetMany(t.Context(), keys)
	noErr(t, err, "GetMany")
	for i, err := range errs {
		if _, found := res.Entries[keys[i]]; found != (err == nil) {
			t.Errorf("key %s: stored %v, but its Set returned %v", keys[i], found, err)
		}
	}
}

func testCapacityConcurrentSetMany(t *testing.T, s *suite) {
	s.needCapacity(t)
	const capacity, n, per = 10, 8, 3
	st := s.open(t, Config{Capacity: capacity})
	errs := race(n, func(i int) error {
		var items []storage.Item
		for j := range per {
			items = append(items, storage.Item{Key: fmt.Sprintf("b%d-%d", i, j), Value: j})
		}
		res, err := st.SetMany(t.Context(), items)
		if err != nil {
			return err
		}
		return res.Err()
	})
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantErr(t, err, storage.ErrCapacityExceeded, fmt.Sprintf("goroutine %d", i))
	}
	if ok != capacity/per {
		t.Errorf("%d of %d concurrent SetMany of %d new keys succeeded, want %d", ok, n, per, capacity/per)
	}
	wantSize(t, st, int64(ok*per))
}

func testCapacityCapabilities(t *testing.T, s *suite) {
	s.needCapacity(t)
	st := s.open(t, Config{Capacity: 1})
	if !st.Capabilities().Capacity {
		t.Errorf("Capabilities().Capacity = false, but the harness declares Supports.Capacity")
	}
}

func testClosedOperations(t *testing.T, s *suite) {
	hd := s.open(t, Config{})
	mustSet(t, hd, "k", raw(`1`), ns("n"))
	hd.closedByTest = true
	noErr(t, hd.Close(), "Close")
	for _, op := range operations() {
		wantErr(t, op.call(t.Context(), hd), storage.ErrClosed, op.name+" after Close")
	}
	for _, op := range operations(ns("n")) {
		wantErr(t, op.call(t.Context(), hd), storage.ErrClosed, op.name+" in a namespace after Close")
	}
}

func testClosedCloseTwice(t *testing.T, s *suite) {
	hd := s.open(t, Config{})
	hd.closedByTest = true
	noErr(t, hd.Close(), "Close")
	noErr(t, hd.Close(), "Close again")
}

func testContextDone(t *testing.T, s *suite, ctx context.Context, want error) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`))
	mustSet(t, st, "k", raw(`1`), ns("n"))
	before := snapshot(t, st)
	for _, op := range operations() {
		wantErr(t, op.call(ctx, st), want, op.name)
	}
	unchanged(t, st, before, "operations with a done context")
	e := wantEntry(t, st, "k", `1`, 1)
	if !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("metadata = %s after a cancelled SetMetadata", e.Metadata)
	}
	wantEntry(t, st, "k", `1`, 1, ns("n"))
}
