package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// Limits of the contract.
const (
	// MaxKeyLen is the longest key, in bytes.
	MaxKeyLen = 1024
	// MaxDepth is the deepest nesting of arrays and objects a value may have.
	MaxDepth = 1000
	// DefaultNamespace is the namespace of operations that name none.
	DefaultNamespace = "default"
	// DefaultMaxValueSize is the default maximum size of a value's JSON
	// encoding, and of metadata's.
	DefaultMaxValueSize = 16 << 20
	// MaxNumberExpansion and NumberExpansionSlack bound what a value's
	// numbers may take written out in full (see EncodeValue).
	MaxNumberExpansion   = jsonx.MaxExpansion
	NumberExpansionSlack = jsonx.ExpansionSlack
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
		return invalid(ErrInvalidKey, "key %q is in the principal scheme but not canonical principal://{pkr}/data/{path}: %s", key, why)
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

// NamespaceName is a validated namespace. Name is what is stored; Owner is
// the principal's PKR for the principal-scoped forms, else "".
type NamespaceName struct {
	Name  string
	Owner string
}

var (
	plainNamespace = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	// A PKR as it appears in a namespace: base64url, base58 or hex text.
	pkrPattern = regexp.MustCompile(`^[A-Za-z0-9._~+=-]{1,256}$`)
)

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
	if plainNamespace.MatchString(name) {
		return NamespaceName{Name: name}, nil
	}
	rest, ok := strings.CutPrefix(name, PrincipalScheme)
	if !ok {
		if name == "" {
			return NamespaceName{}, invalid(ErrInvalidNamespace, "namespace is empty")
		}
		return NamespaceName{}, invalid(ErrInvalidNamespace,
			"namespace %q must match [A-Za-z0-9][A-Za-z0-9._-]{0,127} or be principal://{pkr}[/namespace/{name}]", name)
	}
	pkr, sub, hasSub := strings.Cut(rest, "/")
	if !pkrPattern.MatchString(pkr) || pkr == "." || pkr == ".." {
		return NamespaceName{}, invalid(ErrInvalidNamespace, "namespace %q: invalid principal %q", name, pkr)
	}
	if hasSub {
		inner, ok := strings.CutPrefix(sub, "namespace/")
		if !ok || !plainNamespace.MatchString(inner) {
			return NamespaceName{}, invalid(ErrInvalidNamespace,
				"namespace %q: a principal namespace is principal://{pkr} or principal://{pkr}/namespace/{name}", name)
		}
	}
	return NamespaceName{Name: name, Owner: pkr}, nil
}

// EncodeValue marshals v to JSON as encoding/json does (json.RawMessage
// passes through as it is; a []byte is a base64 string, as json.Marshal
// writes it) and checks that it is storable on every dialect:
// valid UTF-8 JSON, no NaN or infinities, no \u0000 or unpaired surrogate
// escapes, no duplicate object keys, nesting at most MaxDepth, at most
// maxSize bytes (0 = DefaultMaxValueSize), and numbers that written out in
// full (PostgreSQL's jsonb stores and returns 1e300 as 301 digits) leave the
// value at most MaxNumberExpansion times its size plus
// NumberExpansionSlack bytes, so that no read answers much more than was
// written; SQLite, which keeps the spelling, refuses the same values.
func EncodeValue(v any, maxSize int) ([]byte, error) {
	var b []byte
	switch x := v.(type) {
	case json.RawMessage:
		b = x
	default:
		var err error
		b, err = json.Marshal(v)
		if err != nil {
			var uve *json.UnsupportedValueError
			if errors.As(err, &uve) {
				return nil, invalid(ErrInvalidValue, "%s", uve.Str+" is not representable in JSON")
			}
			return nil, invalid(ErrInvalidValue, "cannot marshal %T: %v", v, err)
		}
	}
	return checkJSON(b, maxSize)
}

func checkJSON(b []byte, maxSize int) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxValueSize
	}
	if len(b) > maxSize {
		return nil, invalid(ErrValueTooLarge, "%d bytes, more than the maximum %d", len(b), maxSize)
	}
	if err := jsonx.Check(b, MaxDepth); err != nil {
		return nil, invalid(ErrInvalidValue, "%v", err)
	}
	return b, nil
}

// EncodeMetadata encodes user metadata given the way a value is given
// (see EncodeValue: a Go value, a map or a struct, marshals with
// encoding/json; json.RawMessage passes through unchanged) and checks it
// once: storable like a value, at most maxSize bytes (0 =
// DefaultMaxValueSize), and a JSON object. A nil md, or a nil map, slice
// or pointer, is no metadata: EncodeMetadata returns nil and no error,
// and the caller decides what none means (SetMetadata and WithMetadata
// write {}; a SetMany Item takes the batch's metadata).
func EncodeMetadata(md any, maxSize int) ([]byte, error) {
	if noMetadata(md) {
		return nil, nil
	}
	b, err := EncodeValue(md, maxSize)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return nil, invalid(ve.Err, "metadata: %s", ve.Reason)
		}
		return nil, err
	}
	if !jsonx.IsObject(b) {
		return nil, invalid(ErrInvalidValue, "metadata must be a JSON object, not %s", jsonKind(b))
	}
	return b, nil
}

// noMetadata reports whether md is nil, or a nil map, slice or pointer.
func noMetadata(md any) bool {
	switch x := md.(type) {
	case nil:
		return true
	case map[string]any:
		return x == nil
	case json.RawMessage:
		return x == nil
	}
	v := reflect.ValueOf(md)
	switch v.Kind() {
	case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// jsonKind names the JSON type of valid JSON text b, for messages.
func jsonKind(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return "empty"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	}
	return "a number"
}

// CheckMetadataJSON checks metadata given as JSON text: storable, and an
// object.
func CheckMetadataJSON(b []byte, maxSize int) ([]byte, error) {
	b, err := checkJSON(b, maxSize)
	if err != nil {
		return nil, err
	}
	if !jsonx.IsObject(b) {
		return nil, invalid(ErrInvalidValue, "metadata must be a JSON object")
	}
	return b, nil
}
