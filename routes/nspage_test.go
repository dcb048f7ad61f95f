package routes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// nsAnswer is a listNamespaces answer.
type nsAnswer struct {
	Success    bool     `json:"success"`
	Namespaces []string `json:"namespaces"`
	Details    []struct {
		Name     string         `json:"name"`
		Metadata map[string]any `json:"metadata"`
	} `json:"details"`
	Cursor string `json:"cursor"`
}

// listNamespacesRaw calls listNamespaces with body and returns the answer
// and its size.
func listNamespacesRaw(t *testing.T, m *routes.Mux, body string) (nsAnswer, int) {
	t.Helper()
	out, err := m.Call(t.Context(), routes.RouteListNamespaces, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var a nsAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatal(err)
	}
	if !a.Success {
		t.Fatalf("listNamespaces %s: %s", body, out)
	}
	return a, len(out)
}

// TestListNamespacesAnswerBound: listNamespaces answered every namespace
// with its metadata (64 KiB at most each) in one answer: 100 namespaces of
// 60 KiB made one request of {} build and send 6 MB, a principal at its
// quota or an admin store of a million namespaces hundreds of MB. Now an
// answer holds routes.AnswerBytes at most and a cursor; reading on after
// each cursor gives every namespace once, in order, and a store of small
// namespaces still answers whole, as the seed's listNamespaces did.
func TestListNamespacesAnswerBound(t *testing.T) {
	m, _ := newMux(t)
	pad := strings.Repeat("x", 60<<10)
	const n = 100
	var want []string
	for i := range n {
		name := fmt.Sprintf("n%03d", i)
		want = append(want, name)
		wantOK(t, call(t, m, "storage://createNamespace", fmt.Sprintf(`{"name":%q,"options":{"metadata":{"pad":%q}}}`, name, pad)), "createNamespace")
	}
	want = append(want, "default")
	slices.Sort(want)
	var got []string
	after := ""
	answers := 0
	for ; ; answers++ {
		if answers > n {
			t.Fatalf("more than %d answers", n)
		}
		body := `{}`
		if after != "" {
			body = fmt.Sprintf(`{"options":{"after":%q}}`, after)
		}
		a, size := listNamespacesRaw(t, m, body)
		if size > int(routes.AnswerBytes)+(64<<10) {
			t.Fatalf("answer %d: %d bytes, want at most AnswerBytes (%d)", answers, size, routes.AnswerBytes)
		}
		if !slices.Equal(a.Namespaces, detailNames(a)) {
			t.Fatalf("answer %d: namespaces %q and details %q differ", answers, a.Namespaces, detailNames(a))
		}
		for _, d := range a.Details {
			if d.Name != "default" && d.Metadata["pad"] != pad {
				t.Fatalf("answer %d: %s without its metadata", answers, d.Name)
			}
		}
		got = append(got, a.Namespaces...)
		if a.Cursor == "" {
			break
		}
		if a.Cursor != a.Namespaces[len(a.Namespaces)-1] {
			t.Fatalf("answer %d: cursor %q, want the last name %q", answers, a.Cursor, a.Namespaces[len(a.Namespaces)-1])
		}
		after = a.Cursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the answers listed %q,\nwant %q", got, want)
	}
	if answers < 1 {
		t.Fatalf("6 MB of metadata in one answer")
	}

	// Without metadata the names of every namespace fit one answer.
	a, _ := listNamespacesRaw(t, m, `{"options":{"includeMetadata":false}}`)
	if !slices.Equal(a.Namespaces, want) || a.Cursor != "" {
		t.Fatalf("includeMetadata false: %q, cursor %q; want every name and no cursor", a.Namespaces, a.Cursor)
	}
	for _, d := range a.Details {
		if d.Metadata != nil {
			t.Fatalf("includeMetadata false: %s has metadata", d.Name)
		}
	}
	// A limit and a cursor page exactly.
	a, _ = listNamespacesRaw(t, m, `{"options":{"limit":3,"after":"n010","includeMetadata":false}}`)
	if !slices.Equal(a.Namespaces, []string{"n011", "n012", "n013"}) || a.Cursor != "n013" {
		t.Fatalf("limit 3 after n010: %q, cursor %q", a.Namespaces, a.Cursor)
	}
	a, _ = listNamespacesRaw(t, m, `{"options":{"limit":3,"after":"n098"}}`)
	if !slices.Equal(a.Namespaces, []string{"n099"}) || a.Cursor != "" {
		t.Fatalf("limit 3 after n098: %q, cursor %q", a.Namespaces, a.Cursor)
	}
}

