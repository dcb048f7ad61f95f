package storage

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// Limits of the contract.
const (
	// MaxKeyLen is the longest key, in bytes.
	MaxKeyLen = 1024
	// MaxDepth is the deepest nesting of arrays and objects a value may have.
	MaxDepth = driver.MaxDepth
	// DefaultNamespace is the namespace of operations that name none.
	DefaultNamespace = driver.DefaultNamespace
	// DefaultMaxValueSize is the default maximum size of a value's JSON
	// encoding, and of metadata's.
	DefaultMaxValueSize = driver.DefaultMaxValueSize
	// MaxNumberExpansion and NumberExpansionSlack bound what a value's
	// numbers may take written out in full (see driver.EncodeValue).
	MaxNumberExpansion   = driver.MaxNumberExpansion
	NumberExpansionSlack = driver.NumberExpansionSlack
	// PrincipalScheme prefixes principal-scoped namespaces.
	PrincipalScheme = "principal://"
)

// ValidateKey checks a key: non-empty, valid UTF-8, no NUL, at most
// MaxKeyLen bytes, and, if it starts with the principal scheme in any
// letter case, canonical (KeyOwner). Keys are otherwise opaque (":" and
// "/" are fine).
func ValidateKey(key string) error {
	switch {
	case key == "":
		return invalid(ErrInvalidKey, "key is empty")
	case len(key) > MaxKeyLen:
		return invalid(ErrInvalidKey, "key is %d bytes, more than %d", len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return invalid(ErrInvalidKey, "key is not valid UTF-8")
	case strings.IndexByte(key, 0) >= 0:
		return invalid(ErrInvalidKey, "key contains NUL")
	}
	_, err := KeyOwner(key)
	return err
}

// KeyOwner is the one rule for keys in the principal scheme. A key that
// does not start with "principal://" in any letter case belongs to no one
// (owner ""). One that does must be canonical: the scheme in lower case, a
// valid {pkr} (as in ParseNamespace), "/data/", then a path of non-empty
// segments that are not "." or "..", with no "\" and no percent-encoded
// "/" or "\"; it then belongs to {pkr}. Anything else ("Principal://…",
// "principal://a/data/../b", "principal://a/x", a trailing "/") is refused
// with ErrInvalidKey on every path, so that no store ever holds a key that
// looks like a principal's but is not, and a prefix match on
// "principal://{pkr}/data/" finds exactly {pkr}'s keys.
func KeyOwner(key string) (owner string, err error) {
	const n = len(PrincipalScheme)
	if len(key) < n || !strings.EqualFold(key[:n], PrincipalScheme) {
		return "", nil
	}
	bad := func(why string) error {
		return invalid(ErrInvalidKey, "key %q is in the principal scheme but not canonical principal://{pkr}/data/{path}: %s", jsonx.ClipLong(key), why)
	}
	rest, ok := strings.CutPrefix(key, PrincipalScheme)
	if !ok {
		return "", bad("the scheme must be lower case")
	}
	pk, path, ok := strings.Cut(rest, "/data/")
	if !ok || !pkrPattern.MatchString(pk) || pk == "." || pk == ".." {
		return "", bad("want a valid {pkr} then /data/")
	}
	lower := strings.ToLower(path)
	if strings.Contains(path, `\`) || strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return "", bad(`no "\", "%2F" or "%5C" in the path`)
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", bad(`the path's segments are non-empty and not "." or ".."`)
		}
	}
	return pk, nil
}

// NamespaceName is a validated namespace (ParseNamespace). Name is what is
// stored; Owner is the principal's PKR for the principal-scoped forms, else
// "".
type NamespaceName = driver.NamespaceName

// A PKR as it appears in a namespace: base64url, base58 or hex text.
var pkrPattern = regexp.MustCompile(`^[A-Za-z0-9._~+=-]{1,256}$`)

// plainNamespace reports whether name matches
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, without a regexp: every call of the
// store checks its namespace option (TestPlainNamespace compares it with
// the regexp).
func plainNamespace(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// ParseNamespace validates a namespace name. Two forms are accepted:
//
//   - plain: [A-Za-z0-9][A-Za-z0-9._-]{0,127}, so the reserved characters
//     "/", ":" and "*" never appear;
//   - principal-scoped: "principal://{pkr}" or
//     "principal://{pkr}/namespace/{plain}", where {pkr} is 1 to 256
//     characters of [A-Za-z0-9._~+=-]. Such a namespace is owned by {pkr}.
//
// An empty name is invalid; callers that mean "the default" omit the option.
func ParseNamespace(name string) (NamespaceName, error) {
	if plainNamespace(name) {
		return NamespaceName{Name: name}, nil
	}
	rest, ok := strings.CutPrefix(name, PrincipalScheme)
	if !ok {
		if name == "" {
			return NamespaceName{}, invalid(ErrInvalidNamespace, "namespace is empty")
		}
		return NamespaceName{}, invalid(ErrInvalidNamespace,
			"namespace %q must match [A-Za-z0-9][A-Za-z0-9._-]{0,127} or be principal://{pkr}[/namespace/{name}]", jsonx.ClipLong(name))
	}
	pkr, sub, hasSub := strings.Cut(rest, "/")
	if !pkrPattern.MatchString(pkr) || pkr == "." || pkr == ".." {
		return NamespaceName{}, invalid(ErrInvalidNamespace, "namespace %q: invalid principal %q", jsonx.ClipLong(name), jsonx.ClipLong(pkr))
	}
	if hasSub {
		inner, ok := strings.CutPrefix(sub, "namespace/")
		if !ok || !plainNamespace(inner) {
			return NamespaceName{}, invalid(ErrInvalidNamespace,
				"namespace %q: a principal namespace is principal://{pkr} or principal://{pkr}/namespace/{name}", jsonx.ClipLong(name))
		}
	}
	return NamespaceName{Name: name, Owner: pkr}, nil
}
