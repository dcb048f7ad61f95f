package routes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// byteCounter is a store that records the bytes (keys, values, metadata)
// each List, Query and GetMany call of the routes reads from it.
type byteCounter struct {
	storage.Store
	mu    sync.Mutex
	calls map[string][]int64
}

func (r *byteCounter) note(op string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[op] = append(r.calls[op], n)
}

func (r *byteCounter) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	res, err := r.Store.List(ctx, opts...)
	var n int64
	for _, k := range res.Keys {
		n += int64(len(k))
	}
	r.note("list", n)
	return res, err
}

func (r *byteCounter) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	res, err := r.Store.Query(ctx, f, opts...)
	var n int64
	for _, e := range res.Entries {
		n += int64(len(e.Key) + len(e.Value) + len(e.Metadata))
	}
	r.note("query", n)
	return res, err
}

func (r *byteCounter) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.GetManyResult, error) {
	res, err := r.Store.GetMany(ctx, keys, opts...)
	var n int64
	for k, e := range res.Entries {
		n += int64(len(k) + len(e.Value) + len(e.Metadata))
	}
	r.note("getMany", n)
	return res, err
}

// TestReadBudgetPerCall: no single store read of a list, query or getMany
// answer holds much more than routes.AnswerBytes, whatever the entries'
// sizes. The routes sized each part of an answer from the average entry
// read so far, so 16 small entries followed by large ones made the second
// part 10,000 entries of up to the maximum value size, all read into
// memory before AnswerBytes was checked: here one call read every large
// entry (64 MiB). Now each part carries what is left of AnswerBytes as
// storage.MaxBytes, and the store stops after the entry that reaches it.
func TestReadBudgetPerCall(t *testing.T) {
	s, err := sqlstore.Open(t.Context(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	rc := &byteCounter{Store: s, calls: map[string][]int64{}}
	m := routes.NewMux()
	routes.Register(m, rc)

	const small, large = 16, 64
	in := storage.InNamespace("hostile")
	var items []storage.Item
	var keys []string
	for i := range small {
		k := fmt.Sprintf("a%02d", i)
		items = append(items, storage.Item{Key: k, Value: map[string]any{"i": i}})
		keys = append(keys, k)
	}
	pad := strings.Repeat("x", 1<<20-64)
	for i := range large {
		k := fmt.Sprintf("b%03d", i)
		items = append(items, storage.Item{Key: k, Value: map[string]any{"i": small + i, "pad": pad}})
		keys = append(keys, k)
	}
	for i := 0; i < len(items); i += 16 {
		if res, err := s.SetMany(t.Context(), items[i:min(i+16, len(items))], in); err != nil || !res.OK() {
			t.Fatal(err, res.Err())
		}
	}
	bound := routes.AnswerBytes + 2<<20 // AnswerBytes and one entry (with room)
	check := func(op string) {
		t.Helper()
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.calls[op]) == 0 {
			t.Fatalf("%s: no store call", op)
		}
		for i, n := range rc.calls[op] {
			if n > bound {
				t.Errorf("%s: store call %d read %d bytes, more than AnswerBytes (%d) and one entry", op, i, n, routes.AnswerBytes)
			}
		}
		rc.calls[op] = nil
	}

	// query (with and without a sort) and list: every entry once, in order.
	for _, opts := range []string{`"namespace":"hostile"`, `"namespace":"hostile","sort":[{"field":"i"}]`} {
		var got []string
		after := ""
		for answers := 0; ; answers++ {
			if answers > small+large {
				t.Fatalf("query %s: more than %d answers", opts, small+large)
			}
			o := opts
			if after != "" {
				o += `,"after":"` + after + `"`
			}
			out, err := m.Call(t.Context(), routes.RouteQuery, []byte(`{"filter":{"field":"i","operator":"gte","value":0},"options":{`+o+`}}`))
			if err != nil {
				t.Fatal(err)
			}
			var resp struct {
				Results []struct {
					Key string `json:"key"`
				} `json:"results"`
				Cursor string `json:"cursor"`
			}
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatalf("%v: %.200s", err, out)
			}
			for _, r := range resp.Results {
				got = append(got, r.Key)
			}
			if after = resp.Cursor; after == "" {
				break
			}
		}
		if strings.Join(got, ",") != strings.Join(keys, ",") {
			t.Fatalf("query %s: read %d entries, want %d in order: %v", opts, len(got), len(keys), got)
		}
		check("query")
	}
	v := call(t, m, routes.RouteList, `{"options":{"namespace":"hostile"}}`)
	if ks, _ := v["keys"].([]any); len(ks) != len(keys) {
		t.Fatalf("list: %d keys, want %d", len(ks), len(keys))
	}
	check("list")

	// getMany: the keys it did not read are unread; asking for them gives
	// the rest.
	seen := map[string]bool{}
	ask := keys
	for answers := 0; len(ask) > 0; answers++ {
		if answers > small+large {
			t.Fatalf("getMany: more than %d answers", small+large)
		}
		body, _ := json.Marshal(map[string]any{"keys": ask, "options": map[string]any{"namespace": "hostile"}})
		out, err := m.Call(t.Context(), routes.RouteGetMany, body)
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			Data   map[string]json.RawMessage `json:"data"`
			Errors map[string]any             `json:"errors"`
			Unread []string                   `json:"unread"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Errors) > 0 || (len(resp.Data) == 0 && len(resp.Unread) > 0) {
			t.Fatalf("getMany answer %d: %d errors, %d entries, %d unread", answers, len(resp.Errors), len(resp.Data), len(resp.Unread))
		}
		for k := range resp.Data {
			if seen[k] {
				t.Fatalf("getMany: %s answered twice", k)
			}
			seen[k] = true
		}
		ask = resp.Unread
	}
	if len(seen) != len(keys) {
		t.Fatalf("getMany: %d keys answered, want %d", len(seen), len(keys))
	}
	check("getMany")
}
