package storetest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

var expiryTests = []test{
	{"Reported", testExpiryReported},
	{"InstantEveryRead", testExpiryInstantEveryRead},
	{"IndexedReads", testExpiryIndexedReads},
	{"Writes", testExpiryWrites},
	{"OverwriteClears", testExpiryOverwriteClears},
	{"KeepTTL", testExpiryKeepTTL},
	{"SetMetadataKeeps", testExpirySetMetadataKeeps},
	{"CreateOnlyOnExpired", testExpiryCreateOnlyOnExpired},
	{"OverwriteExpiredIsNew", testExpiryOverwriteExpiredIsNew},
	{"IfVersionOnExpired", testExpiryIfVersionOnExpired},
	{"SetManyMixed", testExpirySetManyMixed},
	{"BadInput", testExpiryBadInput},
	{"Capacity", testExpiryCapacity},
	{"DeleteNamespace", testExpiryDeleteNamespace},
}

// Clock is a manual clock for Config.Clock: it stands still until Advance
// or Set moves it. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex // protects t
	t  time.Time
}

// NewClock returns a clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// openClock opens a store (with cfg, Clock set) on a manual clock that
// starts at the wall clock's current second.
func (s *suite) openClock(t *testing.T, cfg Config) (storage.Store, *Clock) {
	t.Helper()
	s.needExpiry(t)
	c := NewClock(time.Now().UTC().Truncate(time.Second))
	cfg.Clock = c.Now
	return s.open(t, cfg).Store, c
}

// wantExpiry fails t unless got is want (the zero time: none).
func wantExpiry(t *testing.T, got, want time.Time, what string) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s.ExpiresAt = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s.ExpiresAt = %v, want UTC", what, got)
	}
}

func testExpiryReported(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	t0 := c.Now()
	mustSet(t, st, "ttl", raw(`1`), storage.WithTTL(90*time.Second))
	at := t0.Add(time.Hour + 1500*time.Microsecond)
	mustSet(t, st, "at", raw(`2`), storage.ExpiresAt(at.In(time.FixedZone("x", 3600))))
	mustSet(t, st, "none", raw(`3`))
	mustSet(t, st, "frac", raw(`4`), storage.WithTTL(1500*time.Millisecond))

	for _, tc := range []struct {
		key  string
		want time.Time
	}{{"ttl", t0.Add(90 * time.Second)}, {"at", at}, {"none", time.Time{}}, {"frac", t0.Add(1500 * time.Millisecond)}} {
		wantExpiry(t, mustGet(t, st, tc.key).ExpiresAt, tc.want, "Get("+tc.key+")")
		md, err := st.GetMetadata(ctx, tc.key)
		noErr(t, err, "GetMetadata")
		wantExpiry(t, md.ExpiresAt, tc.want, "GetMetadata("+tc.key+")")
		gm, err := st.GetMany(ctx, []string{tc.key})
		noErr(t, err, "GetMany")
		wantExpiry(t, gm.Entries[tc.key].ExpiresAt, tc.want, "GetMany("+tc.key+")")
		q, err := st.Query(ctx, storage.Filter{}, storage.Limit(10))
		noErr(t, err, "Query")
		for _, e := range q.Entries {
			if e.Key == tc.key {
				wantExpiry(t, e.ExpiresAt, tc.want, "Query("+tc.key+")")
			}
		}
	}
}

