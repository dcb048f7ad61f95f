package storetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
)

var getManyTests = []test{
	{"Mixed", testGetManyMixed},
	{"Fields", testGetManyFields},
	{"Empty", testGetManyEmpty},
	{"Large", testGetManyLarge},
	{"MaxBytes", testGetManyMaxBytes},
}

var setManyTests = []test{
	{"New", testSetManyNew},
	{"Overwrite", testSetManyOverwrite},
	{"InvalidItems", testSetManyInvalidItems},
	{"NoOverwrite", testSetManyNoOverwrite},
	{"Atomic", testSetManyAtomic},
	{"AtomicNoOverwrite", testSetManyAtomicNoOverwrite},
	{"AtomicSuccess", testSetManyAtomicSuccess},
	{"Duplicates", testSetManyDuplicates},
	{"Metadata", testSetManyMetadata},
	{"Empty", testSetManyEmpty},
	{"Large", testSetManyLarge},
}

var deleteManyTests = []test{
	{"Mixed", testDeleteManyMixed},
	{"Duplicates", testDeleteManyDuplicates},
	{"Atomic", testDeleteManyAtomic},
	{"AtomicSuccess", testDeleteManyAtomicSuccess},
	{"Empty", testDeleteManyEmpty},
	{"Large", testDeleteManyLarge},
}

// checkGetMany fails t unless every distinct key of keys is in exactly one
// of res's maps, and nothing else is.
func checkGetMany(t *testing.T, res storage.GetManyResult, keys []string) {
	t.Helper()
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	for k := range want {
		_, found := res.Entries[k]
		_, failed := res.Errors[k]
		if found == failed {
			t.Errorf("GetMany: key %q is in Entries: %v, in Errors: %v; want exactly one", k, found, failed)
		}
	}
	for k := range res.Entries {
		if !want[k] {
			t.Errorf("GetMany: Entries has unrequested key %q", k)
		}
	}
	for k, err := range res.Errors {
		if !want[k] {
			t.Errorf("GetMany: Errors has unrequested key %q", k)
		}
		if err == nil {
			t.Errorf("GetMany: Errors[%q] is nil", k)
		}
	}
}

func testGetManyMixed(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "a", raw(`1`))
	mustSet(t, st, "b", raw(`"two"`))
	mustSet(t, st, "c", raw(`3`), ns("other"))
	keys := []string{"a", "missing", "", "b", "a", "c", "\xff", "missing", "a\x00"}
	res, err := st.GetMany(t.Context(), keys)
	noErr(t, err, "GetMany")
	checkGetMany(t, res, keys)
	for k, want := range map[string]string{"a": `1`, "b": `"two"`} {
		if e, ok := res.Entries[k]; !ok || !JSONEqual(e.Value, []byte(want)) {
			t.Errorf("GetMany: Entries[%q] = %s, want %s", k, e.Value, want)
		}
	}
	for _, k := range []string{"missing", "c"} {
		wantErr(t, res.Errors[k], storage.ErrNotFound, "GetMany key "+quote(k))
	}
	for _, k := range []string{"", "\xff", "a\x00"} {
		wantErr(t, res.Errors[k], storage.ErrInvalidKey, "GetMany key "+quote(k))
	}
	if len(res.Entries) != 2 || len(res.Errors) != 5 {
		t.Errorf("GetMany: %d entries, %d errors; want 2, 5", len(res.Entries), len(res.Errors))
	}
	res, err = st.GetMany(t.Context(), []string{"a", "c"}, ns("other"))
	noErr(t, err, "GetMany in namespace")
	checkGetMany(t, res, []string{"a", "c"})
	wantErr(t, res.Errors["a"], storage.ErrNotFound, "GetMany key a in other")
	if e := res.Entries["c"]; !JSONEqual(e.Value, []byte(`3`)) || e.Namespace != "other" {
		t.Errorf("GetMany in other: c = %+v", e)
	}
}

