package console

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// previewOracle is what preview shows: the value compacted, made readable,
// cut to previewLen characters.
func previewOracle(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		panic(err)
	}
	s := readable(buf.Bytes())
	if utf8.RuneCountInString(s) > previewLen {
		s = string([]rune(s)[:previewLen]) + "…"
	}
	return s
}

// TestPreviewBounded: a table's preview of a value costs what its
// previewLen characters do, however large the value (a page shows up to
// MaxPageSize entries, each up to the store's 16 MiB). Before, it
// compacted the whole value, copied it to undo the escapes and made runes
// of all of it: a 12.5 MB value allocated 60.5 MB and took about 0.4 s,
// for 80 characters.
func TestPreviewBounded(t *testing.T) {
	big, err := json.Marshal(map[string]any{"s": strings.Repeat("<&> \"é' ", 500_000)})
	if err != nil {
		t.Fatal(err)
	}
	want := previewOracle(big)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := preview(big)
	runtime.ReadMemStats(&after)
	if got != want {
		t.Fatalf("preview = %q, want %q", got, want)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Fatalf("the preview of a %d-byte value allocated %d bytes", len(big), n)
	}
}

// TestPreviewSame: preview shows what compacting, undoing the escapes and
// cutting show, on values with every kind of space, escape and
// character, around the cut.
func TestPreviewSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{" ", "\n", "\t", "\r", "a", "é", "𝄞", "<", ">", "&", `\"`, `\\`, `\u003c`, `\u003E`, `\u0026`,
		`\u00e9`, `\n`, `\/`, "\u2028"}
	str := func() string {
		var b strings.Builder
		b.WriteByte('"')
		for range rng.IntN(60) {
			p := pieces[rng.IntN(len(pieces))]
			if p == "\n" || p == "\t" || p == "\r" {
				p = " "
			}
			b.WriteString(p)
		}
		b.WriteByte('"')
		return b.String()
	}
	ws := func() string { return []string{"", " ", "\n  ", "\t", "\r\n"}[rng.IntN(5)] }
	var value func(depth int) string
	value = func(depth int) string {
		switch k := rng.IntN(6); {
		case depth > 3 || k == 0:
			return str()
		case k == 1:
			return []string{"1", "-2.5e3", "true", "false", "null"}[rng.IntN(5)]
		case k == 2:
			var parts []string
			for range rng.IntN(5) {
				parts = append(parts, ws()+value(depth+1)+ws())
			}
			return "[" + strings.Join(parts, ",") + "]"
		default:
			var parts []string
			for i := range rng.IntN(5) {
				parts = append(parts, ws()+`"k`+string(rune('a'+i))+`"`+ws()+":"+ws()+value(depth+1)+ws())
			}
			return "{" + strings.Join(parts, ",") + "}"
		}
	}
	for range 5000 {
		v := ws() + value(0) + ws()
		if !json.Valid([]byte(v)) {
			t.Fatalf("generated invalid JSON %q", v)
		}
		if got, want := preview(json.RawMessage(v)), previewOracle(json.RawMessage(v)); got != want {
			t.Fatalf("preview(%q)\n= %q\nwant %q", v, got, want)
		}
	}
}