// testExpiryInstantEveryRead checks every read one microsecond before the
// expiry and at the very instant of it.
func testExpiryInstantEveryRead(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	t0 := c.Now()
	o := ns("exp")
	mustSet(t, st, "a", raw(`{"n":1}`), o, storage.WithTTL(10*time.Second))
	mustSet(t, st, "b", raw(`{"n":2}`), o)
	mustSet(t, st, "c", raw(`{"n":3}`), o, storage.ExpiresAt(t0.Add(20*time.Second)))
	mustSet(t, st, "z", raw(`1`), storage.WithTTL(10*time.Second)) // default namespace

	check := func(live []string, what string) {
		t.Helper()
		all := []string{"a", "b", "c"}
		for _, k := range all {
			if slices.Contains(live, k) {
				mustGet(t, st, k, o)
				if ok, err := st.Has(ctx, k, o); err != nil || !ok {
					t.Errorf("%s: Has(%q) = %v, %v; want true", what, k, ok, err)
				}
				if _, err := st.GetMetadata(ctx, k, o); err != nil {
					t.Errorf("%s: GetMetadata(%q): %v", what, k, err)
				}
			} else {
				wantMissing(t, st, k, o)
				_, err := st.GetMetadata(ctx, k, o)
				wantErr(t, err, storage.ErrNotFound, what+": GetMetadata of an expired key")
			}
		}
		gm, err := st.GetMany(ctx, all, o)
		noErr(t, err, what+": GetMany")
		var got []string
		for k := range gm.Entries {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, live) {
			t.Errorf("%s: GetMany found %q, want %q", what, got, live)
		}
		for _, k := range all {
			if !slices.Contains(live, k) {
				wantErr(t, gm.Errors[k], storage.ErrNotFound, what+": GetMany error of "+k)
			}
		}
		l, err := st.List(ctx, o)
		noErr(t, err, what+": List")
		if !slices.Equal(l.Keys, live) {
			t.Errorf("%s: List = %q, want %q", what, l.Keys, live)
		}
		l, err = st.List(ctx, o, storage.Pattern("?"), storage.Limit(1))
		noErr(t, err, what+": List page")
		if !slices.Equal(l.Keys, live[:min(1, len(live))]) {
			t.Errorf("%s: List(Limit 1) = %q, want the first of %q", what, l.Keys, live)
		}
		q, err := st.Query(ctx, storage.Gte("n", 1), o)
		noErr(t, err, what+": Query")
		var qk []string
		for _, e := range q.Entries {
			qk = append(qk, e.Key)
		}
		if !slices.Equal(qk, live) {
			t.Errorf("%s: Query = %q, want %q", what, qk, live)
		}
		q, err = st.Query(ctx, storage.Filter{}, o, storage.SortBy(storage.Desc("n")))
		noErr(t, err, what+": Query sorted")
		if len(q.Entries) != len(live) {
			t.Errorf("%s: sorted Query found %d entries, want %d", what, len(q.Entries), len(live))
		}
		n, err := st.Count(ctx, o)
		noErr(t, err, what+": Count")
		if n != int64(len(live)) {
			t.Errorf("%s: Count = %d, want %d", what, n, len(live))
		}
		n, err = st.Count(ctx, o, storage.Where(storage.Gte("n", 1)))
		noErr(t, err, what+": Count(Where)")
		if n != int64(len(live)) {
			t.Errorf("%s: Count(Where) = %d, want %d", what, n, len(live))
		}
	}

	c.Set(t0.Add(10*time.Second - time.Microsecond))
	check([]string{"a", "b", "c"}, "1µs before the expiry")
	wantSize(t, st, 4)

	c.Set(t0.Add(10 * time.Second))
	check([]string{"b", "c"}, "at the instant of expiry")
	wantMissing(t, st, "z")
	wantSize(t, st, 2)
	wantErr(t, st.Delete(ctx, "a", o), storage.ErrNotFound, "Delete of an expired key")
	wantErr(t, st.SetMetadata(ctx, "a", map[string]any{"x": 1}, o), storage.ErrNotFound, "SetMetadata of an expired key")
	res, err := st.DeleteMany(ctx, []string{"a", "b"}, o)
	batchCallErr(t, err, "DeleteMany")
	wantErr(t, resultOf(t, res, "a").Err, storage.ErrNotFound, "DeleteMany of an expired key")
	noErr(t, resultOf(t, res, "b").Err, "DeleteMany of a live key")

	c.Set(t0.Add(time.Hour))
	check([]string{}, "after every expiry")
	wantSize(t, st, 0)
	if _, ok := findNamespace(t, st, "exp"); !ok {
		t.Errorf("the namespace of expired entries is gone")
	}
}

