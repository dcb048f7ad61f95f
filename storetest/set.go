package storetest

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/mycelia-kernel/storage"
)

var setTests = []test{
	{"Overwrite", testSetOverwrite},
	{"NoOverwrite", testSetNoOverwrite},
	{"NoOverwriteRace", testSetNoOverwriteRace},
	{"Versions", testSetVersions},
	{"IfVersion", testSetIfVersion},
	{"IfVersionMissing", testSetIfVersionMissing},
	{"IfVersionInvalid", testSetIfVersionInvalid},
	{"IfVersionRace", testSetIfVersionRace},
	{"KeepsMetadata", testSetKeepsMetadata},
	{"ReplacesMetadata", testSetReplacesMetadata},
	{"AfterDelete", testSetAfterDelete},
	{"Merge", testSetMerge},
	{"MergeMissing", testSetMergeMissing},
	{"MergeConditions", testSetMergeConditions},
	{"MergeRace", testSetMergeRace},
}

var getTests = []test{
	{"Missing", testGetMissing},
	{"Fields", testGetFields},
	{"Stable", testGetStable},
}

var hasTests = []test{
	{"Missing", testHasMissing},
	{"Present", testHasPresent},
}

var deleteTests = []test{
	{"Missing", testDeleteMissing},
	{"Existing", testDeleteExisting},
	{"IfVersion", testDeleteIfVersion},
	{"IfVersionMissing", testDeleteIfVersionMissing},
}

func testSetOverwrite(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`{"v":1}`))
	mustSet(t, st, "k", raw(`[2]`))
	wantEntry(t, st, "k", `[2]`, 2)
	mustSet(t, st, "k", raw(`[2]`)) // the same value is still a write
	wantEntry(t, st, "k", `[2]`, 3)
	wantSize(t, st, 1)
}

func testSetNoOverwrite(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	noErr(t, st.Set(ctx, "k", raw(`"first"`), storage.NoOverwrite(), storage.WithMetadata(map[string]any{"m": 1})), "Set NoOverwrite new key")
	before := mustGet(t, st, "k")
	err := st.Set(ctx, "k", raw(`"second"`), storage.NoOverwrite(), storage.WithMetadata(map[string]any{"m": 2}))
	wantErr(t, err, storage.ErrAlreadyExists, "Set NoOverwrite existing key")
	after := wantEntry(t, st, "k", `"first"`, 1)
	if !JSONEqual(after.Metadata, []byte(`{"m":1}`)) {
		t.Errorf("metadata = %s after a refused NoOverwrite, want {\"m\":1}", after.Metadata)
	}
	if !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("UpdatedAt changed by a refused NoOverwrite: %v -> %v", before.UpdatedAt, after.UpdatedAt)
	}
	// In another namespace the key is new.
	noErr(t, st.Set(ctx, "k", raw(`"other"`), storage.NoOverwrite(), ns("other")), "Set NoOverwrite in another namespace")
	wantSize(t, st, 2)
}

func testSetNoOverwriteRace(t *testing.T, s *suite) {
	st := s.newStore(t)
	const n = 16
	errs := race(n, func(i int) error {
		return st.Set(t.Context(), "contended", i, storage.NoOverwrite())
	})
	winner := -1
	for i, err := range errs {
		if err != nil {
			wantErr(t, err, storage.ErrAlreadyExists, fmt.Sprintf("goroutine %d", i))
			continue
		}
		if winner >= 0 {
			t.Errorf("goroutines %d and %d both created the key", winner, i)
		}
		winner = i
	}
	if winner < 0 {
		t.Fatalf("no goroutine created the key")
	}
	wantEntry(t, st, "contended", fmt.Sprint(winner), 1)
	wantSize(t, st, 1)
}

// race runs fn(0..n-1) in n goroutines released together and returns their
// errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

