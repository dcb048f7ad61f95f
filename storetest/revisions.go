package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// The Revisions group: store-wide revisions, IfRevision, MustExist and
// Written (issue 17). It runs where a harness declares Supports.Revisions.
var revisionTests = []test{
	{"Monotonic", testRevisionsMonotonic},
	{"ABA", testRevisionsABA},
	{"WrittenChain", testRevisionsWrittenChain},
	{"MustExist", testRevisionsMustExist},
	{"Batch", testRevisionsBatch},
	{"BatchConditions", testRevisionsBatchConditions},
	{"InvalidOptions", testRevisionsInvalidOptions},
	{"Reads", testRevisionsReads},
}

// needRevisions skips t unless the harness declares Supports.Revisions.
func (s *suite) needRevisions(t *testing.T) {
	t.Helper()
	if !s.h.Supports.Revisions {
		t.Skipf("%s does not declare Supports.Revisions", s.name())
	}
}

// testRevisionsMonotonic: every write gets a revision above every earlier
// one, which the entry then carries; CreateRevision stays across
// overwrites and metadata changes; Status reports a revision no lower.
func testRevisionsMonotonic(t *testing.T, s *suite) {
	s.needRevisions(t)
	st := s.newStore(t)
	ctx := t.Context()
	var last int64
	step := func(what string, w storage.WriteResult) {
		t.Helper()
		if w.Revision <= last {
			t.Fatalf("%s: revision %d, not above the previous %d", what, w.Revision, last)
		}
		last = w.Revision
	}
	var w, created storage.WriteResult
	noErr(t, st.Set(ctx, "a", 1, storage.Written(&created)), "Set a")
	step("Set a", created)
	if created.Version != 1 || created.CreateRevision != created.Revision {
		t.Errorf("Set a: %+v, want version 1 created at its revision", created)
	}
	noErr(t, st.Set(ctx, "b", 1, storage.Written(&w)), "Set b")
	step("Set b", w)
	noErr(t, st.Set(ctx, "a", 2, storage.Written(&w)), "Set a again")
	step("Set a again", w)
	if w.Version != 2 || w.CreateRevision != created.Revision {
		t.Errorf("Set a again: %+v, want version 2 created at %d", w, created.Revision)
	}
	e := mustGet(t, st, "a")
	if e.Revision != w.Revision || e.CreateRevision != created.Revision {
		t.Errorf("Get a: revision %d created %d, want %d created %d", e.Revision, e.CreateRevision, w.Revision, created.Revision)
	}
	noErr(t, st.SetMetadata(ctx, "a", map[string]any{"m": 1}, storage.Written(&w)), "SetMetadata a")
	step("SetMetadata a", w)
	md, err := st.GetMetadata(ctx, "a")
	noErr(t, err, "GetMetadata a")
	if md.Revision != w.Revision || md.CreateRevision != created.Revision || md.Version != 3 {
		t.Errorf("GetMetadata a: %+v, want revision %d created %d version 3", md, w.Revision, created.Revision)
	}
	noErr(t, st.Delete(ctx, "b", storage.Written(&w)), "Delete b")
	step("Delete b", w)
	if w.Version != 1 {
		t.Errorf("Delete b: version %d, want the deleted entry's 1", w.Version)
	}
	noErr(t, st.Set(ctx, "x", 1, ns("other"), storage.Written(&w)), "Set in another namespace")
	step("Set in another namespace", w)
	if got := mustStatus(t, st).Revision; got != 0 && got < last {
		t.Errorf("Status().Revision = %d, below the last write's %d", got, last)
	}
}

// testRevisionsABA is the case: a key is written, deleted, and
// written again by another writer; a stale IfRevision from the first write
// fails with ErrConflict and writes nothing, on Set, SetMetadata and Delete.
func testRevisionsABA(t *testing.T, s *suite) {
	s.needRevisions(t)
	st := s.newStore(t)
	ctx := t.Context()
	var first storage.WriteResult
	noErr(t, st.Set(ctx, "k", 1, storage.Written(&first)), "Set 1")
	noErr(t, st.Delete(ctx, "k"), "Delete")
	var other storage.WriteResult
	noErr(t, st.Set(ctx, "k", 2, storage.Written(&other)), "Set 2 by another writer")
	if other.Revision == first.Revision {
		t.Fatalf("the re-created key got its old revision %d back", first.Revision)
	}
	wantErr(t, st.Set(ctx, "k", 3, storage.IfRevision(first.Revision)), storage.ErrConflict, "stale Set IfRevision")
	wantErr(t, st.SetMetadata(ctx, "k", map[string]any{}, storage.IfRevision(first.Revision)), storage.ErrConflict, "stale SetMetadata IfRevision")
	wantErr(t, st.Delete(ctx, "k", storage.IfRevision(first.Revision)), storage.ErrConflict, "stale Delete IfRevision")
	e := wantEntry(t, st, "k", `2`, 1)
	if e.Revision != other.Revision {
		t.Errorf("revision %d, want the other writer's %d", e.Revision, other.Revision)
	}
	// The current revision works.
	noErr(t, st.Set(ctx, "k", 4, storage.IfRevision(other.Revision)), "Set IfRevision current")
	wantEntry(t, st, "k", `4`, 2)
	// A missing key: Set's conflict, Delete's not found.
	wantErr(t, st.Set(ctx, "nope", 1, storage.IfRevision(other.Revision)), storage.ErrConflict, "Set IfRevision missing")
	wantErr(t, st.Delete(ctx, "nope", storage.IfRevision(other.Revision)), storage.ErrNotFound, "Delete IfRevision missing")
	wantMissing(t, st, "nope")
}