func detailNames(a nsAnswer) []string {
	out := []string{}
	for _, d := range a.Details {
		out = append(out, d.Name)
	}
	return out
}

// TestListNamespacesSmallStoreWhole: the seed's listNamespaces({}) answers
// every name of an ordinary store, with no cursor.
func TestListNamespacesSmallStoreWhole(t *testing.T) {
	m, _ := newMux(t)
	want := []string{"default"}
	for i := range 300 {
		name := fmt.Sprintf("ns%03d", i)
		want = append(want, name)
		wantOK(t, call(t, m, "storage://createNamespace", fmt.Sprintf(`{"name":%q,"options":{"metadata":{"team":"t%d"}}}`, name, i)), "createNamespace")
	}
	slices.Sort(want)
	a, _ := listNamespacesRaw(t, m, `{"options":{}}`)
	if !slices.Equal(a.Namespaces, want) || a.Cursor != "" {
		t.Fatalf("listNamespaces {}: %d names, cursor %q; want %d and none", len(a.Namespaces), a.Cursor, len(want))
	}
}

// TestListNamespacesHostileOptions: bad options of listNamespaces are
// typed errors, nothing else.
func TestListNamespacesHostileOptions(t *testing.T) {
	m, _ := newMux(t)
	for body, code := range map[string]string{
		`{"options":{"limit":-1}}`:                                 "invalid_option",
		`{"options":{"limit":10001}}`:                              "invalid_option",
		`{"options":{"limit":1e30}}`:                               "invalid_request",
		`{"options":{"limit":"5"}}`:                                "invalid_request",
		`{"options":{"after":""}}`:                                 "invalid_option",
		`{"options":{"after":"a\u0000"}}`:                          "invalid_option",
		`{"options":{"after":"` + strings.Repeat("x", 513) + `"}}`: "invalid_option",
		`{"options":{"after":7}}`:                                  "invalid_request",
		`{"options":{"includeMetadata":"no"}}`:                     "invalid_request",
		`{"options":{"namespace":"default"}}`:                      "invalid_option",
		`{"options":{"offset":1}}`:                                 "invalid_option",
		`{"options":{"pattern":"*"}}`:                              "invalid_option",
		`{"options":{"transactionId":"t"}}`:                        "invalid_option",
		`{"options":{"cursor":"x"}}`:                               "invalid_request",
	} {
		wantCode(t, call(t, m, routes.RouteListNamespaces, body), code, body)
	}
}

// readCounter counts the metadata bytes its store's ListNamespaces
// returns, and the most one call returns.
type readCounter struct {
	storage.Store
	total, most int
}

func (r *readCounter) ListNamespaces(ctx context.Context, opts ...storage.Option) ([]storage.Namespace, error) {
	list, err := r.Store.ListNamespaces(ctx, opts...)
	n := 0
	for _, ns := range list {
		b, _ := json.Marshal(ns.Metadata)
		n += len(b)
	}
	r.total += n
	r.most = max(r.most, n)
	return list, err
}

// TestListNamespacesReadBound: the route reads the store in parts sized
// for the largest metadata, so even the largest limit makes it read and
// hold about AnswerBytes, not limit × 64 KiB.
func TestListNamespacesReadBound(t *testing.T) {
	s, err := sqlstore.Open(t.Context(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pad := strings.Repeat("y", storage.MaxNamespaceMetadataSize-64)
	for i := range 120 {
		if err := s.CreateNamespace(t.Context(), fmt.Sprintf("n%03d", i), storage.WithNamespaceMetadata(map[string]any{"pad": pad})); err != nil {
			t.Fatal(err)
		}
	}
	rc := &readCounter{Store: s}
	m := routes.NewMux()
	routes.Register(m, rc)
	a, size := listNamespacesRaw(t, m, fmt.Sprintf(`{"options":{"limit":%d}}`, routes.MaxNamespacesLimit))
	if a.Cursor == "" || size > int(routes.AnswerBytes) {
		t.Fatalf("limit %d: %d namespaces in %d bytes, cursor %q", routes.MaxNamespacesLimit, len(a.Namespaces), size, a.Cursor)
	}
	if rc.total > int(routes.AnswerBytes) || rc.most > int(routes.AnswerBytes) {
		t.Fatalf("the route read %d bytes of metadata (%d in one part) for one answer, want at most AnswerBytes (%d)", rc.total, rc.most, routes.AnswerBytes)
	}
	t.Logf("one answer: %d namespaces, %d bytes; read %d bytes of metadata, at most %d at once", len(a.Namespaces), size, rc.total, rc.most)
}