func testGetManyFields(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`{"x":1}`), ns("n"), storage.WithMetadata(map[string]any{"m": 1}))
	mustSet(t, st, "k", raw(`{"x":2}`), ns("n"))
	want := mustGet(t, st, "k", ns("n"))
	res, err := st.GetMany(t.Context(), []string{"k"}, ns("n"))
	noErr(t, err, "GetMany")
	checkGetMany(t, res, []string{"k"})
	got := res.Entries["k"]
	wantEntryFields(t, got, "n", "k")
	if !JSONEqual(got.Value, want.Value) || !JSONEqual(got.Metadata, want.Metadata) || got.Version != want.Version ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("GetMany entry %+v differs from Get's %+v", got, want)
	}
}

func testGetManyEmpty(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`))
	for _, keys := range [][]string{nil, {}} {
		res, err := st.GetMany(t.Context(), keys)
		noErr(t, err, "GetMany of no keys")
		if len(res.Entries) != 0 || len(res.Errors) != 0 {
			t.Errorf("GetMany of no keys = %+v, want empty", res)
		}
	}
}

func testGetManyLarge(t *testing.T, s *suite) {
	st := s.newStore(t)
	const n = 1000
	var items []storage.Item
	var keys []string
	for i := range n {
		k := fmt.Sprintf("key-%04d", i)
		keys = append(keys, k)
		if i%2 == 0 {
			items = append(items, storage.Item{Key: k, Value: i})
		}
	}
	res, err := st.SetMany(t.Context(), items)
	noErr(t, err, "SetMany")
	if !res.OK() {
		t.Fatalf("SetMany: %v", res.Err())
	}
	got, err := st.GetMany(t.Context(), keys)
	noErr(t, err, "GetMany")
	checkGetMany(t, got, keys)
	if len(got.Entries) != n/2 || len(got.Errors) != n/2 {
		t.Fatalf("GetMany of %d keys: %d entries, %d errors; want %d each", n, len(got.Entries), len(got.Errors), n/2)
	}
	for i, k := range keys {
		if i%2 == 0 {
			if e := got.Entries[k]; !JSONEqual(e.Value, mustJSON(t, i)) || e.Key != k {
				t.Errorf("GetMany: %s = %s (key %q), want %d", k, e.Value, e.Key, i)
			}
		} else {
			wantErr(t, got.Errors[k], storage.ErrNotFound, "GetMany "+k)
		}
	}
}

func testSetManyNew(t *testing.T, s *suite) {
	st := s.newStore(t)
	items := []storage.Item{
		{Key: "b", Value: raw(`{"n":1}`)},
		{Key: "a", Value: "two"},
		{Key: "c", Value: []int{3}},
	}
	res, err := st.SetMany(t.Context(), items, ns("batch"))
	noErr(t, err, "SetMany")
	checkBatch(t, res, []string{"b", "a", "c"}, "SetMany")
	for _, kr := range res.Results {
		if kr.Err != nil || kr.Version != 1 {
			t.Errorf("SetMany %q: Err %v, Version %d; want nil, 1", kr.Key, kr.Err, kr.Version)
		}
	}
	wantEntry(t, st, "b", `{"n":1}`, 1, ns("batch"))
	wantEntry(t, st, "a", `"two"`, 1, ns("batch"))
	e := wantEntry(t, st, "c", `[3]`, 1, ns("batch"))
	wantEntryFields(t, e, "batch", "c")
	if !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("metadata = %s, want {}", e.Metadata)
	}
	wantSize(t, st, 3)
}

func testSetManyOverwrite(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "a", raw(`1`))
	mustSet(t, st, "a", raw(`2`))
	mustSet(t, st, "b", raw(`1`))
	res, err := st.SetMany(t.Context(), []storage.Item{{Key: "a", Value: raw(`3`)}, {Key: "b", Value: raw(`3`)}, {Key: "c", Value: raw(`3`)}})
	noErr(t, err, "SetMany")
	checkBatch(t, res, []string{"a", "b", "c"}, "SetMany")
	for k, v := range map[string]int64{"a": 3, "b": 2, "c": 1} {
		if got := resultOf(t, res, k).Version; got != v {
			t.Errorf("SetMany %q: Version %d, want %d", k, got, v)
		}
		wantEntry(t, st, k, `3`, v)
	}
	wantSize(t, st, 3)
}

func testSetManyInvalidItems(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "existing", raw(`"old"`))
	items := []storage.Item{
		{Key: "ok1", Value: raw(`1`)},
		{Key: "", Value: raw(`2`)},
		{Key: "nan", Value: nan()},
		{Key: "existing", Value: raw(`{`)},
		{Key: "ok2", Value: raw(`[2]`), Metadata: map[string]any{"m": 2}},
		{Key: "badmeta", Value: raw(`3`), Metadata: map[string]any{"m": nan()}},
		{Key: "a\x00", Value: raw(`4`)},
		{Key: "nul", Value: "x\x00"},
	}
	res, err := st.SetMany(t.Context(), items)
	batchCallErr(t, err, "SetMany", storage.ErrInvalidKey, storage.ErrInvalidValue)
	checkBatch(t, res, []string{"ok1", "", "nan", "existing", "ok2", "badmeta", "a\x00", "nul"}, "SetMany")
	want := map[string]error{"": storage.ErrInvalidKey, "a\x00": storage.ErrInvalidKey,
		"nan": storage.ErrInvalidValue, "existing": storage.ErrInvalidValue, "badmeta": storage.ErrInvalidValue, "nul": storage.ErrInvalidValue}
	for _, kr := range res.Results {
		if w, bad := want[kr.Key]; bad {
			wantErr(t, kr.Err, w, "SetMany key "+quote(kr.Key))
			if kr.Version != 0 {
				t.Errorf("SetMany key %q failed with Version %d, want 0", kr.Key, kr.Version)
			}
		} else if kr.Err != nil || kr.Version != 1 {
			t.Errorf("SetMany key %q: Err %v, Version %d; want nil, 1", kr.Key, kr.Err, kr.Version)
		}
	}
	if len(res.Failed()) != len(want) {
		t.Errorf("SetMany: %d failed, want %d", len(res.Failed()), len(want))
	}
	wantEntry(t, st, "ok1", `1`, 1)
	if e := wantEntry(t, st, "ok2", `[2]`, 1); !JSONEqual(e.Metadata, []byte(`{"m":2}`)) {
		t.Errorf("ok2 metadata = %s", e.Metadata)
	}
	wantEntry(t, st, "existing", `"old"`, 1)
	wantMissing(t, st, "nan")
	wantMissing(t, st, "badmeta")
	wantMissing(t, st, "nul")
	wantSize(t, st, 3)
}

func testSetManyNoOverwrite(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "existing", raw(`"old"`), storage.WithMetadata(map[string]any{"m": "old"}))
	items := []storage.Item{
		{Key: "new1", Value: raw(`1`)},
		{Key: "existing", Value: raw(`"new"`), Metadata: map[string]any{"m": "new"}},
		{Key: "new2", Value: raw(`2`)},
	}
	res, err := st.SetMany(t.Context(), items, storage.NoOverwrite())
	batchCallErr(t, err, "SetMany NoOverwrite", storage.ErrAlreadyExists)
	checkBatch(t, res, []string{"new1", "existing", "new2"}, "SetMany NoOverwrite")
	wantErr(t, resultOf(t, res, "existing").Err, storage.ErrAlreadyExists, "SetMany NoOverwrite existing")
	noErr(t, resultOf(t, res, "new1").Err, "SetMany NoOverwrite new1")
	noErr(t, resultOf(t, res, "new2").Err, "SetMany NoOverwrite new2")
	e := wantEntry(t, st, "existing", `"old"`, 1)
	if !JSONEqual(e.Metadata, []byte(`{"m":"old"}`)) {
		t.Errorf("existing metadata = %s, want it intact", e.Metadata)
	}
	wantEntry(t, st, "new1", `1`, 1)
	wantEntry(t, st, "new2", `2`, 1)
	wantSize(t, st, 3)
}

// wantNothingWritten checks with GetMany that none of keys exists, except
// those in kept, which must hold their given value at version 1.
func wantNothingWritten(t *testing.T, st storage.Store, keys []string, kept map[string]string, opts ...storage.Option) {
	t.Helper()
	res, err := st.GetMany(t.Context(), keys, opts...)
	noErr(t, err, "GetMany")
	for _, k := range keys {
		e, ok := res.Entries[k]
		want, isKept := kept[k]
		switch {
		case isKept && (!ok || !JSONEqual(e.Value, []byte(want)) || e.Version != 1):
			t.Errorf("key %q = %s at version %d, want %s at version 1 (untouched)", k, e.Value, e.Version, want)
		case !isKept && ok:
			t.Errorf("key %q was written (%s) by a failed atomic batch", k, e.Value)
		}
	}
}

func testSetManyAtomic(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "existing", raw(`"old"`))
	cases := []struct {
		name    string
		items   []storage.Item
		failing map[string]error
	}{
		{"invalidValue", []storage.Item{{Key: "a", Value: raw(`1`)}, {Key: "existing", Value: raw(`2`)}, {Key: "bad", Value: raw(`{`)}},
			map[string]error{"bad": storage.ErrInvalidValue}},
		{"invalidKey", []storage.Item{{Key: "", Value: raw(`1`)}, {Key: "a", Value: raw(`1`)}, {Key: "existing", Value: raw(`2`)}},
			map[string]error{"": storage.ErrInvalidKey}},
		{"invalidMetadata", []storage.Item{{Key: "a", Value: raw(`1`)}, {Key: "b", Value: raw(`1`), Metadata: map[string]any{"x": nan()}}},
			map[string]error{"b": storage.ErrInvalidValue}},
		{"several", []storage.Item{{Key: "a", Value: nan()}, {Key: "b", Value: raw(`1`)}, {Key: "c\xff", Value: raw(`1`)}},
			map[string]error{"a": storage.ErrInvalidValue, "c\xff": storage.ErrInvalidKey}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, st)
			res, err := st.SetMany(t.Context(), tc.items, storage.Atomic())
			batchCallErr(t, err, "SetMany Atomic", slices.Collect(maps.Values(tc.failing))...)
			var keys []string
			for _, it := range tc.items {
				keys = append(keys, it.Key)
			}
			checkBatch(t, res, keys, "SetMany Atomic")
			if res.OK() {
				t.Errorf("SetMany Atomic with failing items reports OK")
			}
			for k, want := range tc.failing {
				wantErr(t, resultOf(t, res, k).Err, want, "SetMany Atomic key "+quote(k))
			}
			for _, kr := range res.Results {
				if kr.Version != 0 {
					t.Errorf("SetMany Atomic key %q reports Version %d in a batch that wrote nothing", kr.Key, kr.Version)
				}
			}
			unchanged(t, st, before, "a failed atomic SetMany")
			wantNothingWritten(t, st, []string{"a", "b", "existing"}, map[string]string{"existing": `"old"`})
		})
	}
}

func testSetManyAtomicNoOverwrite(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "existing", raw(`"old"`), ns("n"))
	before := snapshot(t, st)
	items := []storage.Item{{Key: "a", Value: raw(`1`)}, {Key: "existing", Value: raw(`2`)}, {Key: "b", Value: raw(`3`)}}
	res, err := st.SetMany(t.Context(), items, storage.Atomic(), storage.NoOverwrite(), ns("n"))
	batchCallErr(t, err, "SetMany Atomic NoOverwrite", storage.ErrAlreadyExists)
	checkBatch(t, res, []string{"a", "existing", "b"}, "SetMany Atomic NoOverwrite")
	wantErr(t, resultOf(t, res, "existing").Err, storage.ErrAlreadyExists, "SetMany Atomic NoOverwrite existing")
	unchanged(t, st, before, "a failed atomic SetMany")
	wantNothingWritten(t, st, []string{"a", "existing", "b"}, map[string]string{"existing": `"old"`}, ns("n"))
}

func testSetManyAtomicSuccess(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "existing", raw(`"old"`))
	res, err := st.SetMany(t.Context(), []storage.Item{{Key: "a", Value: raw(`1`)}, {Key: "existing", Value: raw(`2`)}}, storage.Atomic())
	noErr(t, err, "SetMany Atomic")
	checkBatch(t, res, []string{"a", "existing"}, "SetMany Atomic")
	if !res.OK() {
		t.Fatalf("SetMany Atomic: %v", res.Err())
	}
	if resultOf(t, res, "a").Version != 1 || resultOf(t, res, "existing").Version != 2 {
		t.Errorf("SetMany Atomic versions = %+v, want a:1 existing:2", res.Results)
	}
	wantEntry(t, st, "a", `1`, 1)
	wantEntry(t, st, "existing", `2`, 2)
	res, err = st.SetMany(t.Context(), []storage.Item{{Key: "b", Value: raw(`1`)}}, storage.Atomic(), storage.NoOverwrite())
	noErr(t, err, "SetMany Atomic NoOverwrite")
	checkBatch(t, res, []string{"b"}, "SetMany Atomic NoOverwrite")
	wantEntry(t, st, "b", `1`, 1)
	wantSize(t, st, 3)
}

// testSetManyDuplicates checks the rule for a key given more than once: the
// last occurrence wins, as one write (one version step) reported once, at
// the key's first position.
func testSetManyDuplicates(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "x", raw(`"old"`))
	items := []storage.Item{
		{Key: "a", Value: raw(`1`), Metadata: map[string]any{"m": 1}},
		{Key: "x", Value: raw(`1`)},
		{Key: "b", Value: raw(`1`)},
		{Key: "a", Value: raw(`2`), Metadata: map[string]any{"m": 2}},
		{Key: "c", Value: raw(`1`)},
		{Key: "x", Value: raw(`2`)},
		{Key: "b", Value: raw(`3`)},
		{Key: "a", Value: raw(`4`), Metadata: map[string]any{"m": 4}},
	}
	for _, atomic := range []bool{false, true} {
		t.Run(fmt.Sprintf("atomic=%v", atomic), func(t *testing.T) {
			var opts []storage.Option
			nsName := "plain"
			if atomic {
				opts = append(opts, storage.Atomic())
				nsName = "atomic"
			}
			opts = append(opts, ns(nsName))
			mustSet(t, st, "x", raw(`"old"`), ns(nsName))
			res, err := st.SetMany(t.Context(), items, opts...)
			noErr(t, err, "SetMany")
			checkBatch(t, res, []string{"a", "x", "b", "c"}, "SetMany with duplicates")
			for k, v := range map[string]int64{"a": 1, "x": 2, "b": 1, "c": 1} {
				if got := resultOf(t, res, k).Version; got != v {
					t.Errorf("SetMany %q: Version %d, want %d", k, got, v)
				}
			}
			e := wantEntry(t, st, "a", `4`, 1, ns(nsName))
			if !JSONEqual(e.Metadata, []byte(`{"m":4}`)) {
				t.Errorf("a metadata = %s, want the last occurrence's {\"m\":4}", e.Metadata)
			}
			wantEntry(t, st, "x", `2`, 2, ns(nsName))
			wantEntry(t, st, "b", `3`, 1, ns(nsName))
			wantEntry(t, st, "c", `1`, 1, ns(nsName))
		})
	}
	t.Run("lastWithoutMetadata", func(t *testing.T) {
		// The last occurrence wins whole: its nil Metadata means "keep",
		// not the earlier occurrence's metadata.
		res, err := st.SetMany(t.Context(), []storage.Item{
			{Key: "d", Value: raw(`1`), Metadata: map[string]any{"m": 1}},
			{Key: "d", Value: raw(`2`)},
		})
		noErr(t, err, "SetMany")
		checkBatch(t, res, []string{"d"}, "SetMany")
		e := wantEntry(t, st, "d", `2`, 1)
		if !JSONEqual(e.Metadata, []byte(`{}`)) {
			t.Errorf("d metadata = %s, want {} (the last occurrence has none)", e.Metadata)
		}
	})
	t.Run("NoOverwrite", func(t *testing.T) {
		res, err := st.SetMany(t.Context(), []storage.Item{
			{Key: "e", Value: raw(`1`)},
			{Key: "e", Value: raw(`2`)},
			{Key: "x", Value: raw(`3`)},
			{Key: "x", Value: raw(`4`)},
		}, storage.NoOverwrite())
		batchCallErr(t, err, "SetMany NoOverwrite", storage.ErrAlreadyExists)
		checkBatch(t, res, []string{"e", "x"}, "SetMany NoOverwrite")
		noErr(t, resultOf(t, res, "e").Err, "SetMany NoOverwrite e (new, given twice)")
		wantErr(t, resultOf(t, res, "x").Err, storage.ErrAlreadyExists, "SetMany NoOverwrite x")
		wantEntry(t, st, "e", `2`, 1)
		wantEntry(t, st, "x", `"old"`, 1)
	})
}

func testSetManyMetadata(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "kept", raw(`0`), storage.WithMetadata(map[string]any{"old": true}))
	mustSet(t, st, "kept2", raw(`0`), storage.WithMetadata(map[string]any{"old": true}))
	res, err := st.SetMany(t.Context(), []storage.Item{
		{Key: "batch", Value: raw(`1`)},
		{Key: "own", Value: raw(`2`), Metadata: map[string]any{"own": true}},
		{Key: "emptied", Value: raw(`3`), Metadata: map[string]any{}},
		{Key: "kept", Value: raw(`4`)},
	}, storage.WithMetadata(map[string]any{"batch": true}))
	noErr(t, err, "SetMany WithMetadata")
	checkBatch(t, res, []string{"batch", "own", "emptied", "kept"}, "SetMany WithMetadata")
	for k, want := range map[string]string{"batch": `{"batch":true}`, "own": `{"own":true}`, "emptied": `{}`, "kept": `{"batch":true}`} {
		if e := mustGet(t, st, k); !JSONEqual(e.Metadata, []byte(want)) {
			t.Errorf("%s metadata = %s, want %s", k, e.Metadata, want)
		}
	}
	// Without WithMetadata, items without metadata keep what is stored.
	res, err = st.SetMany(t.Context(), []storage.Item{{Key: "kept2", Value: raw(`5`)}, {Key: "fresh", Value: raw(`6`)}})
	noErr(t, err, "SetMany")
	checkBatch(t, res, []string{"kept2", "fresh"}, "SetMany")
	if e := wantEntry(t, st, "kept2", `5`, 2); !JSONEqual(e.Metadata, []byte(`{"old":true}`)) {
		t.Errorf("kept2 metadata = %s, want it kept", e.Metadata)
	}
	if e := wantEntry(t, st, "fresh", `6`, 1); !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("fresh metadata = %s, want {}", e.Metadata)
	}
}

func testSetManyEmpty(t *testing.T, s *suite) {
	st := s.newStore(t)
	before := snapshot(t, st)
	for _, opts := range [][]storage.Option{nil, {storage.Atomic()}, {storage.NoOverwrite(), ns("fresh")}} {
		for _, items := range [][]storage.Item{nil, {}} {
			res, err := st.SetMany(t.Context(), items, opts...)
			noErr(t, err, "SetMany of no items")
			if len(res.Results) != 0 || !res.OK() || res.Err() != nil || len(res.Failed()) != 0 {
				t.Errorf("SetMany of no items = %+v, want an empty OK result", res)
			}
		}
	}
	unchanged(t, st, before, "an empty SetMany")
}

func testSetManyLarge(t *testing.T, s *suite) {
	st := s.newStore(t)
	const n = 1000
	items := make([]storage.Item, n)
	keys := make([]string, n)
	for i := range items {
		keys[i] = fmt.Sprintf("k%04d", n-i) // not in key order
		items[i] = storage.Item{Key: keys[i], Value: map[string]int{"i": i}}
	}
	for _, opts := range [][]storage.Option{nil, {storage.Atomic()}} {
		res, err := st.SetMany(t.Context(), items, opts...)
		noErr(t, err, "SetMany")
		checkBatch(t, res, keys, "SetMany")
		if !res.OK() {
			t.Fatalf("SetMany of %d items: %v", n, res.Err())
		}
	}
	wantSize(t, st, n)
	got, err := st.GetMany(t.Context(), keys)
	noErr(t, err, "GetMany")
	for i, k := range keys {
		if e := got.Entries[k]; e.Version != 2 || !JSONEqual(e.Value, mustJSON(t, map[string]int{"i": i})) {
			t.Fatalf("%s = %s at version %d, want {\"i\":%d} at version 2", k, e.Value, e.Version, i)
		}
	}
}

func testDeleteManyMixed(t *testing.T, s *suite) {
	st := s.newStore(t)
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, st, k, raw(`1`))
	}
	mustSet(t, st, "a", raw(`1`), ns("other"))
	keys := []string{"a", "missing", "", "c", "bad\xff"}
	res, err := st.DeleteMany(t.Context(), keys)
	batchCallErr(t, err, "DeleteMany", storage.ErrNotFound, storage.ErrInvalidKey)
	checkBatch(t, res, keys, "DeleteMany")
	noErr(t, resultOf(t, res, "a").Err, "DeleteMany a")
	noErr(t, resultOf(t, res, "c").Err, "DeleteMany c")
	wantErr(t, resultOf(t, res, "missing").Err, storage.ErrNotFound, "DeleteMany missing")
	wantErr(t, resultOf(t, res, "").Err, storage.ErrInvalidKey, "DeleteMany empty key")
	wantErr(t, resultOf(t, res, "bad\xff").Err, storage.ErrInvalidKey, "DeleteMany invalid key")
	for _, kr := range res.Results {
		if kr.Version != 0 {
			t.Errorf("DeleteMany %q: Version %d, want 0", kr.Key, kr.Version)
		}
	}
	wantMissing(t, st, "a")
	wantMissing(t, st, "c")
	wantEntry(t, st, "b", `1`, 1)
	wantEntry(t, st, "a", `1`, 1, ns("other"))
	wantSize(t, st, 2)
	res, err = st.DeleteMany(t.Context(), []string{"a", "b"}, ns("other"))
	batchCallErr(t, err, "DeleteMany in other", storage.ErrNotFound)
	checkBatch(t, res, []string{"a", "b"}, "DeleteMany in other")
	noErr(t, resultOf(t, res, "a").Err, "DeleteMany a in other")
	wantErr(t, resultOf(t, res, "b").Err, storage.ErrNotFound, "DeleteMany b in other")
	wantEntry(t, st, "b", `1`, 1)
	wantSize(t, st, 1)
}

func testDeleteManyDuplicates(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "a", raw(`1`))
	mustSet(t, st, "b", raw(`1`))
	res, err := st.DeleteMany(t.Context(), []string{"a", "m", "a", "b", "m", "a"})
	batchCallErr(t, err, "DeleteMany", storage.ErrNotFound)
	checkBatch(t, res, []string{"a", "m", "b"}, "DeleteMany with duplicates")
	noErr(t, resultOf(t, res, "a").Err, "DeleteMany a (given three times)")
	noErr(t, resultOf(t, res, "b").Err, "DeleteMany b")
	wantErr(t, resultOf(t, res, "m").Err, storage.ErrNotFound, "DeleteMany m")
	wantSize(t, st, 0)
}

func testDeleteManyAtomic(t *testing.T, s *suite) {
	st := s.newStore(t)
	for _, k := range []string{"a", "b"} {
		mustSet(t, st, k, raw(`1`))
	}
	for _, tc := range []struct {
		name string
		keys []string
		bad  string
		want error
	}{
		{"missing", []string{"a", "missing", "b"}, "missing", storage.ErrNotFound},
		{"invalid", []string{"a", "b", ""}, "", storage.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, st)
			res, err := st.DeleteMany(t.Context(), tc.keys, storage.Atomic())
			batchCallErr(t, err, "DeleteMany Atomic", tc.want)
			checkBatch(t, res, tc.keys, "DeleteMany Atomic")
			wantErr(t, resultOf(t, res, tc.bad).Err, tc.want, "DeleteMany Atomic "+quote(tc.bad))
			if res.OK() {
				t.Errorf("DeleteMany Atomic with a failing key reports OK")
			}
			unchanged(t, st, before, "a failed atomic DeleteMany")
			wantNothingWritten(t, st, []string{"a", "b"}, map[string]string{"a": `1`, "b": `1`})
		})
	}
}

func testDeleteManyAtomicSuccess(t *testing.T, s *suite) {
	st := s.newStore(t)
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, st, k, raw(`1`), ns("n"))
	}
	res, err := st.DeleteMany(t.Context(), []string{"a", "b", "a"}, storage.Atomic(), ns("n"))
	noErr(t, err, "DeleteMany Atomic")
	checkBatch(t, res, []string{"a", "b"}, "DeleteMany Atomic")
	if !res.OK() {
		t.Errorf("DeleteMany Atomic: %v", res.Err())
	}
	wantMissing(t, st, "a", ns("n"))
	wantMissing(t, st, "b", ns("n"))
	wantEntry(t, st, "c", `1`, 1, ns("n"))
	wantSize(t, st, 1)
}

func testDeleteManyEmpty(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`))
	before := snapshot(t, st)
	for _, opts := range [][]storage.Option{nil, {storage.Atomic()}, {ns("fresh")}} {
		for _, keys := range [][]string{nil, {}} {
			res, err := st.DeleteMany(t.Context(), keys, opts...)
			noErr(t, err, "DeleteMany of no keys")
			if len(res.Results) != 0 || !res.OK() || res.Err() != nil {
				t.Errorf("DeleteMany of no keys = %+v, want an empty OK result", res)
			}
		}
	}
	unchanged(t, st, before, "an empty DeleteMany")
}