// testExpiryIndexedReads checks Count and Query through a declared index
// (which a store may answer from the index alone) at each instant of
// expiry, after every kind of write that sets, keeps or clears an expiry
// without changing the indexed value.
func testExpiryIndexedReads(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	t0 := c.Now()
	o := ns("ixexp")
	noErr(t, st.CreateNamespace(ctx, "ixexp", storage.WithIndexes("n")), "CreateNamespace WithIndexes")
	at := func(d time.Duration) storage.Option { return storage.ExpiresAt(t0.Add(d)) }
	mustSet(t, st, "a", raw(`{"n":1}`), o, at(10*time.Second))
	mustSet(t, st, "b", raw(`{"n":2}`), o)
	mustSet(t, st, "c", raw(`{"n":3}`), o, at(20*time.Second))
	mustSet(t, st, "d", raw(`{"n":4}`), o, at(10*time.Second))
	mustSet(t, st, "d", raw(`{"n":4}`), o) // the same value, the expiry cleared
	mustSet(t, st, "e", raw(`{"n":5}`), o)
	mustSet(t, st, "e", raw(`{"n":5}`), o, at(10*time.Second)) // the same value, an expiry added
	mustSet(t, st, "f", raw(`{"n":6}`), o, at(10*time.Second))
	noErr(t, st.SetMetadata(ctx, "f", map[string]any{"m": 1}, o), "SetMetadata") // keeps the expiry
	mustSet(t, st, "g", raw(`{"n":7}`), o, at(30*time.Second))
	mustSet(t, st, "g", raw(`{"n":8}`), o, storage.KeepTTL()) // a new value, the expiry kept
	mustSet(t, st, "h", raw(`{"n":9}`), o, at(time.Hour))
	mustSet(t, st, "h", raw(`{"n":9}`), o, at(20*time.Second)) // the same value, an earlier expiry
	res, err := st.SetMany(ctx, []storage.Item{
		{Key: "i", Value: raw(`{"n":10}`), ExpiresAt: t0.Add(10 * time.Second)},
		{Key: "j", Value: raw(`{"n":11}`)},
	}, o)
	batchCallErr(t, err, "SetMany")
	noErr(t, res.Err(), "SetMany")
	n := map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 8, "h": 9, "i": 10, "j": 11}
	until := map[string]time.Duration{"a": 10 * time.Second, "c": 20 * time.Second, "e": 10 * time.Second,
		"f": 10 * time.Second, "g": 30 * time.Second, "h": 20 * time.Second, "i": 10 * time.Second}

	for _, d := range []time.Duration{0, 10*time.Second - time.Microsecond, 10 * time.Second, 20 * time.Second,
		30*time.Second - time.Microsecond, 30 * time.Second, time.Hour} {
		c.Set(t0.Add(d))
		what := "at t0+" + d.String()
		var live []string
		for _, k := range slices.Sorted(maps.Keys(n)) {
			if u, ok := until[k]; !ok || d < u {
				live = append(live, k)
			}
		}
		count := func(f storage.Filter, want int, name string) {
			t.Helper()
			got, err := st.Count(ctx, o, storage.Where(f))
			noErr(t, err, what+": Count "+name)
			if got != int64(want) {
				t.Errorf("%s: Count(%s) = %d, want %d", what, name, got, want)
			}
		}
		count(storage.Gte("n", 1), len(live), "n >= 1")
		inRange := 0
		for _, k := range live {
			if n[k] >= 3 && n[k] < 9 {
				inRange++
			}
		}
		count(storage.And(storage.Gte("n", 3), storage.Lt("n", 9)), inRange, "3 <= n < 9")
		for k, v := range n {
			want := 0
			if slices.Contains(live, k) {
				want = 1
			}
			count(storage.Eq("n", v), want, fmt.Sprintf("n = %d", v))
		}
		count(storage.In("n", 1, 4, 5, 8), len(slices.DeleteFunc(slices.Clone(live), func(k string) bool {
			return !slices.Contains([]int{1, 4, 5, 8}, n[k])
		})), "n in 1 4 5 8")
		q, err := st.Query(ctx, storage.Gte("n", 1), o, storage.SortBy(storage.Asc("n")))
		noErr(t, err, what+": Query")
		var got []string
		for _, e := range q.Entries {
			got = append(got, e.Key)
		}
		if !slices.Equal(got, live) { // n ascends with the key
			t.Errorf("%s: Query sorted by n = %q, want %q", what, got, live)
		}
	}
}