func testSetVersions(t *testing.T, s *suite) {
	st := s.newStore(t)
	var first storage.Entry
	prev := storage.Entry{}
	for v := int64(1); v <= 5; v++ {
		mustSet(t, st, "k", v)
		e := wantEntry(t, st, "k", fmt.Sprint(v), v)
		wantEntryFields(t, e, storage.DefaultNamespace, "k")
		if v == 1 {
			first = e
		} else {
			if !e.CreatedAt.Equal(first.CreatedAt) {
				t.Errorf("version %d: CreatedAt = %v, want %v as at version 1", v, e.CreatedAt, first.CreatedAt)
			}
			if e.UpdatedAt.Before(prev.UpdatedAt) {
				t.Errorf("version %d: UpdatedAt %v went back from %v", v, e.UpdatedAt, prev.UpdatedAt)
			}
		}
		prev = e
	}
	// Other kinds of writes bump it too.
	noErr(t, st.SetMetadata(t.Context(), "k", map[string]any{"a": 1}), "SetMetadata")
	wantEntry(t, st, "k", `5`, 6)
	res, err := st.SetMany(t.Context(), []storage.Item{{Key: "k", Value: 7}})
	noErr(t, err, "SetMany")
	if got := resultOf(t, res, "k").Version; got != 7 {
		t.Errorf("SetMany KeyResult.Version = %d, want 7", got)
	}
	e := wantEntry(t, st, "k", `7`, 7)
	if !e.CreatedAt.Equal(first.CreatedAt) || e.UpdatedAt.Before(prev.UpdatedAt) {
		t.Errorf("timestamps after SetMetadata and SetMany: created %v (want %v), updated %v (want >= %v)",
			e.CreatedAt, first.CreatedAt, e.UpdatedAt, prev.UpdatedAt)
	}
}

func testSetIfVersion(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`"v1"`))
	mustSet(t, st, "k", raw(`"v2"`))
	for _, v := range []int64{1, 3, 100} {
		err := st.Set(ctx, "k", raw(`"wrong"`), storage.IfVersion(v))
		wantErr(t, err, storage.ErrConflict, fmt.Sprintf("Set IfVersion(%d) at version 2", v))
	}
	wantEntry(t, st, "k", `"v2"`, 2)
	noErr(t, st.Set(ctx, "k", raw(`"v3"`), storage.IfVersion(2)), "Set IfVersion(2) at version 2")
	wantEntry(t, st, "k", `"v3"`, 3)
	wantErr(t, st.Set(ctx, "k", raw(`"again"`), storage.IfVersion(2)), storage.ErrConflict, "Set IfVersion(2) replayed")
	noErr(t, st.Set(ctx, "k", raw(`"v4"`), storage.IfVersion(3), storage.WithMetadata(map[string]any{"cas": true})), "Set IfVersion(3) WithMetadata")
	e := wantEntry(t, st, "k", `"v4"`, 4)
	if !JSONEqual(e.Metadata, []byte(`{"cas":true}`)) {
		t.Errorf("metadata = %s, want {\"cas\":true}", e.Metadata)
	}
	// The version is per namespace.
	mustSet(t, st, "k", raw(`"other"`), ns("other"))
	wantErr(t, st.Set(ctx, "k", raw(`"x"`), ns("other"), storage.IfVersion(4)), storage.ErrConflict, "Set IfVersion in another namespace")
	wantSize(t, st, 2)
}

func testSetIfVersionMissing(t *testing.T, s *suite) {
	st := s.newStore(t)
	before := snapshot(t, st)
	wantErr(t, st.Set(t.Context(), "k", raw(`1`), storage.IfVersion(1)), storage.ErrConflict, "Set IfVersion(1) on a missing key")
	unchanged(t, st, before, "Set IfVersion on a missing key")
	wantMissing(t, st, "k")
}

