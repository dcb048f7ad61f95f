package sqlstore

import (
	"encoding/json"
	"fmt"
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