// testExpiryWrites checks the expiry each kind of write leaves.
func testExpiryWrites(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	t0 := c.Now()
	mustSet(t, st, "k", raw(`1`), storage.WithTTL(time.Minute))
	// A compare-and-swap sets (or clears) the expiry as any Set.
	noErr(t, st.Set(ctx, "k", raw(`2`), storage.IfVersion(1), storage.WithTTL(2*time.Minute)), "Set IfVersion WithTTL")
	wantExpiry(t, mustGet(t, st, "k").ExpiresAt, t0.Add(2*time.Minute), "after Set IfVersion WithTTL")
	noErr(t, st.Set(ctx, "k", raw(`3`), storage.IfVersion(2), storage.KeepTTL()), "Set IfVersion KeepTTL")
	wantExpiry(t, mustGet(t, st, "k").ExpiresAt, t0.Add(2*time.Minute), "after Set IfVersion KeepTTL")
	noErr(t, st.Set(ctx, "k", raw(`4`), storage.IfVersion(3)), "Set IfVersion")
	wantExpiry(t, mustGet(t, st, "k").ExpiresAt, time.Time{}, "after Set IfVersion without expiry")
	// Create-only with an expiry.
	noErr(t, st.Set(ctx, "n", raw(`1`), storage.NoOverwrite(), storage.WithTTL(time.Second)), "Set NoOverwrite WithTTL")
	wantExpiry(t, mustGet(t, st, "n").ExpiresAt, t0.Add(time.Second), "after Set NoOverwrite WithTTL")
	// A TTL counts from the time of the write.
	c.Advance(time.Minute)
	mustSet(t, st, "k", raw(`5`), storage.WithTTL(time.Minute))
	wantExpiry(t, mustGet(t, st, "k").ExpiresAt, t0.Add(2*time.Minute), "a TTL set a minute later")
}

func testExpiryOverwriteClears(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	t0 := c.Now()
	mustSet(t, st, "k", raw(`1`), storage.WithTTL(time.Minute))
	mustSet(t, st, "k", raw(`2`), storage.WithTTL(time.Hour))
	wantExpiry(t, mustGet(t, st, "k").ExpiresAt, t0.Add(time.Hour), "after a new TTL")
	mustSet(t, st, "k", raw(`3`))
	e := wantEntry(t, st, "k", `3`, 3)
	wantExpiry(t, e.ExpiresAt, time.Time{}, "after an overwrite without expiry")
	c.Advance(2 * time.Hour)
	wantEntry(t, st, "k", `3`, 3)
	// SetMany without an expiry clears it too.
	mustSet(t, st, "m", raw(`1`), storage.WithTTL(time.Minute))
	res, err := st.SetMany(t.Context(), []storage.Item{{Key: "m", Value: raw(`2`)}})
	batchCallErr(t, err, "SetMany")
	noErr(t, res.Err(), "SetMany")
	wantExpiry(t, mustGet(t, st, "m").ExpiresAt, time.Time{}, "after SetMany without expiry")
}

