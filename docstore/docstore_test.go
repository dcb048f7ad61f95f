package storagedocstore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"gocloud.dev/docstore"
	"gocloud.dev/gcerrors"
)

// eachStore runs f on a fresh collection (key field "name") of each store.
func eachStore(t *testing.T, f func(t *testing.T, s storage.Store, ns string, coll *docstore.Collection)) {
	for name, open := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ns := uniqueNamespace("t")
			coll, err := OpenCollection(s, ns, "name", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = coll.Close() })
			f(t, s, ns, coll)
		})
	}
}

func wantCode(t *testing.T, err error, code gcerrors.ErrorCode, what string) {
	t.Helper()
	if got := gcerrors.Code(err); got != code {
		t.Errorf("%s: %v (code %v), want %v", what, err, got, code)
	}
}

// TestStaleRevisionAfterRecreate is the ABA case through docstore:
// a revision read before a delete and a re-create by another writer fails
// on Replace, Put, Update and Delete, and changes nothing.
func TestStaleRevisionAfterRecreate(t *testing.T) {
	eachStore(t, func(t *testing.T, _ storage.Store, _ string, coll *docstore.Collection) {
		ctx := context.Background()
		doc := map[string]any{"name": "k", "v": 1, docstore.DefaultRevisionField: nil}
		if err := coll.Put(ctx, doc); err != nil {
			t.Fatal(err)
		}
		stale := doc[docstore.DefaultRevisionField]
		if err := coll.Delete(ctx, map[string]any{"name": "k"}); err != nil {
			t.Fatal(err)
		}
		other := map[string]any{"name": "k", "v": 2, docstore.DefaultRevisionField: nil}
		if err := coll.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		if other[docstore.DefaultRevisionField] == stale {
			t.Fatalf("the re-created document got its old revision %v back", stale)
		}
		with := func() map[string]any {
			return map[string]any{"name": "k", "v": 3, docstore.DefaultRevisionField: stale}
		}
		wantCode(t, coll.Replace(ctx, with()), gcerrors.FailedPrecondition, "Replace")
		wantCode(t, coll.Put(ctx, with()), gcerrors.FailedPrecondition, "Put")
		wantCode(t, coll.Update(ctx, with(), docstore.Mods{"v": 4}), gcerrors.FailedPrecondition, "Update")
		wantCode(t, coll.Delete(ctx, with()), gcerrors.FailedPrecondition, "Delete")
		got := map[string]any{"name": "k"}
		if err := coll.Get(ctx, got); err != nil {
			t.Fatal(err)
		}
		if got["v"] != int64(2) {
			t.Errorf("v = %v, want the other writer's 2", got["v"])
		}
	})
}