func testSetIfVersionInvalid(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`))
	before := snapshot(t, st)
	wantErr(t, st.Set(ctx, "k", raw(`2`), storage.IfVersion(0)), storage.ErrInvalidOption, "Set IfVersion(0)")
	wantErr(t, st.Set(ctx, "k", raw(`2`), storage.IfVersion(-1)), storage.ErrInvalidOption, "Set IfVersion(-1)")
	wantErr(t, st.Set(ctx, "new", raw(`2`), storage.IfVersion(0)), storage.ErrInvalidOption, "Set IfVersion(0) on a missing key")
	wantErr(t, st.Set(ctx, "k", raw(`2`), storage.NoOverwrite(), storage.IfVersion(1)), storage.ErrInvalidOption, "Set NoOverwrite IfVersion")
	wantErr(t, st.Set(ctx, "new", raw(`2`), storage.IfVersion(1), storage.NoOverwrite()), storage.ErrInvalidOption, "Set IfVersion NoOverwrite")
	unchanged(t, st, before, "Set with invalid IfVersion")
	wantEntry(t, st, "k", `1`, 1)
}

func testSetIfVersionRace(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`"start"`))
	const n = 16
	errs := race(n, func(i int) error {
		return st.Set(t.Context(), "k", i, storage.IfVersion(1))
	})
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both won the compare-and-swap", winner, i)
			}
			winner = i
			continue
		}
		wantErr(t, err, storage.ErrConflict, fmt.Sprintf("goroutine %d", i))
	}
	if winner < 0 {
		t.Fatalf("no goroutine won the compare-and-swap")
	}
	wantEntry(t, st, "k", fmt.Sprint(winner), 2)
}

func testSetKeepsMetadata(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`), storage.WithMetadata(map[string]any{"owner": "ada", "n": 1}))
	mustSet(t, st, "k", raw(`2`))
	noErr(t, st.Set(ctx, "k", raw(`3`), storage.IfVersion(2)), "Set IfVersion")
	_, err := st.SetMany(ctx, []storage.Item{{Key: "k", Value: raw(`4`)}})
	noErr(t, err, "SetMany")
	e := wantEntry(t, st, "k", `4`, 4)
	if !JSONEqual(e.Metadata, []byte(`{"owner":"ada","n":1}`)) {
		t.Errorf("metadata = %s after writes without WithMetadata, want it kept", e.Metadata)
	}
	md, err := st.GetMetadata(ctx, "k")
	noErr(t, err, "GetMetadata")
	wantObject(t, md.User, `{"owner":"ada","n":1}`, "GetMetadata.User")
	// A new key without metadata has {}.
	mustSet(t, st, "plain", raw(`1`))
	if e := mustGet(t, st, "plain"); !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("metadata of a key written without any = %s, want {}", e.Metadata)
	}
}

func testSetReplacesMetadata(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`), storage.WithMetadata(map[string]any{"a": 1, "b": map[string]any{"c": 2}}))
	mustSet(t, st, "k", raw(`2`), storage.WithMetadata(map[string]any{"b": map[string]any{"d": 3}}))
	e := wantEntry(t, st, "k", `2`, 2)
	if !JSONEqual(e.Metadata, []byte(`{"b":{"d":3}}`)) {
		t.Errorf("metadata = %s, want it replaced (not merged) by {\"b\":{\"d\":3}}", e.Metadata)
	}
	mustSet(t, st, "k", raw(`3`), storage.WithMetadata(map[string]any{}))
	if e := mustGet(t, st, "k"); !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("metadata = %s after WithMetadata({}), want {}", e.Metadata)
	}
	mustSet(t, st, "k", raw(`4`), storage.WithMetadata(map[string]any{"x": 1}))
	mustSet(t, st, "k", raw(`5`), storage.WithMetadata(nil))
	if e := mustGet(t, st, "k"); !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("metadata = %s after WithMetadata(nil), want {}", e.Metadata)
	}
}

func testSetAfterDelete(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`), storage.WithMetadata(map[string]any{"old": true}))
	mustSet(t, st, "k", raw(`2`))
	old := mustGet(t, st, "k")
	noErr(t, st.Delete(t.Context(), "k"), "Delete")
	mustSet(t, st, "k", raw(`3`))
	e := wantEntry(t, st, "k", `3`, 1)
	if !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("a recreated key kept the deleted key's metadata %s", e.Metadata)
	}
	if e.CreatedAt.Before(old.CreatedAt) {
		t.Errorf("recreated key CreatedAt %v is before the deleted key's %v", e.CreatedAt, old.CreatedAt)
	}
}