func testExpiryKeepTTL(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	t0 := c.Now()
	mustSet(t, st, "k", raw(`1`), storage.WithTTL(time.Minute), storage.WithMetadata(map[string]any{"m": 1}))
	mustSet(t, st, "k", raw(`2`), storage.KeepTTL())
	e := wantEntry(t, st, "k", `2`, 2)
	wantExpiry(t, e.ExpiresAt, t0.Add(time.Minute), "after Set KeepTTL")
	if !JSONEqual(e.Metadata, []byte(`{"m":1}`)) {
		t.Errorf("Set KeepTTL changed the metadata to %s", e.Metadata)
	}
	// KeepTTL on a new key: no expiry.
	mustSet(t, st, "new", raw(`1`), storage.KeepTTL())
	wantExpiry(t, mustGet(t, st, "new").ExpiresAt, time.Time{}, "Set KeepTTL of a new key")
	// SetMany: an item's KeepTTL, and the batch's.
	mustSet(t, st, "a", raw(`1`), storage.WithTTL(time.Hour))
	mustSet(t, st, "b", raw(`1`), storage.WithTTL(2*time.Hour))
	res, err := st.SetMany(ctx, []storage.Item{{Key: "a", Value: raw(`2`), KeepTTL: true}, {Key: "b", Value: raw(`2`)}})
	batchCallErr(t, err, "SetMany")
	noErr(t, res.Err(), "SetMany")
	wantExpiry(t, mustGet(t, st, "a").ExpiresAt, t0.Add(time.Hour), "SetMany item KeepTTL")
	wantExpiry(t, mustGet(t, st, "b").ExpiresAt, time.Time{}, "SetMany item without expiry")
	mustSet(t, st, "b", raw(`3`), storage.WithTTL(2*time.Hour))
	res, err = st.SetMany(ctx, []storage.Item{{Key: "a", Value: raw(`3`)}, {Key: "b", Value: raw(`4`)}, {Key: "c", Value: raw(`1`)}}, storage.KeepTTL())
	batchCallErr(t, err, "SetMany KeepTTL")
	noErr(t, res.Err(), "SetMany KeepTTL")
	wantExpiry(t, mustGet(t, st, "a").ExpiresAt, t0.Add(time.Hour), "SetMany KeepTTL a")
	wantExpiry(t, mustGet(t, st, "b").ExpiresAt, t0.Add(2*time.Hour), "SetMany KeepTTL b")
	wantExpiry(t, mustGet(t, st, "c").ExpiresAt, time.Time{}, "SetMany KeepTTL new key")
	// KeepTTL over an expired entry keeps nothing: the key was missing.
	c.Advance(time.Hour)
	mustSet(t, st, "a", raw(`4`), storage.KeepTTL())
	e = wantEntry(t, st, "a", `4`, 1)
	wantExpiry(t, e.ExpiresAt, time.Time{}, "Set KeepTTL over an expired entry")
	c.Advance(48 * time.Hour)
	wantEntry(t, st, "a", `4`, 1)
}

func testExpirySetMetadataKeeps(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	t0 := c.Now()
	mustSet(t, st, "k", raw(`1`), storage.WithTTL(time.Minute))
	noErr(t, st.SetMetadata(ctx, "k", map[string]any{"a": 1}), "SetMetadata")
	noErr(t, st.SetMetadata(ctx, "k", map[string]any{"b": 2}, storage.Merge()), "SetMetadata Merge")
	md, err := st.GetMetadata(ctx, "k")
	noErr(t, err, "GetMetadata")
	wantExpiry(t, md.ExpiresAt, t0.Add(time.Minute), "after SetMetadata")
	wantErr(t, st.SetMetadata(ctx, "k", nil, storage.WithTTL(time.Hour)), storage.ErrInvalidOption, "SetMetadata WithTTL")
	c.Advance(time.Minute)
	wantMissing(t, st, "k")
}