func testDeleteManyLarge(t *testing.T, s *suite) {
	st := s.newStore(t)
	const n = 1000
	items := make([]storage.Item, n)
	keys := make([]string, n)
	for i := range items {
		keys[i] = fmt.Sprintf("k%04d", i)
		items[i] = storage.Item{Key: keys[i], Value: i}
	}
	res, err := st.SetMany(t.Context(), items)
	noErr(t, err, "SetMany")
	if !res.OK() {
		t.Fatalf("SetMany: %v", res.Err())
	}
	mustSet(t, st, "survivor", raw(`1`))
	res, err = st.DeleteMany(t.Context(), keys, storage.Atomic())
	noErr(t, err, "DeleteMany")
	checkBatch(t, res, keys, "DeleteMany")
	if !res.OK() {
		t.Fatalf("DeleteMany of %d keys: %v", n, res.Err())
	}
	wantSize(t, st, 1)
	got, err := st.GetMany(t.Context(), keys)
	noErr(t, err, "GetMany")
	if len(got.Entries) != 0 {
		t.Errorf("%d keys left after DeleteMany", len(got.Entries))
	}
	res, err = st.DeleteMany(t.Context(), keys)
	batchCallErr(t, err, "DeleteMany again", storage.ErrNotFound)
	checkBatch(t, res, keys, "DeleteMany again")
	if len(res.Failed()) != n {
		t.Errorf("DeleteMany of %d deleted keys: %d failed, want all", n, len(res.Failed()))
	}
}
