package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// sentinels are the contract's error values. Every error a store returns
// wraps at most one of them.
var sentinels = storage.Sentinels()

// internalText is driver and database text that must never reach a
// caller: it says nothing the sentinel does not, and can reveal where the
// database lives.
var internalText = []string{"sql: no rows", "SQLSTATE", "failed to connect"}

// wantErr fails t unless err satisfies errors.Is(err, target), its message
// starts with "storage: ", and it wraps no contract sentinel other than
// target.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %v", what, target)
		return
	}
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %q, want one that satisfies errors.Is(err, %v)", what, err, target)
		return
	}
	checkErrShape(t, err, what)
}

// checkErrShape fails t if err's message does not start with "storage: ",
// carries internalText, or if err wraps more than one contract sentinel.
func checkErrShape(t *testing.T, err error, what string) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), "storage: ") {
		t.Errorf("%s: error %q does not start with %q", what, err, "storage: ")
	}
	for _, leak := range internalText {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("%s: error %q carries the database's internal text %q", what, err, leak)
		}
	}
	var wrapped []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			wrapped = append(wrapped, s)
		}
	}
	if len(wrapped) > 1 {
		t.Errorf("%s: error %q wraps %d contract sentinels %v, want at most one", what, err, len(wrapped), wrapped)
	}
}

// noErr fails t now if err is not nil.
func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// ns returns the InNamespace option for name.
func ns(name string) storage.Option { return storage.InNamespace(name) }

// raw is shorthand for json.RawMessage.
type raw = json.RawMessage

func mustSet(t *testing.T, st storage.Store, key string, value any, opts ...storage.Option) {
	t.Helper()
	if err := st.Set(t.Context(), key, value, opts...); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, st storage.Store, key string, opts ...storage.Option) storage.Entry {
	t.Helper()
	e, err := st.Get(t.Context(), key, opts...)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return e
}

// wantEntry fails t unless key holds a value meaning want (JSON text) at
// version v (v = 0: any version).
func wantEntry(t *testing.T, st storage.Store, key, want string, v int64, opts ...storage.Option) storage.Entry {
	t.Helper()
	e := mustGet(t, st, key, opts...)
	if !JSONEqual(e.Value, []byte(want)) {
		t.Errorf("Get(%q).Value = %s, want %s", key, e.Value, want)
	}
	if v != 0 && e.Version != v {
		t.Errorf("Get(%q).Version = %d, want %d", key, e.Version, v)
	}
	return e
}

// wantMissing fails t unless Get reports ErrNotFound and Has false for key.
func wantMissing(t *testing.T, st storage.Store, key string, opts ...storage.Option) {
	t.Helper()
	e, err := st.Get(t.Context(), key, opts...)
	if err == nil {
		t.Errorf("Get(%q) = %s (version %d), want ErrNotFound", key, e.Value, e.Version)
	} else {
		wantErr(t, err, storage.ErrNotFound, "Get("+quote(key)+")")
	}
	ok, err := st.Has(t.Context(), key, opts...)
	if err != nil {
		t.Errorf("Has(%q): %v", key, err)
	} else if ok {
		t.Errorf("Has(%q) = true, want false", key)
	}
}

func mustStatus(t *testing.T, st storage.Store) storage.Status {
	t.Helper()
	s, err := st.Status(t.Context())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return s
}

// wantSize fails t unless Status().Size is n.
func wantSize(t *testing.T, st storage.Store, n int64) {
	t.Helper()
	if got := mustStatus(t, st).Size; got != n {
		t.Errorf("Status().Size = %d, want %d", got, n)
	}
}

func mustNamespaces(t *testing.T, st storage.Store) []storage.Namespace {
	t.Helper()
	list, err := st.ListNamespaces(t.Context())
	if err != nil {
		t.Fatalf("ListNamespaces: %v", err)
	}
	return list
}

// namespaceNames returns the names ListNamespaces reports, in its order.
func namespaceNames(t *testing.T, st storage.Store) []string {
	t.Helper()
	var names []string
	for _, n := range mustNamespaces(t, st) {
		names = append(names, n.Name)
	}
	return names
}

// findNamespace returns the namespace called name, if listed.
func findNamespace(t *testing.T, st storage.Store, name string) (storage.Namespace, bool) {
	t.Helper()
	for _, n := range mustNamespaces(t, st) {
		if n.Name == name {
			return n, true
		}
	}
	return storage.Namespace{}, false
}

// state is what "nothing was written" compares: the entry count and the
// namespace list.
type state struct {
	size  int64
	names []string
}

func snapshot(t *testing.T, st storage.Store) state {
	t.Helper()
	return state{size: mustStatus(t, st).Size, names: namespaceNames(t, st)}
}