// testRevisionsWrittenChain chains compare-and-swap writes with what each
// write reports, without reading.
func testRevisionsWrittenChain(t *testing.T, s *suite) {
	s.needRevisions(t)
	st := s.newStore(t)
	ctx := t.Context()
	var w storage.WriteResult
	noErr(t, st.Set(ctx, "k", 0, storage.Written(&w)), "Set 0")
	for i := 1; i <= 3; i++ {
		prev := w
		noErr(t, st.Set(ctx, "k", i, storage.IfRevision(prev.Revision), storage.Written(&w)), fmt.Sprintf("Set %d", i))
		if w.Revision <= prev.Revision || w.Version != prev.Version+1 {
			t.Fatalf("Set %d: %+v after %+v", i, w, prev)
		}
		wantErr(t, st.Set(ctx, "k", -1, storage.IfRevision(prev.Revision)), storage.ErrConflict, fmt.Sprintf("replay of Set %d", i))
	}
	noErr(t, st.SetMetadata(ctx, "k", map[string]any{"a": 1}, storage.Merge(), storage.IfRevision(w.Revision), storage.Written(&w)), "SetMetadata merge")
	noErr(t, st.Set(ctx, "k", 4, storage.IfRevision(w.Revision), storage.IfVersion(w.Version), storage.Written(&w)), "Set with both tokens")
	e := wantEntry(t, st, "k", `4`, 6)
	if e.Revision != w.Revision {
		t.Errorf("entry revision %d, want the reported %d", e.Revision, w.Revision)
	}
	var d storage.WriteResult
	noErr(t, st.Delete(ctx, "k", storage.IfRevision(w.Revision), storage.Written(&d)), "Delete")
	if d.Revision <= w.Revision || d.Version != 6 {
		t.Errorf("Delete reported %+v after %+v", d, w)
	}
	wantMissing(t, st, "k")
	// A failed write leaves the result alone.
	before := d
	wantErr(t, st.Delete(ctx, "k", storage.Written(&d)), storage.ErrNotFound, "Delete missing")
	if d != before {
		t.Errorf("a failed Delete changed the result: %+v", d)
	}
}

// testRevisionsMustExist: a replace-only write of a missing key is
// ErrNotFound and writes nothing; of an existing one, an overwrite.
func testRevisionsMustExist(t *testing.T, s *suite) {
	s.needRevisions(t)
	st := s.newStore(t)
	ctx := t.Context()
	wantErr(t, st.Set(ctx, "k", 1, storage.MustExist()), storage.ErrNotFound, "Set MustExist missing")
	wantMissing(t, st, "k")
	wantErr(t, st.Set(ctx, "k", 1, storage.MustExist(), ns("fresh")), storage.ErrNotFound, "Set MustExist in a missing namespace")
	mustSet(t, st, "k", 1, storage.WithMetadata(map[string]any{"keep": true}))
	var w storage.WriteResult
	noErr(t, st.Set(ctx, "k", 2, storage.MustExist(), storage.Written(&w)), "Set MustExist existing")
	e := wantEntry(t, st, "k", `2`, 2)
	if !JSONEqual(e.Metadata, []byte(`{"keep":true}`)) {
		t.Errorf("metadata %s, want it kept", e.Metadata)
	}
	if e.Revision != w.Revision {
		t.Errorf("revision %d, want %d", e.Revision, w.Revision)
	}
	noErr(t, st.Delete(ctx, "k"), "Delete")
	wantErr(t, st.Set(ctx, "k", 3, storage.MustExist()), storage.ErrNotFound, "Set MustExist after delete")
	wantMissing(t, st, "k")
	wantSize(t, st, 0)
}