func testGetMissing(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	_, err := st.Get(ctx, "missing")
	wantErr(t, err, storage.ErrNotFound, "Get")
	if !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("Get of a missing key: %v does not satisfy errors.Is(err, sql.ErrNoRows)", err)
	}
	mustSet(t, st, "present", raw(`1`))
	_, err = st.Get(ctx, "presen")
	wantErr(t, err, storage.ErrNotFound, "Get of a prefix")
	_, err = st.Get(ctx, "present", ns("other"))
	wantErr(t, err, storage.ErrNotFound, "Get in another namespace")
	_, err = st.GetMetadata(ctx, "missing")
	wantErr(t, err, storage.ErrNotFound, "GetMetadata")
	if !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("GetMetadata of a missing key: %v does not satisfy errors.Is(err, sql.ErrNoRows)", err)
	}
}

func testGetFields(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`{"a":[1,2]}`))
	e := wantEntry(t, st, "k", `{"a":[1,2]}`, 1)
	wantEntryFields(t, e, storage.DefaultNamespace, "k")
	if !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("Entry.Metadata = %q without metadata, want {}", e.Metadata)
	}
	mustSet(t, st, "k", raw(`true`), ns("principal://pk/namespace/x"), storage.WithMetadata(map[string]any{"m": "v"}))
	e = wantEntry(t, st, "k", `true`, 1, ns("principal://pk/namespace/x"))
	wantEntryFields(t, e, "principal://pk/namespace/x", "k")
	if !JSONEqual(e.Metadata, []byte(`{"m":"v"}`)) {
		t.Errorf("Entry.Metadata = %s, want {\"m\":\"v\"}", e.Metadata)
	}
	var v bool
	if err := e.Decode(&v); err != nil || !v {
		t.Errorf("Entry.Decode = %v, %v; want true, nil", v, err)
	}
}

func testGetStable(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`{"a":1}`), storage.WithMetadata(map[string]any{"m": 1}))
	a := mustGet(t, st, "k")
	b := mustGet(t, st, "k")
	if !JSONEqual(a.Value, b.Value) || !JSONEqual(a.Metadata, b.Metadata) || a.Version != b.Version ||
		!a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) {
		t.Errorf("two Gets differ:\n%+v\n%+v", a, b)
	}
	md, err := st.GetMetadata(t.Context(), "k")
	noErr(t, err, "GetMetadata")
	if md.Version != a.Version || !md.CreatedAt.Equal(a.CreatedAt) || !md.UpdatedAt.Equal(a.UpdatedAt) {
		t.Errorf("GetMetadata system fields %+v differ from Get's %+v", md, a)
	}
}

func testHasMissing(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "present", raw(`null`))
	for _, tc := range []struct {
		key  string
		opts []storage.Option
	}{{"missing", nil}, {"presen", nil}, {"present", []storage.Option{ns("other")}}} {
		ok, err := st.Has(t.Context(), tc.key, tc.opts...)
		noErr(t, err, "Has")
		if ok {
			t.Errorf("Has(%q) = true, want false", tc.key)
		}
	}
}

func testHasPresent(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "null", raw(`null`)) // a stored null is present
	mustSet(t, st, "false", raw(`false`))
	mustSet(t, st, "empty", raw(`""`), ns("x"))
	for _, tc := range []struct {
		key  string
		opts []storage.Option
	}{{"null", nil}, {"false", nil}, {"empty", []storage.Option{ns("x")}}} {
		ok, err := st.Has(ctx, tc.key, tc.opts...)
		noErr(t, err, "Has")
		if !ok {
			t.Errorf("Has(%q) = false, want true", tc.key)
		}
	}
	noErr(t, st.Delete(ctx, "null"), "Delete")
	if ok, err := st.Has(ctx, "null"); err != nil || ok {
		t.Errorf("Has after Delete = %v, %v; want false, nil", ok, err)
	}
}

func testDeleteMissing(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "present", raw(`1`))
	before := snapshot(t, st)
	wantErr(t, st.Delete(ctx, "missing"), storage.ErrNotFound, "Delete")
	wantErr(t, st.Delete(ctx, "present", ns("other")), storage.ErrNotFound, "Delete in another namespace")
	unchanged(t, st, before, "Delete of a missing key")
	wantEntry(t, st, "present", `1`, 1)
}

