package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestEditOfAnEarlierLife: an entry that expired (or was deleted) and was
// created again starts again at version 1, so a form loaded from its
// earlier life carries the version the new one has. Saving or deleting
// with that form must not touch the new entry: the form's compare-and-swap
// is on the revision, which a key never has twice. Before, the save
// (IfVersion(1)) overwrote the new entry, and the delete deleted it.
func TestEditOfAnEarlierLife(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	ctx := t.Context()
	in := storage.InNamespace("life")
	var old storage.WriteResult
	if err := e.inner.Set(ctx, "k", "first life", in, storage.Written(&old)); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(adminToken)
	rev := fmt.Sprint(old.Revision)
	b.get("/console/entry"+q("ns", "life", "key", "k")).want(t, http.StatusOK, `name="version" value="1"`, `name="revision" value="`+rev+`"`)
	b.get("/console/entry/delete"+q("ns", "life", "key", "k")).want(t, http.StatusOK, `name="revision" value="`+rev+`"`)
	// The first life ends (a delete here: an expiry ends it the same way,
	// and a TTL short enough for a test expired, under load, before the
	// forms above were loaded).
	if err := e.inner.Delete(ctx, "k", in); err != nil {
		t.Fatal(err)
	}
	var now storage.WriteResult
	if err := e.inner.Set(ctx, "k", "second life", in, storage.Written(&now)); err != nil || now.Version != 1 {
		t.Fatalf("re-create: %v, version %d", err, now.Version)
	}
	b.post("/console/entry/save", url.Values{"ns": {"life"}, "key": {"k"}, "version": {"1"}, "revision": {rev},
		"value": {`"mine"`}, "metadata": {"{}"}, "expiry": {"keep"}}).want(t, http.StatusConflict,
		"Save mine over version 1", fmt.Sprintf(`name="revision" value="%d"`, now.Revision))
	b.post("/console/entry/delete", url.Values{"ns": {"life"}, "key": {"k"}, "version": {"1"}, "revision": {rev}}).want(t, http.StatusConflict, "changed after you confirmed")
	if got, err := e.inner.Get(ctx, "k", in); err != nil || string(got.Value) != `"second life"` {
		t.Fatalf("the new entry after the old form's save and delete: %s, %v", got.Value, err)
	}
	// The form of the conflict page (the new life's revision) saves.
	b.post("/console/entry/save", url.Values{"ns": {"life"}, "key": {"k"}, "version": {"1"}, "revision": {fmt.Sprint(now.Revision)},
		"value": {`"mine"`}, "metadata": {"{}"}, "expiry": {"keep"}}).want(t, http.StatusSeeOther)
}