func testExpiryCreateOnlyOnExpired(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	mustSet(t, st, "k", raw(`"old"`), storage.WithTTL(time.Second), storage.WithMetadata(map[string]any{"old": true}))
	mustSet(t, st, "k", raw(`"old2"`), storage.KeepTTL())
	wantErr(t, st.Set(ctx, "k", raw(`"new"`), storage.NoOverwrite()), storage.ErrAlreadyExists, "Set NoOverwrite on a live key")
	c.Advance(time.Second)
	t1 := c.Now()
	noErr(t, st.Set(ctx, "k", raw(`"new"`), storage.NoOverwrite()), "Set NoOverwrite on an expired key")
	e := wantEntry(t, st, "k", `"new"`, 1)
	if !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("create-only over an expired entry kept its metadata: %s", e.Metadata)
	}
	if !e.CreatedAt.Equal(t1) {
		t.Errorf("create-only over an expired entry: CreatedAt = %v, want %v", e.CreatedAt, t1)
	}
	wantExpiry(t, e.ExpiresAt, time.Time{}, "create-only over an expired entry")
	// SetMany NoOverwrite likewise, key by key.
	mustSet(t, st, "x", raw(`1`), storage.WithTTL(time.Second))
	mustSet(t, st, "y", raw(`1`))
	c.Advance(time.Second)
	res, err := st.SetMany(ctx, []storage.Item{{Key: "x", Value: raw(`2`)}, {Key: "y", Value: raw(`2`)}}, storage.NoOverwrite())
	batchCallErr(t, err, "SetMany NoOverwrite")
	noErr(t, resultOf(t, res, "x").Err, "SetMany NoOverwrite on an expired key")
	wantErr(t, resultOf(t, res, "y").Err, storage.ErrAlreadyExists, "SetMany NoOverwrite on a live key")
	wantEntry(t, st, "x", `2`, 1)
	wantEntry(t, st, "y", `1`, 1)
	wantSize(t, st, 3)
}

// testExpiryOverwriteExpiredIsNew: an overwrite of an expired entry is a
// creation, exactly as after a sweep.
func testExpiryOverwriteExpiredIsNew(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`), storage.WithTTL(time.Second), storage.WithMetadata(map[string]any{"m": 1}))
	mustSet(t, st, "k", raw(`2`), storage.KeepTTL())
	c.Advance(time.Second)
	t1 := c.Now()
	mustSet(t, st, "k", raw(`3`))
	e := wantEntry(t, st, "k", `3`, 1)
	if !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("an overwrite of an expired entry kept its metadata: %s", e.Metadata)
	}
	if !e.CreatedAt.Equal(t1) {
		t.Errorf("an overwrite of an expired entry: CreatedAt = %v, want %v", e.CreatedAt, t1)
	}
	mustSet(t, st, "m", raw(`1`), storage.WithTTL(time.Second), storage.WithMetadata(map[string]any{"m": 1}))
	c.Advance(time.Second)
	res, err := st.SetMany(ctx, []storage.Item{{Key: "m", Value: raw(`2`)}})
	batchCallErr(t, err, "SetMany")
	if kr := resultOf(t, res, "m"); kr.Err != nil || kr.Version != 1 {
		t.Errorf("SetMany over an expired entry: version %d, %v; want 1, nil", kr.Version, kr.Err)
	}
	e = wantEntry(t, st, "m", `2`, 1)
	if !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("SetMany over an expired entry kept its metadata: %s", e.Metadata)
	}
	wantSize(t, st, 2)
}

func testExpiryIfVersionOnExpired(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`), storage.WithTTL(time.Second))
	c.Advance(time.Second)
	wantErr(t, st.Set(ctx, "k", raw(`2`), storage.IfVersion(1)), storage.ErrConflict, "Set IfVersion on an expired key")
	wantErr(t, st.Delete(ctx, "k", storage.IfVersion(1)), storage.ErrNotFound, "Delete IfVersion on an expired key")
	wantErr(t, st.SetMetadata(ctx, "k", nil, storage.IfVersion(1)), storage.ErrNotFound, "SetMetadata IfVersion on an expired key")
	wantMissing(t, st, "k")
	wantSize(t, st, 0)
}