func testDeleteExisting(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`))
	mustSet(t, st, "k", raw(`2`), ns("other"))
	mustSet(t, st, "k2", raw(`3`))
	noErr(t, st.Delete(ctx, "k"), "Delete")
	wantMissing(t, st, "k")
	_, err := st.GetMetadata(ctx, "k")
	wantErr(t, err, storage.ErrNotFound, "GetMetadata after Delete")
	wantEntry(t, st, "k", `2`, 1, ns("other"))
	wantEntry(t, st, "k2", `3`, 1)
	wantErr(t, st.Delete(ctx, "k"), storage.ErrNotFound, "Delete twice")
	wantSize(t, st, 2)
}

func testDeleteIfVersion(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`))
	mustSet(t, st, "k", raw(`2`))
	for _, v := range []int64{1, 3} {
		wantErr(t, st.Delete(ctx, "k", storage.IfVersion(v)), storage.ErrConflict, fmt.Sprintf("Delete IfVersion(%d) at version 2", v))
	}
	wantEntry(t, st, "k", `2`, 2)
	wantErr(t, st.Delete(ctx, "k", storage.IfVersion(0)), storage.ErrInvalidOption, "Delete IfVersion(0)")
	wantEntry(t, st, "k", `2`, 2)
	noErr(t, st.Delete(ctx, "k", storage.IfVersion(2)), "Delete IfVersion(2) at version 2")
	wantMissing(t, st, "k")
	wantSize(t, st, 0)
}

func testDeleteIfVersionMissing(t *testing.T, s *suite) {
	st := s.newStore(t)
	before := snapshot(t, st)
	// Delete reports a missing key as ErrNotFound, with or without an
	// expected version (Set, which would create it, reports ErrConflict).
	err := st.Delete(t.Context(), "missing", storage.IfVersion(1))
	wantErr(t, err, storage.ErrNotFound, "Delete IfVersion on a missing key")
	unchanged(t, st, before, "Delete IfVersion on a missing key")
}

// testSetMerge: Set with Merge applies the value as an RFC 7396 JSON merge
// patch to the stored value (null removes a member, objects merge
// recursively, anything else replaces), keeps the metadata unless
// WithMetadata is given, and is a write (the version goes up).
func testSetMerge(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`{"a":1,"b":{"c":2,"d":3},"e":[1,2],"gone":true}`), ns("m"), storage.WithMetadata(map[string]any{"owner": "ada"}))
	before := mustGet(t, st, "k", ns("m"))
	patch := raw(`{"a":10,"b":{"c":null,"x":"new"},"e":[3],"gone":null,"added":{"deep":{"er":1}}}`)
	noErr(t, st.Set(ctx, "k", patch, storage.Merge(), ns("m")), "Set Merge")
	e := wantEntry(t, st, "k", `{"a":10,"b":{"d":3,"x":"new"},"e":[3],"added":{"deep":{"er":1}}}`, 2, ns("m"))
	if !JSONEqual(e.Metadata, []byte(`{"owner":"ada"}`)) {
		t.Errorf("metadata = %s after a merge without WithMetadata, want it kept", e.Metadata)
	}
	if !e.CreatedAt.Equal(before.CreatedAt) || e.UpdatedAt.Before(before.UpdatedAt) {
		t.Errorf("merge timestamps: created %v -> %v, updated %v -> %v", before.CreatedAt, e.CreatedAt, before.UpdatedAt, e.UpdatedAt)
	}
	// A Go value is a patch as well; WithMetadata replaces the metadata.
	noErr(t, st.Set(ctx, "k", map[string]any{"a": nil, "n": 1}, storage.Merge(), ns("m"), storage.WithMetadata(map[string]any{"m": 2})), "Set Merge map")
	e = wantEntry(t, st, "k", `{"b":{"d":3,"x":"new"},"e":[3],"added":{"deep":{"er":1}},"n":1}`, 3, ns("m"))
	if !JSONEqual(e.Metadata, []byte(`{"m":2}`)) {
		t.Errorf("metadata = %s after a merge WithMetadata, want {\"m\":2}", e.Metadata)
	}
	// An empty patch changes nothing but is still a write.
	noErr(t, st.Set(ctx, "k", raw(`{}`), storage.Merge(), ns("m")), "Set Merge {}")
	wantEntry(t, st, "k", `{"b":{"d":3,"x":"new"},"e":[3],"added":{"deep":{"er":1}},"n":1}`, 4, ns("m"))
	// A patch that is not an object replaces the value; an object patch
	// over a value that is not an object starts from {}.
	noErr(t, st.Set(ctx, "k", raw(`[1,null]`), storage.Merge(), ns("m")), "Set Merge array")
	wantEntry(t, st, "k", `[1,null]`, 5, ns("m"))
	noErr(t, st.Set(ctx, "k", raw(`{"x":1,"y":null}`), storage.Merge(), ns("m")), "Set Merge object over an array")
	wantEntry(t, st, "k", `{"x":1}`, 6, ns("m"))
	wantSize(t, st, 1)
}

