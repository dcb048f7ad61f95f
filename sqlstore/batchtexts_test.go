package sqlstore

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestSetManyTexts: SQLite batches carry their values and metadata laid end
// to end in one BLOB parameter, cut out by byte offsets. Values and metadata
// of every length, with multi-byte characters and escapes (offsets counted
// in characters instead of bytes cut them wrong: "malformed JSON"), in all
// three batch statements (metadata given, metadata kept, NoOverwrite), read
// back exactly.
func TestSetManyTexts(t *testing.T) {
	ctx := t.Context()
	st := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "texts.db"), WithSweepInterval(-1))
	t.Cleanup(func() { _ = st.Close() })
	if err := st.CreateNamespace(ctx, "t", storage.WithIndexes("s")); err != nil {
		t.Fatal(err)
	}
	in := storage.InNamespace("t")
	value := func(i int) json.RawMessage {
		s := strings.Repeat("é€😀\"\\\n", i%7) + strings.Repeat("x", i)
		b, err := json.Marshal(map[string]any{"s": s, "i": i, "a": []any{i, "ü", nil}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	md := func(i int) map[string]any { return map[string]any{"m": strings.Repeat("ß", i%5), "i": i} }
	const n = 60
	check := func(name string, want func(i int) (json.RawMessage, map[string]any)) {
		t.Helper()
		for i := range n {
			e, err := st.Get(ctx, fmt.Sprintf("k%03d", i), in)
			if err != nil {
				t.Fatalf("%s: Get k%03d: %v", name, i, err)
			}
			v, m := want(i)
			var got, exp any
			if err := json.Unmarshal(e.Value, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(v, &exp); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Fatalf("%s: k%03d value %s, want %s", name, i, e.Value, v)
			}
			var gotMD map[string]any
			if err := json.Unmarshal(e.Metadata, &gotMD); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(gotMD) != fmt.Sprint(m) {
				t.Fatalf("%s: k%03d metadata %s, want %v", name, i, e.Metadata, m)
			}
		}
	}

	// NoOverwrite (InsertEntries), with metadata per item and an expiry.
	items := make([]storage.Item, n)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%03d", i), Value: value(i), Metadata: md(i), TTL: time.Hour}
	}
	res, err := st.SetMany(ctx, items, in, storage.NoOverwrite())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		if r.Err != nil || r.Version != 1 {
			t.Fatalf("insert %s: version %d, %v", r.Key, r.Version, r.Err)
		}
	}
	check("insert", func(i int) (json.RawMessage, map[string]any) { return value(i), md(i) })

	// Metadata kept (UpsertEntriesKeepMetadata), values longer.
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%03d", i), Value: value(i + 100)}
	}
	if _, err := st.SetMany(ctx, items, in); err != nil {
		t.Fatal(err)
	}
	check("keep", func(i int) (json.RawMessage, map[string]any) { return value(i + 100), md(i) })

	// Metadata given (UpsertEntries), values shorter, metadata of the batch.
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%03d", i), Value: value(n - i)}
	}
	if _, err := st.SetMany(ctx, items, in, storage.WithMetadata(map[string]any{"b": "ñ"})); err != nil {
		t.Fatal(err)
	}
	check("metadata", func(i int) (json.RawMessage, map[string]any) {
		return value(n - i), map[string]any{"b": "ñ"}
	})
	for i := range n {
		e, err := st.Get(ctx, fmt.Sprintf("k%03d", i), in)
		if err != nil || e.Version != 3 {
			t.Fatalf("k%03d: version %d, %v", i, e.Version, err)
		}
	}
}

