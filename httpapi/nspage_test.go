package httpapi_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
)

// TestClientListNamespacesPages: over HTTP, client.Store's ListNamespaces
// follows the server's cursor, so a Go caller still gets every namespace
// (more than one answer holds, routes.NamespacesLimit), or one page of
// them with Limit and After.
func TestClientListNamespacesPages(t *testing.T) {
	s := newServer(t, configs[0], httpapi.Config{})
	ctx := t.Context()
	n := routes.NamespacesLimit*2 + 300
	want := []string{storage.DefaultNamespace}
	for i := range n {
		name := fmt.Sprintf("n%05d", i)
		want = append(want, name)
		if err := s.inner.CreateNamespace(ctx, name, storage.WithNamespaceMetadata(map[string]any{"i": i})); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	cl := newClient(t, s, adminToken)
	all, err := cl.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ns := range all {
		got = append(got, ns.Name)
		if ns.Name != storage.DefaultNamespace && ns.Metadata["i"] == nil {
			t.Fatalf("%s without its metadata", ns.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("client ListNamespaces: %d namespaces, want %d", len(got), len(want))
	}
	page, err := cl.ListNamespaces(ctx, storage.Limit(3), storage.After("n00100"), storage.OmitValues())
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || page[0].Name != "n00101" || page[2].Name != "n00103" || page[0].Metadata != nil {
		t.Fatalf("Limit(3) After(n00100) OmitValues: %+v", page)
	}
	// A Limit above routes.MaxNamespacesLimit is the client's to split.
	page, err = cl.ListNamespaces(ctx, storage.Limit(routes.MaxNamespacesLimit+5))
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != len(want) {
		t.Fatalf("Limit(%d): %d namespaces, want %d", routes.MaxNamespacesLimit+5, len(page), len(want))
	}
	if _, err := cl.ListNamespaces(ctx, storage.After("a\x00")); !errors.Is(err, storage.ErrInvalidOption) {
		t.Fatalf("After with NUL: %v, want ErrInvalidOption", err)
	}
}