func testExpirySetManyMixed(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	t0 := c.Now()
	items := []storage.Item{
		{Key: "ttl", Value: raw(`1`), TTL: 10 * time.Second},
		{Key: "at", Value: raw(`2`), ExpiresAt: t0.Add(20 * time.Second)},
		{Key: "batch", Value: raw(`3`)},
		{Key: "meta", Value: raw(`4`), Metadata: map[string]any{"m": 1}, TTL: 30 * time.Second},
	}
	res, err := st.SetMany(ctx, items, storage.WithTTL(time.Minute), ns("b"))
	batchCallErr(t, err, "SetMany")
	checkBatch(t, res, []string{"ttl", "at", "batch", "meta"}, "SetMany")
	noErr(t, res.Err(), "SetMany")
	want := map[string]time.Time{"ttl": t0.Add(10 * time.Second), "at": t0.Add(20 * time.Second), "batch": t0.Add(time.Minute), "meta": t0.Add(30 * time.Second)}
	for k, w := range want {
		wantExpiry(t, mustGet(t, st, k, ns("b")).ExpiresAt, w, "SetMany item "+k)
	}
	// Without a batch expiry, an item without its own has none.
	res, err = st.SetMany(ctx, []storage.Item{{Key: "none", Value: raw(`5`)}, {Key: "ttl2", Value: raw(`6`), TTL: time.Second}}, ns("b"))
	batchCallErr(t, err, "SetMany")
	noErr(t, res.Err(), "SetMany")
	wantExpiry(t, mustGet(t, st, "none", ns("b")).ExpiresAt, time.Time{}, "SetMany item none")
	// Atomic batches carry expiries too.
	res, err = st.SetMany(ctx, []storage.Item{{Key: "atomic", Value: raw(`7`), TTL: 15 * time.Second}}, ns("b"), storage.Atomic())
	batchCallErr(t, err, "SetMany Atomic")
	noErr(t, res.Err(), "SetMany Atomic")

	c.Set(t0.Add(15 * time.Second))
	n, err := st.Count(ctx, ns("b"))
	noErr(t, err, "Count")
	if n != 4 { // at, batch, meta, none
		t.Errorf("Count after 15s = %d, want 4", n)
	}
	gm, err := st.GetMany(ctx, []string{"ttl", "at", "batch", "meta", "none", "ttl2", "atomic"}, ns("b"))
	noErr(t, err, "GetMany")
	for _, k := range []string{"ttl", "ttl2", "atomic"} {
		wantErr(t, gm.Errors[k], storage.ErrNotFound, "GetMany of expired "+k)
	}
	for _, k := range []string{"at", "batch", "meta", "none"} {
		if _, ok := gm.Entries[k]; !ok {
			t.Errorf("GetMany after 15s misses %q", k)
		}
	}
	c.Set(t0.Add(time.Minute))
	l, err := st.List(ctx, ns("b"))
	noErr(t, err, "List")
	if !slices.Equal(l.Keys, []string{"none"}) {
		t.Errorf("List after a minute = %q, want [none]", l.Keys)
	}
}