// testSetMergeMissing: a merge into a missing key merges into null: the key
// is created with the patch, its null members removed.
func testSetMergeMissing(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	noErr(t, st.Set(ctx, "new", raw(`{"a":1,"b":null,"c":{"d":null,"e":2}}`), storage.Merge()), "Set Merge of a missing key")
	wantEntry(t, st, "new", `{"a":1,"c":{"e":2}}`, 1)
	noErr(t, st.Set(ctx, "k", raw(`7`), storage.Merge(), ns("fresh")), "Set Merge in a new namespace")
	wantEntry(t, st, "k", `7`, 1, ns("fresh"))
	wantSize(t, st, 2)
}

// testSetMergeConditions: IfVersion holds for the merge as for a plain
// Set, and Merge with NoOverwrite is a mistake.
func testSetMergeConditions(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`{"a":1}`))
	mustSet(t, st, "k", raw(`{"a":2}`))
	wantErr(t, st.Set(ctx, "k", raw(`{"b":1}`), storage.Merge(), storage.IfVersion(1)), storage.ErrConflict, "Set Merge IfVersion(1)")
	wantEntry(t, st, "k", `{"a":2}`, 2)
	noErr(t, st.Set(ctx, "k", raw(`{"b":1}`), storage.Merge(), storage.IfVersion(2)), "Set Merge IfVersion(2)")
	wantEntry(t, st, "k", `{"a":2,"b":1}`, 3)
	wantErr(t, st.Set(ctx, "missing", raw(`{"b":1}`), storage.Merge(), storage.IfVersion(1)), storage.ErrConflict, "Set Merge IfVersion of a missing key")
	wantMissing(t, st, "missing")
	wantErr(t, st.Set(ctx, "k", raw(`{"c":1}`), storage.Merge(), storage.NoOverwrite()), storage.ErrInvalidOption, "Set Merge NoOverwrite")
	wantErr(t, st.Set(ctx, "k", raw(`{"c":`), storage.Merge()), storage.ErrInvalidValue, "Set Merge of invalid JSON")
	wantEntry(t, st, "k", `{"a":2,"b":1}`, 3)
}

// testSetMergeRace: merges of different members of one key, at the same
// time, all land: none is lost to another's read-modify-write. A merge that
// runs in a transaction may end in ErrTxConflict; it is retried, as a
// caller would.
func testSetMergeRace(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`{"start":true}`))
	const n = 8
	errs := race(n, func(i int) error {
		var err error
		for range 50 {
			err = st.Set(t.Context(), "k", map[string]any{fmt.Sprintf("m%d", i): i}, storage.Merge())
			if !errors.Is(err, storage.ErrTxConflict) {
				return err
			}
		}
		return err
	})
	want := map[string]any{"start": true}
	for i, err := range errs {
		noErr(t, err, fmt.Sprintf("goroutine %d", i))
		want[fmt.Sprintf("m%d", i)] = i
	}
	b, err := json.Marshal(want)
	noErr(t, err, "marshal")
	wantEntry(t, st, "k", string(b), n+1)
}