// TestUpdateAtomic: concurrent increments of one field all count.
func TestUpdateAtomic(t *testing.T) {
	eachStore(t, func(t *testing.T, _ storage.Store, _ string, coll *docstore.Collection) {
		ctx := context.Background()
		if err := coll.Put(ctx, map[string]any{"name": "counter", "n": 0}); err != nil {
			t.Fatal(err)
		}
		const workers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Go(func() {
				for range each {
					if err := coll.Update(ctx, map[string]any{"name": "counter"}, docstore.Mods{"n": docstore.Increment(1)}); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		got := map[string]any{"name": "counter"}
		if err := coll.Get(ctx, got); err != nil {
			t.Fatal(err)
		}
		if got["n"] != int64(workers*each) {
			t.Errorf("n = %v, want %d: an increment was lost", got["n"], workers*each)
		}
	})
}

type plain struct {
	Name  string    `json:"name"`
	Blob  []byte    `json:"Blob"`
	At    time.Time `json:"At"`
	Score float64   `json:"Score"`
}

// TestPlainClientInterop: an entry written with storage.Set and
// encoding/json reads into a struct through docstore (base64 string as
// []byte, RFC 3339 time), and a document written through docstore is the
// documented JSON for other clients.
func TestPlainClientInterop(t *testing.T) {
	eachStore(t, func(t *testing.T, s storage.Store, ns string, coll *docstore.Collection) {
		ctx := context.Background()
		at := time.Date(2026, 12, 2, 1, 2, 3, 400, time.UTC)
		in := plain{Name: "p", Blob: []byte{0, 1, 255}, At: at, Score: 1.5}
		if err := s.Set(ctx, "p", in, storage.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var got plain
		got.Name = "p"
		if err := coll.Get(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if string(got.Blob) != string(in.Blob) || !got.At.Equal(at) || got.Score != 1.5 {
			t.Errorf("got %+v, want %+v", got, in)
		}

		doc := map[string]any{"name": "q", "b": []byte("hi"), "t": at, "$odd": 1}
		if err := coll.Put(ctx, doc); err != nil {
			t.Fatal(err)
		}
		e, err := s.Get(ctx, "q", storage.InNamespace(ns))
		if err != nil {
			t.Fatal(err)
		}
		var stored map[string]any
		if err := json.Unmarshal(e.Value, &stored); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"name": "q", "b": map[string]any{"$bytes": "aGk="}, "t": "2026-12-02T01:02:03.000000400Z", "$$odd": float64(1)}
		if len(stored) != len(want) {
			t.Fatalf("stored %v, want %v", stored, want)
		}
		for k, v := range want {
			if b, _ := json.Marshal(stored[k]); string(b) != string(must(json.Marshal(v))) {
				t.Errorf("stored %s = %v, want %v", k, stored[k], v)
			}
		}
		back := map[string]any{"name": "q"}
		if err := coll.Get(ctx, back); err != nil {
			t.Fatal(err)
		}
		if string(back["b"].([]byte)) != "hi" || !back["t"].(time.Time).Equal(at) || back["$odd"] != int64(1) {
			t.Errorf("read back %v", back)
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestTimeFilterPrecision: times of different precisions compare in time
// order (their stored spelling has a fixed width).
func TestTimeFilterPrecision(t *testing.T) {
	eachStore(t, func(t *testing.T, _ storage.Store, _ string, coll *docstore.Collection) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for name, at := range map[string]time.Time{"whole": base, "half": base.Add(500 * time.Millisecond), "nano": base.Add(time.Nanosecond)} {
			if err := coll.Put(ctx, map[string]any{"name": name, "at": at}); err != nil {
				t.Fatal(err)
			}
		}
		got := names(t, coll.Query().Where("at", ">", base).OrderBy("at", docstore.Ascending))
		if want := []string{"nano", "half"}; !slices.Equal(got, want) {
			t.Errorf("after %v: %v, want %v", base, got, want)
		}
	})
}

func names(t *testing.T, q *docstore.Query) []string {
	t.Helper()
	it := q.Get(context.Background())
	defer it.Stop()
	var out []string
	for {
		doc := map[string]any{}
		err := it.Next(context.Background(), doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, doc["name"].(string))
	}
}

// TestQueryPages: a query longer than a page, with an offset and a limit,
// returns the right documents in order across pages.
func TestQueryPages(t *testing.T) {
	eachStore(t, func(t *testing.T, s storage.Store, ns string, _ *docstore.Collection) {
		ctx := context.Background()
		c, err := newCollection(s, ns, "name", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.queryPage = 3
		coll := docstore.NewCollection(c)
		defer coll.Close()
		all := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
		al := coll.Actions()
		for i, n := range all {
			al.Put(map[string]any{"name": n, "i": i})
		}
		if err := al.Do(ctx); err != nil {
			t.Fatal(err)
		}
		if got := names(t, coll.Query().OrderBy("i", docstore.Ascending)); !slices.Equal(got, all) {
			t.Errorf("all: %v", got)
		}
		if got := names(t, coll.Query().OrderBy("i", docstore.Descending).Offset(2).Limit(5)); !slices.Equal(got, []string{"h", "g", "f", "e", "d"}) {
			t.Errorf("offset 2 limit 5, descending: %v", got)
		}
		if got := names(t, coll.Query().Where("i", ">=", 4).Offset(4)); !slices.Equal(got, []string{"i", "j"}) {
			t.Errorf("i >= 4 offset 4: %v", got)
		}
	})
}

// TestRefused: what the driver refuses, with InvalidArgument.
func TestRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, _ storage.Store, _ string, coll *docstore.Collection) {
		ctx := context.Background()
		wantCode(t, coll.Put(ctx, map[string]any{"name": 7}), gcerrors.InvalidArgument, "a key that is not a string")
		it := coll.Query().Where("x", "=", struct{ A int }{1}).Get(ctx)
		wantCode(t, it.Next(ctx, map[string]any{}), gcerrors.InvalidArgument, "a filter on a struct value")
		it = coll.Query().Where("a b", "=", 1).Get(ctx)
		wantCode(t, it.Next(ctx, map[string]any{}), gcerrors.InvalidArgument, "a field path the filter language does not take")
		if err := coll.Put(ctx, map[string]any{"name": "s", "n": "text"}); err != nil {
			t.Fatal(err)
		}
		wantCode(t, coll.Update(ctx, map[string]any{"name": "s"}, docstore.Mods{"n": docstore.Increment(1)}), gcerrors.InvalidArgument, "an increment of a string")
		wantCode(t, coll.Update(ctx, map[string]any{"name": "s"}, docstore.Mods{"name": "t"}), gcerrors.InvalidArgument, "an update of the key field")
		wantCode(t, coll.Update(ctx, map[string]any{"name": "missing"}, docstore.Mods{"n": 1}), gcerrors.NotFound, "an update of a missing document")
	})
}