func testExpiryBadInput(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	t0 := c.Now()
	mustSet(t, st, "k", raw(`1`), storage.WithTTL(time.Hour))
	before := snapshot(t, st)
	for _, tc := range []struct {
		name string
		opt  storage.Option
	}{
		{"zero TTL", storage.WithTTL(0)},
		{"negative TTL", storage.WithTTL(-time.Second)},
		{"huge TTL", storage.WithTTL(storage.MaxTTL + time.Second)},
		{"past", storage.ExpiresAt(t0.Add(-time.Second))},
		{"now", storage.ExpiresAt(t0)},
		{"far future", storage.ExpiresAt(t0.Add(storage.MaxTTL + time.Hour))},
		{"zero time", storage.ExpiresAt(time.Time{})},
	} {
		wantErr(t, st.Set(ctx, "k", raw(`2`), tc.opt), storage.ErrInvalidOption, "Set with "+tc.name)
		wantErr(t, st.Set(ctx, "new", raw(`2`), tc.opt), storage.ErrInvalidOption, "Set of a new key with "+tc.name)
		res, err := st.SetMany(ctx, []storage.Item{{Key: "new", Value: raw(`1`)}}, tc.opt)
		if err == nil {
			wantErr(t, resultOf(t, res, "new").Err, storage.ErrInvalidOption, "SetMany with "+tc.name)
		} else {
			wantErr(t, err, storage.ErrInvalidOption, "SetMany with "+tc.name)
		}
	}
	e := wantEntry(t, st, "k", `1`, 1)
	wantExpiry(t, e.ExpiresAt, t0.Add(time.Hour), "after refused writes")
	unchanged(t, st, before, "refused writes")
	// Per item: the bad items fail, the others are written.
	res, err := st.SetMany(ctx, []storage.Item{
		{Key: "neg", Value: raw(`1`), TTL: -time.Second},
		{Key: "past", Value: raw(`1`), ExpiresAt: t0.Add(-time.Hour)},
		{Key: "both", Value: raw(`1`), TTL: time.Second, ExpiresAt: t0.Add(time.Hour)},
		{Key: "good", Value: raw(`1`), TTL: time.Second},
	})
	batchCallErr(t, err, "SetMany bad items", storage.ErrInvalidOption)
	for _, k := range []string{"neg", "past", "both"} {
		wantErr(t, resultOf(t, res, k).Err, storage.ErrInvalidOption, "SetMany item "+k)
		wantMissing(t, st, k)
	}
	noErr(t, resultOf(t, res, "good").Err, "SetMany good item")
	// Options where they mean nothing.
	_, err = st.Get(ctx, "k", storage.WithTTL(time.Second))
	wantErr(t, err, storage.ErrInvalidOption, "Get WithTTL")
	wantErr(t, st.Delete(ctx, "k", storage.KeepTTL()), storage.ErrInvalidOption, "Delete KeepTTL")
	wantErr(t, st.Set(ctx, "k", raw(`1`), storage.WithTTL(time.Second), storage.KeepTTL()), storage.ErrInvalidOption, "WithTTL and KeepTTL")
	wantErr(t, st.Set(ctx, "k", raw(`1`), storage.NoOverwrite(), storage.KeepTTL()), storage.ErrInvalidOption, "NoOverwrite and KeepTTL")
	wantEntry(t, st, "k", `1`, 1)
}

func testExpiryCapacity(t *testing.T, s *suite) {
	s.needCapacity(t)
	st, c := s.openClock(t, Config{Capacity: 2})
	ctx := t.Context()
	mustSet(t, st, "a", raw(`1`), storage.WithTTL(time.Second))
	mustSet(t, st, "b", raw(`1`))
	wantErr(t, st.Set(ctx, "c", raw(`1`)), storage.ErrCapacityExceeded, "Set past the capacity")
	c.Advance(time.Second)
	noErr(t, st.Set(ctx, "c", raw(`1`)), "Set once an entry expired")
	wantSize(t, st, 2)
	wantErr(t, st.Set(ctx, "d", raw(`1`)), storage.ErrCapacityExceeded, "Set past the capacity")
	// Reviving the expired key takes a place.
	wantErr(t, st.Set(ctx, "a", raw(`2`)), storage.ErrCapacityExceeded, "Set of an expired key at capacity")
}

func testExpiryDeleteNamespace(t *testing.T, s *suite) {
	st, c := s.openClock(t, Config{})
	ctx := t.Context()
	mustSet(t, st, "k", raw(`1`), ns("gone"), storage.WithTTL(time.Second))
	wantErr(t, st.DeleteNamespace(ctx, "gone"), storage.ErrNamespaceNotEmpty, "DeleteNamespace with a live entry")
	c.Advance(time.Second)
	noErr(t, st.DeleteNamespace(ctx, "gone"), "DeleteNamespace holding only expired entries")
	if _, ok := findNamespace(t, st, "gone"); ok {
		t.Errorf("namespace still listed after DeleteNamespace")
	}
	wantSize(t, st, 0)
}