// TestSetManySlots: SQLite batches carry their keys as one JSON array and
// each item's offsets, lengths, expiry and KeepTTL in a fixed-width slot of
// a BLOB (batchItems). Keys that need escaping, items with and without an
// expiry and with KeepTTL side by side, in all three batch statements: each
// entry reads back with its own value, metadata, expiry, version and
// revision, and the batch's revisions follow its items.
func TestSetManySlots(t *testing.T) {
	ctx := t.Context()
	st := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "slots.db"), WithSweepInterval(-1))
	t.Cleanup(func() { _ = st.Close() })
	in := storage.InNamespace("s")
	if err := st.CreateNamespace(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	keys := []string{`q"uote`, `back\slash`, "tab\tnl\n", "é€😀", "plain", "k/5", "[1,2]", "{}", "null", "z"}
	base := time.Now().Add(time.Hour).Truncate(time.Microsecond).UTC()
	exp := func(i int) time.Time {
		if i%3 == 0 {
			return time.Time{}
		}
		return base.Add(time.Duration(i) * time.Second)
	}
	value := func(i, round int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"i":%d,"r":%d}`, i, round)) }
	check := func(name string, res storage.BatchResult, round int, wantExp func(i int) time.Time, wantMD func(i int) string, version int64) {
		t.Helper()
		if len(res.Results) != len(keys) {
			t.Fatalf("%s: %d results", name, len(res.Results))
		}
		for i, r := range res.Results {
			if r.Err != nil || r.Key != keys[i] || r.Version != version {
				t.Fatalf("%s: result %d: %+v", name, i, r)
			}
			if i > 0 && r.Revision != res.Results[i-1].Revision+1 {
				t.Fatalf("%s: revision of %q %d after %d", name, r.Key, r.Revision, res.Results[i-1].Revision)
			}
			e, err := st.Get(ctx, keys[i], in)
			if err != nil {
				t.Fatalf("%s: Get %q: %v", name, keys[i], err)
			}
			if string(e.Value) != string(value(i, round)) || !e.ExpiresAt.Equal(wantExp(i)) ||
				string(e.Metadata) != wantMD(i) || e.Version != version || e.Revision != r.Revision {
				t.Fatalf("%s: %q: value %s expires %v metadata %s version %d revision %d; want %s, %v, %s, %d, %d",
					name, keys[i], e.Value, e.ExpiresAt, e.Metadata, e.Version, e.Revision,
					value(i, round), wantExp(i), wantMD(i), version, r.Revision)
			}
		}
	}
	items := func(round int, f func(i int, it *storage.Item)) []storage.Item {
		out := make([]storage.Item, len(keys))
		for i, k := range keys {
			out[i] = storage.Item{Key: k, Value: value(i, round)}
			f(i, &out[i])
		}
		return out
	}
	md := func(i int) string { return fmt.Sprintf(`{"m":%d}`, i) }

	// NoOverwrite (InsertEntries): expiries per item, metadata per item.
	res, err := st.SetMany(ctx, items(1, func(i int, it *storage.Item) {
		it.ExpiresAt = exp(i)
		it.Metadata = map[string]any{"m": i}
	}), in, storage.NoOverwrite())
	if err != nil {
		t.Fatal(err)
	}
	check("insert", res, 1, exp, md, 1)

	// Metadata kept (UpsertEntriesKeepMetadata): odd items keep their
	// expiry, even ones get none.
	res, err = st.SetMany(ctx, items(2, func(i int, it *storage.Item) { it.KeepTTL = i%2 == 1 }), in)
	if err != nil {
		t.Fatal(err)
	}
	kept := func(i int) time.Time {
		if i%2 == 1 {
			return exp(i)
		}
		return time.Time{}
	}
	check("keep", res, 2, kept, md, 2)

	// Metadata given (UpsertEntries): even items get an expiry, odd ones
	// keep theirs.
	res, err = st.SetMany(ctx, items(3, func(i int, it *storage.Item) {
		if i%2 == 0 {
			it.ExpiresAt = base.Add(-time.Duration(i) * time.Millisecond)
		} else {
			it.KeepTTL = true
		}
	}), in, storage.WithMetadata(map[string]any{"b": 1}))
	if err != nil {
		t.Fatal(err)
	}
	check("metadata", res, 3, func(i int) time.Time {
		if i%2 == 0 {
			return base.Add(-time.Duration(i) * time.Millisecond)
		}
		return kept(i)
	}, func(int) string { return `{"b":1}` }, 3)
}

// TestAppendPadded: batchItems' numbers take exactly their width.
func TestAppendPadded(t *testing.T) {
	for _, c := range []struct {
		v     int64
		width int
		want  string
	}{
		{0, 10, "0000000000"},
		{1, 10, "0000000001"},
		{9999999999, 10, "9999999999"},
		{1733222333444555, 20, "00001733222333444555"},
		{-42, 20, "-0000000000000000042"},
		{math.MaxInt64, 20, "09223372036854775807"},
		{math.MinInt64, 20, "-9223372036854775808"},
	} {
		if got := string(appendPadded([]byte("x"), c.v, c.width)); got != "x"+c.want {
			t.Errorf("appendPadded(%d, %d) = %q, want %q", c.v, c.width, got, "x"+c.want)
		}
	}
}
