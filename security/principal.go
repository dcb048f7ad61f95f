package security

import (
	"context"
	"fmt"

	"github.com/mycelia-kernel/storage"
)

// PKR is a public-key record: the public key that identifies a principal,
// plus optional attributes. Only PublicKey takes part in identity: two PKRs
// with the same public key are the same principal.
type PKR struct {
	// PublicKey is the key's text (base64url, base58 or hex): 1 to 256
	// characters of [A-Za-z0-9._~+=-], and not "." or "..", the charset
	// storage.ParseNamespace accepts for {pkr} in principal://{pkr}.
	PublicKey string
	// Attributes are optional descriptive attributes (a name, a kind). They
	// are never used for authorization.
	Attributes map[string]string
}

// NewPKR returns the PKR of publicKey, or an error wrapping
// storage.ErrInvalidNamespace when publicKey is not a valid {pkr}.
func NewPKR(publicKey string, attrs map[string]string) (PKR, error) {
	p := PKR{PublicKey: publicKey, Attributes: attrs}
	return p, p.Validate()
}

// Validate checks that the public key is a valid {pkr}.
func (p PKR) Validate() error { return validatePKR(p.PublicKey) }

// String returns the canonical form: the public key, exactly as it appears
// in principal://{pkr}.
func (p PKR) String() string { return p.PublicKey }

// Namespace returns the principal's own namespace, principal://{pkr}.
func (p PKR) Namespace() string { return storage.PrincipalScheme + p.PublicKey }

// SubNamespace returns principal://{pkr}/namespace/{name}.
func (p PKR) SubNamespace(name string) string {
	return storage.PrincipalScheme + p.PublicKey + "/namespace/" + name
}

// DataKey returns the principal-owned key principal://{pkr}/data/{name}.
func (p PKR) DataKey(name string) string {
	return storage.PrincipalScheme + p.PublicKey + "/data/" + name
}

func validatePKR(pk string) error {
	ns, err := storage.ParseNamespace(storage.PrincipalScheme + pk)
	if err != nil || ns.Owner != pk {
		return fmt.Errorf("security: invalid public key %q: %w", pk, storage.ErrInvalidNamespace)
	}
	return nil
}

// Permission is a set of access rights: Read, Write, or both.
type Permission uint8

// The permissions.
const (
	Read  Permission = 1 << iota // r: Get, Has, GetMany, GetMetadata, List, Query, Count
	Write                        // w: Set, Delete, batches, SetMetadata, Clear, namespace create and delete
	// ReadWrite is both.
	ReadWrite = Read | Write
)

// ParsePermission reads "r", "w" or "rw" (also "wr").
func ParsePermission(s string) (Permission, error) {
	switch s {
	case "r":
		return Read, nil
	case "w":
		return Write, nil
	case "rw", "wr":
		return ReadWrite, nil
	}
	return 0, fmt.Errorf("security: invalid permission %q: want r, w or rw", s)
}

// Has reports whether p includes every right of q.
func (p Permission) Has(q Permission) bool { return p&q == q }

func (p Permission) String() string {
	switch p {
	case Read:
		return "r"
	case Write:
		return "w"
	case ReadWrite:
		return "rw"
	}
	return "-"
}

type principalKey struct{}

// WithPrincipal returns a context that carries p as the acting principal.
// It also names p's canonical PKR as the actor (storage.ContextWithActor),
// so the store records it in the created-by and updated-by audit fields.
// An authorizing store refuses a principal whose PKR is not valid with
// storage.ErrUnauthenticated.
func WithPrincipal(ctx context.Context, p PKR) context.Context {
	ctx = context.WithValue(ctx, principalKey{}, p)
	return storage.ContextWithActor(ctx, p.String())
}

// PrincipalFrom returns the principal WithPrincipal put in ctx.
func PrincipalFrom(ctx context.Context) (PKR, bool) {
	p, ok := ctx.Value(principalKey{}).(PKR)
	return p, ok
}
