package storetest

import (
	"encoding/json"
	"testing"

	"github.com/mycelia-kernel/storage"
)

var metadataTests = []test{
	{"Get", testMetadataGet},
	{"Empty", testMetadataEmpty},
	{"SystemNamesAreUserData", testMetadataSystemNames},
	{"Replace", testMetadataReplace},
	{"Merge", testMetadataMerge},
	{"MergePatchRFC7396", testMetadataMergePatch},
	{"Missing", testMetadataMissing},
	{"IfVersion", testMetadataIfVersion},
	{"GoForms", testMetadataGoForms},
	{"NilForms", testMetadataNilForms},
}

func testMetadataGet(t *testing.T, s *suite) {
	st := s.newStore(t)
	const md = `{"owner":"ada","tags":["a","b"],"limits":{"n":3,"ratio":0.25},"on":false,"nothing":null}`
	mustSet(t, st, "k", raw(`"v"`), storage.WithMetadata(obj(t, md)), ns("x"))
	mustSet(t, st, "k", raw(`"v2"`), ns("x"))
	got, err := st.GetMetadata(t.Context(), "k", ns("x"))
	noErr(t, err, "GetMetadata")
	wantObject(t, got.User, md, "GetMetadata.User")
	e := mustGet(t, st, "k", ns("x"))
	if got.Version != 2 || got.Version != e.Version {
		t.Errorf("GetMetadata.Version = %d, want 2 (Get says %d)", got.Version, e.Version)
	}
	wantTime(t, got.CreatedAt, "GetMetadata.CreatedAt")
	wantTime(t, got.UpdatedAt, "GetMetadata.UpdatedAt")
	if !got.CreatedAt.Equal(e.CreatedAt) || !got.UpdatedAt.Equal(e.UpdatedAt) {
		t.Errorf("GetMetadata times %v, %v differ from Get's %v, %v", got.CreatedAt, got.UpdatedAt, e.CreatedAt, e.UpdatedAt)
	}
	if !JSONEqual(e.Metadata, []byte(md)) {
		t.Errorf("Entry.Metadata = %s, want %s", e.Metadata, md)
	}
}

func testMetadataEmpty(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`1`))
	got, err := st.GetMetadata(t.Context(), "k")
	noErr(t, err, "GetMetadata")
	if len(got.User) != 0 {
		t.Errorf("GetMetadata.User = %v for a key without metadata, want empty", got.User)
	}
	if got.Version != 1 {
		t.Errorf("GetMetadata.Version = %d, want 1", got.Version)
	}
	noErr(t, st.SetMetadata(t.Context(), "k", nil), "SetMetadata(nil)")
	got, err = st.GetMetadata(t.Context(), "k")
	noErr(t, err, "GetMetadata")
	if len(got.User) != 0 || got.Version != 2 {
		t.Errorf("after SetMetadata(nil): User = %v, Version = %d; want empty, 2", got.User, got.Version)
	}
}

// testMetadataSystemNames checks that user metadata named like the system
// fields is the user's and does not disturb them.
func testMetadataSystemNames(t *testing.T, s *suite) {
	st := s.newStore(t)
	const md = `{"version":"mine","createdAt":"never","updatedAt":0,"created_at":null,"$key":"k","key":1,"value":2,"namespace":"x"}`
	mustSet(t, st, "k", raw(`1`), storage.WithMetadata(obj(t, md)))
	got, err := st.GetMetadata(t.Context(), "k")
	noErr(t, err, "GetMetadata")
	wantObject(t, got.User, md, "GetMetadata.User")
	if got.Version != 1 {
		t.Errorf("GetMetadata.Version = %d, want 1", got.Version)
	}
	wantTime(t, got.CreatedAt, "GetMetadata.CreatedAt")
	e := wantEntry(t, st, "k", `1`, 1)
	wantEntryFields(t, e, storage.DefaultNamespace, "k")
	if !JSONEqual(e.Metadata, []byte(md)) {
		t.Errorf("Entry.Metadata = %s, want %s", e.Metadata, md)
	}
}

