package jsonx

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DecodeMessage says what encoding/json refused in a document in the
// wire's terms: the member's path and what it must be, not the Go types,
// struct names and embedded structs it was decoded into. Other errors
// keep their text, less a "json: " prefix.
func DecodeMessage(err error) string {
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &te) && wirePath(te.Field) == "":
		return fmt.Sprintf("%s is not %s", Clip(te.Value), wireKind(te.Type))
	case errors.As(err, &te):
		return fmt.Sprintf("member %q: %s is not %s", Clip(wirePath(te.Field)), Clip(te.Value), wireKind(te.Type))
	case errors.As(err, &pe):
		return fmt.Sprintf("%q is not an RFC 3339 time", Clip(pe.Value))
	case strings.Contains(err.Error(), "Time.UnmarshalJSON"):
		return "a time is an RFC 3339 string"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			return fmt.Sprintf("unknown member %q", Clip(n))
		}
	}
	return Clip(msg)
}

// MaxClip is the most bytes of a caller's text that Clip keeps.
const MaxClip = 64

// Clip is s for a message: whole when at most MaxClip bytes, else its
// first MaxClip bytes (less a rune they cut) and "…", so that an answer
// never sends a caller's megabyte of member name, number or string back.
func Clip(s string) string { return ClipAt(s, MaxClip) }

// MaxEcho is the most bytes of a caller's key, namespace name or other
// name that ClipLong keeps whole: every valid key (storage.MaxKeyLen) and
// namespace name is echoed whole in an error, a longer one clipped.
const MaxEcho = 1024

// ClipLong is s for a message or an error's key or namespace member:
// whole when at most MaxEcho bytes, else Clip(s), so that an error about
// a caller's megabyte of key or namespace name does not quote it whole
// (quoted with %q, and again as JSON, a 3-byte character can take 7
// bytes: a 32 MiB body was a 112 MiB answer).
func ClipLong(s string) string {
	if len(s) <= MaxEcho {
		return s
	}
	return Clip(s)
}

// ClipAt is s whole when at most n bytes, else its first n bytes (less a
// rune they cut) and "…".
func ClipAt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// wirePath is a json.UnmarshalTypeError's Field without the names of
// embedded structs (the wire's member names all begin in lower case).
func wirePath(field string) string {
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if r, _ := utf8.DecodeRuneInString(p); !unicode.IsUpper(r) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// wireKind names what a member of Go type t must be on the wire.
func wireKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		hi := int64(^uint64(0) >> (65 - t.Bits()))
		return fmt.Sprintf("a whole number in integer notation (no fraction, no exponent) from %d to %d", -hi-1, hi)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number in integer notation (no fraction, no exponent) from 0 to " + strconv.FormatUint(^uint64(0)>>(64-t.Bits()), 10)
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "of the expected type"
	}
}

// DecodeDepth is the deepest nesting encoding/json decodes: it refuses a
// document nested deeper as malformed ("exceeded max depth"), whatever
// member holds the nesting.
const DecodeDepth = 10000

// Flatten returns the JSON document b with every array and object that
// starts deeper than maxDepth (at most DecodeDepth) replaced by a 0 and
// spaces, so that it keeps its length and its text up to there, and
// encoding/json decodes the rest of the document. A member that nests that
// deep is then refused by its own check (a value's nesting, its type) with
// its own error, not the whole document as malformed; maxDepth must be
// beyond every such limit. It returns b itself, unchanged, when nothing
// nests that deep, and a copy otherwise; b is not modified. It does not
// check b, whose decoding still refuses what is malformed outside the
// replaced parts.
func Flatten(b []byte, maxDepth int) []byte {
	out := b
	flatten := func(start, end int) {
		if &out[0] == &b[0] {
			out = append([]byte(nil), b...)
		}
		out[start] = '0'
		for j := start + 1; j < end; j++ {
			out[j] = ' '
		}
	}
	depth, start := 0, -1 // start: where the part too deep began
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = skipString(b, i) - 1
		case '{', '[':
			depth++
			if depth > maxDepth && start < 0 {
				start = i
			}
		case '}', ']':
			depth--
			if start >= 0 && depth == maxDepth {
				flatten(start, i+1)
				start = -1
			}
		}
	}
	if start >= 0 { // it does not end
		flatten(start, len(b))
	}
	return out
}
