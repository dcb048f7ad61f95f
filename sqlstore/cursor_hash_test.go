package sqlstore

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// TestQueryHashFast: where appendQueryHashInput spells a call itself, it
// writes the bytes encoding/json writes (so cursors keep their
// fingerprints), and it declines every call it cannot spell exactly.
func TestQueryHashFast(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "n", "a.b", "profile.name", "x y", "é", "a\"b", "a\\b", "<", "a&b", ">", "\t", "\u2028", "\x7f", "k0001", "$key"}
	nums := []any{0, 1, -7, int64(1 << 40), 0.0, math.Copysign(0, -1), 1.5, 3.0, -2.0, 1e15, 1e14, 1e21, 1e-7, 123456789.0, float32(2), uint(3)}
	leaf := func() storage.Filter {
		f := strs[r.IntN(len(strs))]
		switch r.IntN(6) {
		case 0:
			return storage.Eq(f, strs[r.IntN(len(strs))])
		case 1:
			return storage.Gte(f, nums[r.IntN(len(nums))])
		case 2:
			return storage.Exists(f, r.IntN(2) == 0)
		case 3:
			return storage.In(f, 1, "a")
		case 4:
			return storage.Eq(f, nil)
		}
		return storage.Lt(f, nums[r.IntN(len(nums))])
	}
	var filter func(depth int) storage.Filter
	filter = func(depth int) storage.Filter {
		if depth > 2 || r.IntN(3) == 0 {
			return leaf()
		}
		var fs []storage.Filter
		for range r.IntN(3) {
			fs = append(fs, filter(depth+1))
		}
		switch r.IntN(4) {
		case 0:
			return storage.And(fs...)
		case 1:
			return storage.Or(fs...)
		case 2:
			return storage.Not(filter(depth + 1))
		}
		return storage.All()
	}
	fast := 0
	const n = 5000
	for range n {
		f := filter(0)
		var o driver.CallOptions
		o.Namespace.Name = strs[r.IntN(len(strs))]
		switch r.IntN(3) {
		case 1:
			o.Sort = []driver.SortField{}
		case 2:
			for range 1 + r.IntN(3) {
				o.Sort = append(o.Sort, driver.SortField{Field: strs[r.IntN(len(strs))], Desc: r.IntN(2) == 0})
			}
		}
		want, werr := queryHashJSON(f, o)
		got, gerr := queryHash(f, o)
		if got != want || (gerr == nil) != (werr == nil) {
			fj, _ := json.Marshal(f)
			t.Fatalf("filter %s, namespace %q, sort %v: queryHash %q, %v; through encoding/json %q, %v", fj, o.Namespace.Name, o.Sort, got, gerr, want, werr)
		}
		if b, ok := appendQueryHashInput(nil, f, o); ok {
			fast++
			fj, _ := json.Marshal(f)
			slow, _ := json.Marshal([]any{"query", o.Namespace.Name, json.RawMessage(fj), o.Sort})
			if string(b) != string(slow) {
				t.Fatalf("appendQueryHashInput = %s, encoding/json %s", b, slow)
			}
		}
	}
	// The calls of the benchmark's range + sort and of an eq on a string.
	for _, f := range []storage.Filter{storage.And(storage.Gte("n", 5), storage.Lt("n", 105)), storage.Eq("profile.name", "n00042")} {
		var o driver.CallOptions
		o.Namespace.Name = "peers"
		o.Sort = []driver.SortField{{Field: "n", Desc: true}}
		if _, ok := appendQueryHashInput(nil, f, o); !ok {
			t.Errorf("%v: not on the fast path", f)
		}
	}
	if fast < n/10 {
		t.Errorf("only %d of %d calls took the fast path", fast, n)
	}
	t.Logf("%d of %d calls took the fast path", fast, n)
}