func testMetadataReplace(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`{"value":true}`), storage.WithMetadata(map[string]any{"a": 1, "b": map[string]any{"c": 2}}))
	before := mustGet(t, st, "k")
	noErr(t, st.SetMetadata(ctx, "k", map[string]any{"b": map[string]any{"d": 3}}), "SetMetadata")
	got, err := st.GetMetadata(ctx, "k")
	noErr(t, err, "GetMetadata")
	wantObject(t, got.User, `{"b":{"d":3}}`, "GetMetadata.User after a replace")
	if got.Version != 2 {
		t.Errorf("Version = %d after SetMetadata, want 2", got.Version)
	}
	if !got.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("CreatedAt changed by SetMetadata: %v -> %v", before.CreatedAt, got.CreatedAt)
	}
	if got.UpdatedAt.Before(before.UpdatedAt) {
		t.Errorf("UpdatedAt went back: %v -> %v", before.UpdatedAt, got.UpdatedAt)
	}
	wantEntry(t, st, "k", `{"value":true}`, 2)
	noErr(t, st.SetMetadata(ctx, "k", map[string]any{}), "SetMetadata({})")
	got, err = st.GetMetadata(ctx, "k")
	noErr(t, err, "GetMetadata")
	wantObject(t, got.User, `{}`, "GetMetadata.User after SetMetadata({})")
	wantEntry(t, st, "k", `{"value":true}`, 3)
	wantSize(t, st, 1)
}

func testMetadataMerge(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`[1]`), ns("m"), storage.WithMetadata(obj(t, `{"a":1,"b":{"c":2,"d":3},"e":[1,2],"gone":true}`)))
	before := mustGet(t, st, "k", ns("m"))
	patch := obj(t, `{"a":10,"b":{"c":null,"x":"new"},"e":[3],"gone":null,"added":{"deep":{"er":1}}}`)
	noErr(t, st.SetMetadata(ctx, "k", patch, storage.Merge(), ns("m")), "SetMetadata Merge")
	got, err := st.GetMetadata(ctx, "k", ns("m"))
	noErr(t, err, "GetMetadata")
	wantObject(t, got.User, `{"a":10,"b":{"d":3,"x":"new"},"e":[3],"added":{"deep":{"er":1}}}`, "GetMetadata.User after a merge")
	if got.Version != 2 {
		t.Errorf("Version = %d after a merge, want 2", got.Version)
	}
	if !got.CreatedAt.Equal(before.CreatedAt) || got.UpdatedAt.Before(before.UpdatedAt) {
		t.Errorf("merge timestamps: created %v -> %v, updated %v -> %v", before.CreatedAt, got.CreatedAt, before.UpdatedAt, got.UpdatedAt)
	}
	wantEntry(t, st, "k", `[1]`, 2, ns("m"))
	// An empty patch changes nothing but is still a write.
	noErr(t, st.SetMetadata(ctx, "k", map[string]any{}, storage.Merge(), ns("m")), "SetMetadata Merge {}")
	got, err = st.GetMetadata(ctx, "k", ns("m"))
	noErr(t, err, "GetMetadata")
	wantObject(t, got.User, `{"a":10,"b":{"d":3,"x":"new"},"e":[3],"added":{"deep":{"er":1}}}`, "GetMetadata.User after an empty merge")
	if got.Version != 3 {
		t.Errorf("Version = %d after an empty merge, want 3", got.Version)
	}
}

