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
func Clip(s string) string {
	if len(s) <= MaxClip {
		return s
	}
	return strings.ToValidUTF8(s[:MaxClip], "") + "…"
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
		return fmt.Sprintf("a whole number from %d to %d", -hi-1, hi)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number from 0 to " + strconv.FormatUint(^uint64(0)>>(64-t.Bits()), 10)
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
