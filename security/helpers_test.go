package security_test

import (
	"context"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/security"
)

// configs are the databases the engine-backed tests run on.
var configs = testdb.Configs("sec", "pool_max_conns", "8")

func mustPKR(t testing.TB, pk string) security.PKR {
	t.Helper()
	p, err := security.NewPKR(pk, nil)
	if err != nil {
		t.Fatalf("NewPKR(%q): %v", pk, err)
	}
	return p
}

func mustApply(t testing.TB, pol *security.Policy, p security.PKR, scopes map[string]string) {
	t.Helper()
	if err := pol.Apply(p, security.Profile{Name: p.PublicKey, Scopes: scopes}); err != nil {
		t.Fatalf("Apply(%s): %v", p, err)
	}
}

// entryState is one entry as the snapshot sees it.
type entryState struct {
	ns, key, value string
	version        int64
}

// snapshot is everything the inner store holds: namespaces and entries.
func snapshot(t testing.TB, inner storage.Store) (names []string, entries []entryState) {
	t.Helper()
	ctx := context.Background()
	list, err := inner.ListNamespaces(ctx)
	if err != nil {
		t.Fatalf("ListNamespaces: %v", err)
	}
	for _, n := range list {
		names = append(names, n.Name)
		res, err := inner.Query(ctx, storage.All(), storage.InNamespace(n.Name))
		if err != nil {
			t.Fatalf("Query %s: %v", n.Name, err)
		}
		for _, e := range res.Entries {
			entries = append(entries, entryState{n.Name, e.Key, string(e.Value), e.Version})
		}
	}
	return names, entries
}