// testMetadataMergePatch runs the RFC 7396 appendix A examples whose target
// and patch are objects (metadata is always an object).
func testMetadataMergePatch(t *testing.T, s *suite) {
	st := s.newStore(t)
	cases := []struct{ name, target, patch, want string }{
		{"replace", `{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{"add", `{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{"remove", `{"a":"b"}`, `{"a":null}`, `{}`},
		{"removeOne", `{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{"arrayByString", `{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{"stringByArray", `{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{"nested", `{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{"arraysReplaced", `{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{"storedNullKept", `{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{"nullsInNewObject", `{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{"removeMissing", `{"a":1}`, `{"z":null}`, `{"a":1}`},
		{"objectOverScalar", `{"a":1}`, `{"a":{"b":null,"c":2}}`, `{"a":{"c":2}}`},
		{"scalarOverObject", `{"a":{"b":1}}`, `{"a":true}`, `{"a":true}`},
		{"arrayNullsKept", `{}`, `{"a":[null,{"b":null}]}`, `{"a":[null,{"b":null}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustSet(t, st, tc.name, raw(`"value"`), storage.WithMetadata(obj(t, tc.target)))
			noErr(t, st.SetMetadata(t.Context(), tc.name, obj(t, tc.patch), storage.Merge()), "SetMetadata Merge")
			got, err := st.GetMetadata(t.Context(), tc.name)
			noErr(t, err, "GetMetadata")
			wantObject(t, got.User, tc.want, "merge of "+tc.patch+" into "+tc.target)
			wantEntry(t, st, tc.name, `"value"`, 2)
		})
	}
}

func testMetadataMissing(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "present", raw(`1`))
	before := snapshot(t, st)
	wantErr(t, st.SetMetadata(ctx, "missing", map[string]any{"a": 1}), storage.ErrNotFound, "SetMetadata")
	wantErr(t, st.SetMetadata(ctx, "missing", map[string]any{"a": 1}, storage.Merge()), storage.ErrNotFound, "SetMetadata Merge")
	wantErr(t, st.SetMetadata(ctx, "present", map[string]any{"a": 1}, ns("other")), storage.ErrNotFound, "SetMetadata in another namespace")
	_, err := st.GetMetadata(ctx, "missing")
	wantErr(t, err, storage.ErrNotFound, "GetMetadata")
	unchanged(t, st, before, "SetMetadata of a missing key")
	wantMissing(t, st, "missing")
}

func testMetadataIfVersion(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "k", raw(`"v"`), storage.WithMetadata(map[string]any{"a": 1}))
	mustSet(t, st, "k", raw(`"v"`))
	for _, opts := range [][]storage.Option{{storage.IfVersion(1)}, {storage.IfVersion(3), storage.Merge()}} {
		wantErr(t, st.SetMetadata(ctx, "k", map[string]any{"b": 2}, opts...), storage.ErrConflict, "SetMetadata IfVersion mismatch")
	}
	got, err := st.GetMetadata(ctx, "k")
	noErr(t, err, "GetMetadata")
	wantObject(t, got.User, `{"a":1}`, "GetMetadata.User after conflicts")
	if got.Version != 2 {
		t.Errorf("Version = %d after conflicts, want 2", got.Version)
	}
	noErr(t, st.SetMetadata(ctx, "k", map[string]any{"b": 2}, storage.IfVersion(2), storage.Merge()), "SetMetadata IfVersion(2) Merge")
	noErr(t, st.SetMetadata(ctx, "k", map[string]any{"c": 3}, storage.IfVersion(3)), "SetMetadata IfVersion(3)")
	got, err = st.GetMetadata(ctx, "k")
	noErr(t, err, "GetMetadata")
	wantObject(t, got.User, `{"c":3}`, "GetMetadata.User")
	if got.Version != 4 {
		t.Errorf("Version = %d, want 4", got.Version)
	}
	wantErr(t, st.SetMetadata(ctx, "k", nil, storage.IfVersion(0)), storage.ErrInvalidOption, "SetMetadata IfVersion(0)")
	// SetMetadata reports a missing key as ErrNotFound, with or without an
	// expected version.
	wantErr(t, st.SetMetadata(ctx, "missing", nil, storage.IfVersion(1)), storage.ErrNotFound, "SetMetadata IfVersion on a missing key")
	wantMissing(t, st, "missing")
}

// mdDoc is metadata as a Go struct.
type mdDoc struct {
	Owner string         `json:"owner"`
	Tags  []string       `json:"tags"`
	Extra map[string]int `json:"extra,omitempty"`
}

// testMetadataGoForms checks that metadata is accepted the way values are:
// a map, json.RawMessage (passed through), a struct and a pointer to one
// give the same stored object on every path that takes metadata.
func testMetadataGoForms(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	const want = `{"owner":"ada","tags":["a","b"]}`
	forms := []struct {
		name string
		md   any
	}{
		{"map", map[string]any{"owner": "ada", "tags": []string{"a", "b"}}},
		{"rawMessage", json.RawMessage(want)},
		{"struct", mdDoc{Owner: "ada", Tags: []string{"a", "b"}}},
		{"pointer", &mdDoc{Owner: "ada", Tags: []string{"a", "b"}}},
		{"mapOfStrings", map[string][]string{"tags": {"a", "b"}, "owner": {"ada"}}},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			want := want
			if f.name == "mapOfStrings" {
				want = `{"owner":["ada"],"tags":["a","b"]}`
			}
			check := func(key, what string) {
				t.Helper()
				got, err := st.GetMetadata(ctx, key, ns(f.name))
				noErr(t, err, what+": GetMetadata")
				wantObject(t, got.User, want, what)
			}
			mustSet(t, st, "set", raw(`1`), ns(f.name), storage.WithMetadata(f.md))
			check("set", "Set WithMetadata")
			res, err := st.SetMany(ctx, []storage.Item{{Key: "item", Value: raw(`1`), Metadata: f.md}}, ns(f.name))
			noErr(t, err, "SetMany Item.Metadata")
			noErr(t, res.Err(), "SetMany Item.Metadata result")
			check("item", "SetMany Item.Metadata")
			res, err = st.SetMany(ctx, []storage.Item{{Key: "batch", Value: raw(`1`)}}, ns(f.name), storage.WithMetadata(f.md))
			noErr(t, err, "SetMany WithMetadata")
			noErr(t, res.Err(), "SetMany WithMetadata result")
			check("batch", "SetMany WithMetadata")
			mustSet(t, st, "replace", raw(`1`), ns(f.name), storage.WithMetadata(map[string]any{"old": true}))
			noErr(t, st.SetMetadata(ctx, "replace", f.md, ns(f.name)), "SetMetadata")
			check("replace", "SetMetadata")
			mustSet(t, st, "merge", raw(`1`), ns(f.name))
			noErr(t, st.SetMetadata(ctx, "merge", f.md, ns(f.name), storage.Merge()), "SetMetadata Merge")
			check("merge", "SetMetadata Merge")
		})
	}
	t.Run("namespace", func(t *testing.T) {
		noErr(t, st.CreateNamespace(ctx, "nsraw", storage.WithNamespaceMetadata(json.RawMessage(want))), "CreateNamespace raw")
		noErr(t, st.CreateNamespace(ctx, "nsstruct", storage.WithNamespaceMetadata(mdDoc{Owner: "ada", Tags: []string{"a", "b"}})),
			"CreateNamespace struct")
		for _, name := range []string{"nsraw", "nsstruct"} {
			n, ok := findNamespace(t, st, name)
			if !ok {
				t.Fatalf("namespace %s not listed", name)
			}
			wantObject(t, n.Metadata, want, name+" metadata")
		}
		err := st.CreateNamespace(ctx, "nsbad", storage.WithNamespaceMetadata(json.RawMessage(`[1]`)))
		wantErr(t, err, storage.ErrInvalidValue, "CreateNamespace with array metadata")
		if _, ok := findNamespace(t, st, "nsbad"); ok {
			t.Errorf("namespace nsbad created with refused metadata")
		}
	})
}

// testMetadataNilForms checks that a nil map, json.RawMessage or pointer is
// no metadata, as a nil interface is: {} for SetMetadata and WithMetadata,
// the batch's (or the stored) metadata for a SetMany Item.
func testMetadataNilForms(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	for _, f := range []struct {
		name string
		md   any
	}{
		{"interface", nil},
		{"map", map[string]any(nil)},
		{"rawMessage", json.RawMessage(nil)},
		{"pointer", (*mdDoc)(nil)},
	} {
		t.Run(f.name, func(t *testing.T) {
			user := func(key string) map[string]any {
				t.Helper()
				got, err := st.GetMetadata(ctx, key, ns(f.name))
				noErr(t, err, "GetMetadata")
				return got.User
			}
			mustSet(t, st, "k", raw(`1`), ns(f.name), storage.WithMetadata(map[string]any{"kept": 1}))
			res, err := st.SetMany(ctx, []storage.Item{{Key: "k", Value: raw(`2`), Metadata: f.md}}, ns(f.name))
			noErr(t, err, "SetMany")
			noErr(t, res.Err(), "SetMany result")
			wantObject(t, user("k"), `{"kept":1}`, "SetMany with a nil Item.Metadata keeps the stored metadata")
			res, err = st.SetMany(ctx, []storage.Item{{Key: "k", Value: raw(`3`), Metadata: f.md}}, ns(f.name),
				storage.WithMetadata(map[string]any{"batch": 1}))
			noErr(t, err, "SetMany WithMetadata")
			noErr(t, res.Err(), "SetMany WithMetadata result")
			wantObject(t, user("k"), `{"batch":1}`, "SetMany with a nil Item.Metadata takes the batch's")
			noErr(t, st.SetMetadata(ctx, "k", f.md, ns(f.name)), "SetMetadata")
			wantObject(t, user("k"), `{}`, "SetMetadata(nil)")
			mustSet(t, st, "k", raw(`4`), ns(f.name), storage.WithMetadata(map[string]any{"again": 1}))
			mustSet(t, st, "k", raw(`5`), ns(f.name), storage.WithMetadata(f.md))
			wantObject(t, user("k"), `{}`, "Set WithMetadata(nil)")
		})
	}
}
