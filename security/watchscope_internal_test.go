package security

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestReadableNamespaces: the namespace ranges a watch passes down hold
// exactly the namespaces the subject may read, for every mix of grants:
// a namespace outside them would hide events the caller may see, one
// inside that it may not read would be read for nothing.
func TestReadableNamespaces(t *testing.T) {
	pks := []string{"alice", "bob", "bob2", "b"}
	names := []string{"a", "shared", "shared2", "z", "Z0", "0"}
	all := slices.Clone(names)
	for _, pk := range pks {
		all = append(all, storage.PrincipalScheme+pk)
		for _, n := range names {
			all = append(all, storage.PrincipalScheme+pk+"/namespace/"+n)
		}
	}
	var scopes []string
	scopes = append(scopes, scopeAllNamespaces, scopeAllPrincipals, scopeTransactions)
	for _, n := range names {
		scopes = append(scopes, scopeNamespacePrefix+n)
	}
	for _, pk := range pks {
		base := storage.PrincipalScheme + pk
		scopes = append(scopes, base, base+"/*", base+"/data/*", base+"/namespace/*")
		for _, n := range names {
			scopes = append(scopes, base+"/namespace/"+n)
		}
	}
	perms := []Permission{Read, Write, ReadWrite}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		sub := subject{g: grants{}}
		if i%3 != 0 {
			sub.pk = pks[rng.IntN(len(pks))]
		}
		for range rng.IntN(6) {
			sub.g[scopes[rng.IntN(len(scopes))]] |= perms[rng.IntN(len(perms))]
		}
		rs, every := sub.readableNamespaces()
		for _, name := range all {
			ns, err := storage.ParseNamespace(name)
			if err != nil {
				t.Fatalf("%q: %v", name, err)
			}
			in := every
			for _, r := range rs {
				in = in || r.Contains(name)
			}
			if want := sub.namespace(ns).Has(Read); in != want {
				t.Fatalf("subject %q with %v: %q in the ranges %v (all %v) is %v, want %v", sub.pk, sub.g, name, rs, every, in, want)
			}
		}
	}
}