// testRevisionsBatch: SetMany and DeleteMany report each key's revision;
// the keys of one batch get consecutive revisions, and the entries carry
// them.
func testRevisionsBatch(t *testing.T, s *suite) {
	s.needRevisions(t)
	st := s.newStore(t)
	ctx := t.Context()
	var before storage.WriteResult
	noErr(t, st.Set(ctx, "z", 0, storage.Written(&before)), "Set z")
	items := []storage.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "c", Value: 3}}
	res, err := st.SetMany(ctx, items)
	noErr(t, err, "SetMany")
	noErr(t, res.Err(), "SetMany results")
	var revs []int64
	for _, it := range items {
		kr := resultOf(t, res, it.Key)
		if kr.Revision <= before.Revision {
			t.Errorf("SetMany %s: revision %d, not above %d", it.Key, kr.Revision, before.Revision)
		}
		if e := mustGet(t, st, it.Key); e.Revision != kr.Revision || e.CreateRevision != kr.Revision {
			t.Errorf("Get %s: revision %d created %d, want %d", it.Key, e.Revision, e.CreateRevision, kr.Revision)
		}
		revs = append(revs, kr.Revision)
	}
	wantConsecutive(t, "SetMany", revs)
	dres, err := st.DeleteMany(ctx, []string{"a", "c", "missing"})
	noErr(t, err, "DeleteMany")
	var drevs []int64
	for _, k := range []string{"a", "c"} {
		kr := resultOf(t, dres, k)
		if kr.Err != nil || kr.Revision <= slices.Max(revs) {
			t.Errorf("DeleteMany %s: %+v, want a revision above %d", k, kr, slices.Max(revs))
		}
		drevs = append(drevs, kr.Revision)
	}
	wantConsecutive(t, "DeleteMany", drevs)
	if kr := resultOf(t, dres, "missing"); kr.Revision != 0 {
		t.Errorf("DeleteMany missing: revision %d, want 0", kr.Revision)
	}
}

// wantConsecutive fails t unless revs are distinct and consecutive.
func wantConsecutive(t *testing.T, what string, revs []int64) {
	t.Helper()
	s := slices.Clone(revs)
	slices.Sort(s)
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1]+1 {
			t.Errorf("%s: revisions %v are not consecutive", what, revs)
			return
		}
	}
}

// testRevisionsInvalidOptions: revisions start at 1, and the options that
// exclude each other are refused.
func testRevisionsInvalidOptions(t *testing.T, s *suite) {
	s.needRevisions(t)
	st := s.newStore(t)
	ctx := t.Context()
	wantErr(t, st.Set(ctx, "k", 1, storage.IfRevision(0)), storage.ErrInvalidOption, "IfRevision(0)")
	wantErr(t, st.Set(ctx, "k", 1, storage.IfRevision(-1)), storage.ErrInvalidOption, "IfRevision(-1)")
	wantErr(t, st.Set(ctx, "k", 1, storage.NoOverwrite(), storage.IfRevision(1)), storage.ErrInvalidOption, "NoOverwrite with IfRevision")
	wantErr(t, st.Set(ctx, "k", 1, storage.NoOverwrite(), storage.MustExist()), storage.ErrInvalidOption, "NoOverwrite with MustExist")
	wantErr(t, st.Set(ctx, "k", 1, storage.Written(nil)), storage.ErrInvalidOption, "Written(nil)")
	wantErr(t, st.Delete(ctx, "k", storage.MustExist()), storage.ErrInvalidOption, "Delete MustExist")
	_, err := st.Get(ctx, "k", storage.IfRevision(1))
	wantErr(t, err, storage.ErrInvalidOption, "Get IfRevision")
	wantMissing(t, st, "k")
}

