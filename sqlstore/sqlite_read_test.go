package sqlstore

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestUnpackEntry: the packed column of GetEntry and GetEntries reads back
// into every field, the metadata by its length in bytes (commas and
// multi-byte characters in it and in the value), and a malformed one is an
// error.
func TestUnpackEntry(t *testing.T) {
	md, val := `{"a":"é,ü 😀","b":[1,2]}`, `{"x":",,,","y":"日本"}`
	s := "7,-1000,1700000000000001,1700000000000002,42,3," + strconv.Itoa(len(md)) + "," + md + val
	var r row
	if err := unpackEntry(s, &r); err != nil {
		t.Fatal(err)
	}
	want := row{Value: []byte(val), Metadata: []byte(md), Version: 7, Revision: 42, CreateRevision: 3,
		CreatedAt: fromMicros(-1000), UpdatedAt: fromMicros(1700000000000001), ExpiresAt: fromMicros(1700000000000002)}
	if string(r.Value) != string(want.Value) || string(r.Metadata) != string(want.Metadata) || r.Version != want.Version ||
		r.Revision != want.Revision || r.CreateRevision != want.CreateRevision || !r.CreatedAt.Equal(want.CreatedAt) ||
		!r.UpdatedAt.Equal(want.UpdatedAt) || !r.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	if cap(r.Metadata) != len(md) {
		t.Errorf("metadata cap %d, want %d: an append to it would write over the value", cap(r.Metadata), len(md))
	}
	r = row{}
	if err := unpackEntry("1,2,3,0,5,6,2,{}null", &r); err != nil || !r.ExpiresAt.IsZero() || string(r.Value) != "null" {
		t.Errorf("no expiry: %+v %v", r, err)
	}
	for _, bad := range []string{"", "1,2,3", "1,2,3,4,5,6,x,{}1", "1,2,3,4,5,6,9,{}1", "1,2,3,4,5,6,-1,{}1", "a,2,3,4,5,6,2,{}1"} {
		if err := unpackEntry(bad, &r); !errors.Is(err, errPacked) {
			t.Errorf("unpackEntry(%q): %v, want errPacked", bad, err)
		}
	}
}

// TestSQLiteGetPacked: Get and GetMany read values and metadata with
// commas, escapes and multi-byte characters, and the expiry, as they were
// written (json() normalises spacing only).
func TestSQLiteGetPacked(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, testdb.SQLiteFile(t))
	defer s.Close()
	in := storage.InNamespace("packed")
	if err := s.CreateNamespace(ctx, "packed"); err != nil {
		t.Fatal(err)
	}
	md := json.RawMessage(`{"a":"é,ü 😀 \"q\" \\ \n","b":[1,2.5e300,-0.0]}`)
	val := json.RawMessage(`{"x":",,,","y":"日本\u0001\t","z":{"n":123456789012345678901234567890}}`)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	if err := s.Set(ctx, "k,1", val, in, storage.WithMetadata(md), storage.ExpiresAt(exp)); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "k2", json.RawMessage(`"plain"`), in); err != nil {
		t.Fatal(err)
	}
	check := func(what string, e storage.Entry, key, value, meta string, expires time.Time) {
		t.Helper()
		if e.Key != key || string(e.Value) != value || string(e.Metadata) != meta || !e.ExpiresAt.Equal(expires) ||
			e.Version != 1 || e.Revision == 0 || e.CreateRevision != e.Revision || e.CreatedAt.IsZero() || !e.UpdatedAt.Equal(e.CreatedAt) {
			t.Errorf("%s: %+v", what, e)
		}
	}
	wantVal := `{"x":",,,","y":"日本\u0001\t","z":{"n":123456789012345678901234567890}}`
	wantMD := `{"a":"é,ü 😀 \"q\" \\ \n","b":[1,2.5e300,-0.0]}`
	e, err := s.Get(ctx, "k,1", in)
	if err != nil {
		t.Fatal(err)
	}
	check("Get", e, "k,1", wantVal, wantMD, exp)
	e, err = s.Get(ctx, "k2", in)
	if err != nil {
		t.Fatal(err)
	}
	check("Get k2", e, "k2", `"plain"`, `{}`, time.Time{})
	r, err := s.GetMany(ctx, []string{"k2", "k,1", "none"}, in)
	if err != nil || len(r.Entries) != 2 {
		t.Fatalf("GetMany: %+v %v", r, err)
	}
	check("GetMany", r.Entries["k,1"], "k,1", wantVal, wantMD, exp)
	check("GetMany k2", r.Entries["k2"], "k2", `"plain"`, `{}`, time.Time{})
}

