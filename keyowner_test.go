package storage_test

import (
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestKeyOwner: the one rule for keys in the principal scheme, which every
// path applies through ValidateKey.
func TestKeyOwner(t *testing.T) {
	for _, c := range []struct {
		key, owner string
		ok         bool
	}{
		{"plain", "", true},
		{"principal", "", true},
		{"principal:/x", "", true},
		{"рrincipal://bob/data/x", "", true}, // Cyrillic "р": not the scheme
		{"principal://bob/data/x", "bob", true},
		{"principal://bob/data/a/b.c/..d", "bob", true},
		{"Principal://bob/data/x", "", false},
		{"PRINCIPAL://BOB/data/x", "", false},
		{"principal://alice/data/../../bob/data/x", "", false},
		{"principal://bob/data/./x", "", false},
		{"principal://bob/data/x/", "", false},
		{"principal://bob/data//x", "", false},
		{"principal://bob/data/", "", false},
		{"principal://bob/data/a%2Fb", "", false},
		{"principal://bob/data/a%5cb", "", false},
		{`principal://bob/data/a\b`, "", false},
		{"principal://bob/x", "", false},
		{"principal://", "", false},
		{"principal://../data/x", "", false},
		{"principal://b o b/data/x", "", false},
	} {
		owner, err := storage.KeyOwner(c.key)
		if c.ok != (err == nil) || owner != c.owner {
			t.Errorf("KeyOwner(%q) = %q, %v", c.key, owner, err)
		}
		if verr := storage.ValidateKey(c.key); (verr == nil) != c.ok || (verr != nil && !errors.Is(verr, storage.ErrInvalidKey)) {
			t.Errorf("ValidateKey(%q) = %v", c.key, verr)
		}
	}
}
