package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"

	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// Limits of the contract (package storage re-exports them).
const (
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
)

// NamespaceName is a validated namespace. Name is what is stored; Owner is
// the principal's PKR for the principal-scoped forms, else "".
type NamespaceName struct {
	Name  string
	Owner string
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