// testRevisionsBatchConditions: SetMany with MustExist writes only the keys
// that exist (ErrNotFound for the others), and an item's IfRevision makes it
// a compare-and-swap; with Atomic, one failure writes nothing.
func testRevisionsBatchConditions(t *testing.T, s *suite) {
	s.needRevisions(t)
	st := s.newStore(t)
	ctx := t.Context()
	var a, b storage.WriteResult
	noErr(t, st.Set(ctx, "a", 1, storage.Written(&a)), "Set a")
	noErr(t, st.Set(ctx, "b", 1, storage.Written(&b)), "Set b")
	res, err := st.SetMany(ctx, []storage.Item{{Key: "a", Value: 2}, {Key: "missing", Value: 2}}, storage.MustExist())
	noErr(t, err, "SetMany MustExist")
	if kr := resultOf(t, res, "a"); kr.Err != nil || kr.Revision <= b.Revision || kr.Version != 2 {
		t.Errorf("SetMany MustExist a: %+v", kr)
	}
	wantErr(t, resultOf(t, res, "missing").Err, storage.ErrNotFound, "SetMany MustExist missing")
	wantMissing(t, st, "missing")
	a = storage.WriteResult{Revision: resultOf(t, res, "a").Revision}

	// Item.IfRevision: the current revision passes, a stale one conflicts.
	res, err = st.SetMany(ctx, []storage.Item{
		{Key: "a", Value: 3, IfRevision: a.Revision},
		{Key: "b", Value: 3, IfRevision: b.Revision - 1},
		{Key: "c", Value: 3, IfRevision: a.Revision},
		{Key: "d", Value: 3},
	})
	noErr(t, err, "SetMany IfRevision")
	if kr := resultOf(t, res, "a"); kr.Err != nil {
		t.Errorf("SetMany IfRevision current: %v", kr.Err)
	}
	wantErr(t, resultOf(t, res, "b").Err, storage.ErrConflict, "SetMany IfRevision stale")
	wantErr(t, resultOf(t, res, "c").Err, storage.ErrConflict, "SetMany IfRevision missing")
	if kr := resultOf(t, res, "d"); kr.Err != nil {
		t.Errorf("SetMany unconditional item: %v", kr.Err)
	}
	wantEntry(t, st, "a", `3`, 3)
	wantEntry(t, st, "b", `1`, 1)
	wantMissing(t, st, "c")

	// Atomic: the stale item aborts the batch.
	cur := resultOf(t, res, "a").Revision
	res, err = st.SetMany(ctx, []storage.Item{{Key: "a", Value: 4, IfRevision: cur}, {Key: "b", Value: 4, IfRevision: cur}}, storage.Atomic())
	noErr(t, err, "SetMany Atomic IfRevision")
	wantErr(t, resultOf(t, res, "a").Err, storage.ErrAborted, "SetMany Atomic: the valid item")
	wantErr(t, resultOf(t, res, "b").Err, storage.ErrConflict, "SetMany Atomic: the stale item")
	wantEntry(t, st, "a", `3`, 3)
	res, err = st.SetMany(ctx, []storage.Item{{Key: "a", Value: 5}, {Key: "missing", Value: 5}}, storage.MustExist(), storage.Atomic())
	noErr(t, err, "SetMany Atomic MustExist")
	wantErr(t, resultOf(t, res, "missing").Err, storage.ErrNotFound, "SetMany Atomic MustExist: missing")
	wantErr(t, resultOf(t, res, "a").Err, storage.ErrAborted, "SetMany Atomic MustExist: existing")
	wantEntry(t, st, "a", `3`, 3)

	_, err = st.SetMany(ctx, []storage.Item{{Key: "a", Value: 1}}, storage.MustExist(), storage.NoOverwrite())
	wantErr(t, err, storage.ErrInvalidOption, "SetMany MustExist with NoOverwrite")
	res, err = st.SetMany(ctx, []storage.Item{{Key: "a", Value: 1, IfRevision: -1}})
	if err == nil {
		err = resultOf(t, res, "a").Err
	}
	wantErr(t, err, storage.ErrInvalidOption, "Item.IfRevision(-1)")
}

// testRevisionsReads: every read that returns entries (Get, GetMany, Query
// in key order and sorted, in a transaction too) carries their Revision
// and CreateRevision, so a compare-and-swap can follow any read.
func testRevisionsReads(t *testing.T, s *suite) {
	s.needRevisions(t)
	st := s.newStore(t)
	ctx := t.Context()
	want := map[string]storage.WriteResult{}
	for _, k := range []string{"a", "b"} {
		var created, w storage.WriteResult
		noErr(t, st.Set(ctx, k, map[string]any{"n": 1}, storage.Written(&created)), "Set "+k)
		noErr(t, st.Set(ctx, k, map[string]any{"n": 2}, storage.Written(&w)), "Set "+k+" again")
		w.CreateRevision = created.Revision
		want[k] = w
	}
	check := func(what string, e storage.Entry) {
		t.Helper()
		if w := want[e.Key]; e.Revision != w.Revision || e.CreateRevision != w.CreateRevision {
			t.Errorf("%s %s: revision %d created %d, want %d created %d", what, e.Key, e.Revision, e.CreateRevision, w.Revision, w.CreateRevision)
		}
	}
	check("Get", mustGet(t, st, "a"))
	gm, err := st.GetMany(ctx, []string{"a", "b"})
	noErr(t, err, "GetMany")
	for _, e := range gm.Entries {
		check("GetMany", e)
	}
	for _, q := range []struct {
		what string
		f    storage.Filter
		opts []storage.Option
	}{
		{"Query", storage.All(), nil},
		{"Query filtered and sorted", storage.Gte("n", 2), []storage.Option{storage.SortBy(storage.Desc("n"))}},
	} {
		res, err := st.Query(ctx, q.f, q.opts...)
		noErr(t, err, q.what)
		if len(res.Entries) != 2 {
			t.Fatalf("%s: %d entries, want 2", q.what, len(res.Entries))
		}
		for _, e := range res.Entries {
			check(q.what, e)
		}
	}
}