// unchanged fails t unless st is still in state before.
func unchanged(t *testing.T, st storage.Store, before state, what string) {
	t.Helper()
	now := snapshot(t, st)
	if now.size != before.size {
		t.Errorf("%s wrote: Status().Size went from %d to %d", what, before.size, now.size)
	}
	if !slices.Equal(now.names, before.names) {
		t.Errorf("%s wrote: namespaces went from %q to %q", what, before.names, now.names)
	}
}

// mustJSON marshals v, which must be marshalable.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%#v): %v", v, err)
	}
	return b
}

// obj decodes a JSON object, for building metadata from text.
func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

// wantObject fails t unless the map m means the JSON object want. A nil map
// counts as {}.
func wantObject(t *testing.T, m map[string]any, want, what string) {
	t.Helper()
	got := []byte("{}")
	if m != nil {
		got = mustJSON(t, m)
	}
	if !JSONEqual(got, []byte(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// wantTime fails t unless tm is set and within an hour of the wall clock,
// which catches wrong units and time zones.
func wantTime(t *testing.T, tm time.Time, what string) {
	t.Helper()
	if tm.IsZero() {
		t.Errorf("%s is zero", what)
		return
	}
	if d := time.Since(tm); d > time.Hour || d < -time.Hour {
		t.Errorf("%s = %v, more than an hour from now (%v)", what, tm, time.Now())
	}
}

// wantEntryFields checks the system fields of e as returned for key in
// namespace nsName.
func wantEntryFields(t *testing.T, e storage.Entry, nsName, key string) {
	t.Helper()
	if e.Namespace != nsName {
		t.Errorf("Entry.Namespace = %q, want %q", e.Namespace, nsName)
	}
	if e.Key != key {
		t.Errorf("Entry.Key = %q, want %q", e.Key, key)
	}
	if e.Version < 1 {
		t.Errorf("Entry.Version = %d, want >= 1", e.Version)
	}
	wantTime(t, e.CreatedAt, "Entry.CreatedAt")
	wantTime(t, e.UpdatedAt, "Entry.UpdatedAt")
	if e.UpdatedAt.Before(e.CreatedAt) {
		t.Errorf("Entry.UpdatedAt %v is before CreatedAt %v", e.UpdatedAt, e.CreatedAt)
	}
	if !isJSONObject(e.Metadata) {
		t.Errorf("Entry.Metadata = %s, want a JSON object", e.Metadata)
	}
}

// isJSONObject reports whether b is a JSON object.
func isJSONObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}

// checkBatch fails t unless res has one result per key of keys, in that
// order, and OK, Err and Failed agree with the per-key errors.
func checkBatch(t *testing.T, res storage.BatchResult, keys []string, what string) {
	t.Helper()
	var got []string
	for _, kr := range res.Results {
		got = append(got, kr.Key)
	}
	if !slices.Equal(got, keys) {
		t.Errorf("%s: result keys = %q, want %q", what, got, keys)
	}
	var failed []storage.KeyResult
	for _, kr := range res.Results {
		if kr.Err != nil {
			failed = append(failed, kr)
			checkErrShape(t, kr.Err, what+" key "+quote(kr.Key))
		}
	}
	if res.OK() != (len(failed) == 0) {
		t.Errorf("%s: OK() = %v with %d failed keys", what, res.OK(), len(failed))
	}
	if (res.Err() == nil) != (len(failed) == 0) {
		t.Errorf("%s: Err() = %v with %d failed keys", what, res.Err(), len(failed))
	}
	if f := res.Failed(); len(f) != len(failed) {
		t.Errorf("%s: Failed() has %d results, want %d", what, len(f), len(failed))
	}
	for _, kr := range failed {
		if !errors.Is(res.Err(), kr.Err) {
			t.Errorf("%s: Err() does not wrap the error of key %q", what, kr.Key)
		}
	}
}

// resultOf returns the result for key in res.
func resultOf(t *testing.T, res storage.BatchResult, key string) storage.KeyResult {
	t.Helper()
	for _, kr := range res.Results {
		if kr.Key == key {
			return kr
		}
	}
	t.Fatalf("no result for key %q in %d results", key, len(res.Results))
	return storage.KeyResult{}
}

// batchCallErr fails t unless a batch call's own error is nil or wraps one
// of allowed: per-key failures belong in the results, though a backend may
// also report them for the whole call.
func batchCallErr(t *testing.T, err error, what string, allowed ...error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			checkErrShape(t, err, what)
			return
		}
	}
	t.Fatalf("%s: unexpected error: %v", what, err)
}

// quote quotes s for a message, shortened to about 40 bytes.
func quote(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:37]) + "..."
	}
	return strconv.Quote(s)
}

// cancelled returns a context that is already cancelled.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
