package storagedocstore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage"
	"gocloud.dev/docstore/driver"
)

// The storage format of a document (see the package documentation).
const (
	// bytesTag is the only member of the object that stands for a []byte.
	bytesTag = "$bytes"
	// timeLayout is a time's stored spelling: UTC, nine fractional digits,
	// so that stored times of any precision compare as strings in time
	// order (and a filter on a time field is a string comparison).
	timeLayout = "2006-01-02T15:04:05.000000000Z"
)

var timeType = reflect.TypeFor[time.Time]()

// escapeKey keeps a member name that starts with "$" apart from the
// driver's own "$bytes": such names are stored with one more "$".
func escapeKey(k string) string {
	if strings.HasPrefix(k, "$") {
		return "$" + k
	}
	return k
}

func unescapeKey(k string) string {
	if strings.HasPrefix(k, "$$") {
		return k[1:]
	}
	return k
}

func escapePath(fp []string) []string {
	out := make([]string, len(fp))
	for i, s := range fp {
		out[i] = escapeKey(s)
	}
	return out
}

func formatTime(t time.Time) (string, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("storagedocstore: time %v: only years 0 to 9999 are stored: %w", t, storage.ErrInvalidValue)
	}
	return t.Format(timeLayout), nil
}

// parseStoredTime reports whether s is a time in its stored spelling.
func parseStoredTime(s string) (time.Time, bool) {
	if len(s) != len(timeLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(timeLayout, s)
	return t, err == nil
}

// encoder turns a Go value into a JSON tree: nil, bool, string, int64,
// uint64, float64, []any and map[string]any.
type encoder struct{ val any }

func (e *encoder) EncodeNil()            { e.val = nil }
func (e *encoder) EncodeBool(b bool)     { e.val = b }
func (e *encoder) EncodeString(s string) { e.val = s }
func (e *encoder) EncodeInt(i int64)     { e.val = i }
func (e *encoder) EncodeUint(u uint64)   { e.val = u }
func (e *encoder) EncodeFloat(f float64) { e.val = f }
func (e *encoder) EncodeBytes(b []byte) {
	e.val = map[string]any{bytesTag: base64.StdEncoding.EncodeToString(b)}
}
func (e *encoder) ListIndex(int) { panic("ListIndex outside a list") }
func (e *encoder) MapKey(string) { panic("MapKey outside a map") }

func (e *encoder) EncodeList(n int) driver.Encoder {
	s := make([]any, n)
	e.val = s
	return &listEncoder{s: s}
}

func (e *encoder) EncodeMap(n int) driver.Encoder {
	m := make(map[string]any, n)
	e.val = m
	return &mapEncoder{m: m}
}

func (e *encoder) EncodeSpecial(v reflect.Value) (bool, error) {
	if v.Type() != timeType {
		return false, nil
	}
	s, err := formatTime(v.Interface().(time.Time))
	e.val = s
	return true, err
}

type listEncoder struct {
	encoder
	s []any
}

func (l *listEncoder) ListIndex(i int) { l.s[i] = l.val }

type mapEncoder struct {
	encoder
	m map[string]any
}

func (m *mapEncoder) MapKey(k string) { m.m[escapeKey(k)] = m.val }

// encodeValue encodes one Go value (a document, or a Mod's value).
func encodeValue(v any) (any, error) {
	var e encoder
	if err := driver.Encode(reflect.ValueOf(v), &e); err != nil {
		return nil, err
	}
	return e.val, nil
}

// encodeDoc encodes a document into the JSON object stored for it, without
// its revision field.
func encodeDoc(doc driver.Document, revField string) (map[string]any, error) {
	var e encoder
	if err := doc.Encode(&e); err != nil {
		return nil, err
	}
	m, ok := e.val.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("storagedocstore: a document encodes to %T, not an object: %w", e.val, storage.ErrInvalidValue)
	}
	delete(m, escapeKey(revField))
	return m, nil
}

// decodeJSON reads stored JSON into a tree whose numbers are json.Number.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("storagedocstore: stored value: %w", storage.ErrInvalidValue)
	}
	return v, nil
}

// decoder reads a JSON tree (as decodeJSON makes it, plus int64 for the
// revision) into Go values.
type decoder struct{ val any }

func (d decoder) String() string { return fmt.Sprint(d.val) }

func (d decoder) AsNull() bool { return d.val == nil }

func (d decoder) AsBool() (bool, bool) {
	b, ok := d.val.(bool)
	return b, ok
}

func (d decoder) AsString() (string, bool) {
	s, ok := d.val.(string)
	return s, ok
}

func (d decoder) AsInt() (int64, bool) {
	switch v := d.val.(type) {
	case int64:
		return v, true
	case json.Number:
		i, err := strconv.ParseInt(string(v), 10, 64)
		return i, err == nil
	}
	return 0, false
}

func (d decoder) AsUint() (uint64, bool) {
	switch v := d.val.(type) {
	case int64:
		return uint64(v), v >= 0
	case json.Number:
		u, err := strconv.ParseUint(string(v), 10, 64)
		return u, err == nil
	}
	return 0, false
}

func (d decoder) AsFloat() (float64, bool) {
	switch v := d.val.(type) {
	case int64:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

// AsBytes reads the tagged object, and also a base64 string (what
// encoding/json writes for a []byte) when the destination is a []byte.
func (d decoder) AsBytes() ([]byte, bool) {
	switch v := d.val.(type) {
	case map[string]any:
		return taggedBytes(v)
	case string:
		b, err := base64.StdEncoding.DecodeString(v)
		return b, err == nil
	}
	return nil, false
}

func taggedBytes(m map[string]any) ([]byte, bool) {
	if len(m) != 1 {
		return nil, false
	}
	s, ok := m[bytesTag].(string)
	if !ok {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

func (d decoder) ListLen() (int, bool) {
	s, ok := d.val.([]any)
	return len(s), ok
}

func (d decoder) DecodeList(f func(int, driver.Decoder) bool) {
	for i, v := range d.val.([]any) {
		if !f(i, decoder{v}) {
			return
		}
	}
}

func (d decoder) MapLen() (int, bool) {
	m, ok := d.val.(map[string]any)
	if !ok {
		return 0, false
	}
	if _, isBytes := taggedBytes(m); isBytes {
		return 0, false
	}
	return len(m), true
}

func (d decoder) DecodeMap(f func(string, driver.Decoder, bool) bool) {
	m, ok := d.val.(map[string]any)
	if !ok {
		return
	}
	for k, v := range m {
		// false: a member matches a struct field as in encoding/json,
		// exactly or else case-insensitively.
		if !f(unescapeKey(k), decoder{v}, false) {
			return
		}
	}
}

// AsInterface decodes into the Go value that best represents the stored
// one: an integer as int64 (uint64 above its range), any other number as
// float64, a string in the stored time spelling as time.Time, the tagged
// object as []byte.
func (d decoder) AsInterface() (any, error) {
	switch v := d.val.(type) {
	case nil, bool, int64:
		return v, nil
	case string:
		if t, ok := parseStoredTime(v); ok {
			return t, nil
		}
		return v, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return u, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("storagedocstore: number %s: %w", v, storage.ErrInvalidValue)
		}
		return f, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			x, err := decoder{e}.AsInterface()
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case map[string]any:
		if b, ok := taggedBytes(v); ok {
			return b, nil
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			x, err := decoder{e}.AsInterface()
			if err != nil {
				return nil, err
			}
			out[unescapeKey(k)] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("storagedocstore: cannot decode %T: %w", d.val, storage.ErrInvalidValue)
}

// AsSpecial decodes a time from any RFC 3339 string (the stored spelling,
// or encoding/json's).
func (d decoder) AsSpecial(v reflect.Value) (bool, any, error) {
	if v.Type() != timeType {
		return false, nil, nil
	}
	s, ok := d.val.(string)
	if !ok {
		return true, nil, fmt.Errorf("storagedocstore: %v is not a time: %w", d.val, storage.ErrInvalidValue)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return true, nil, fmt.Errorf("storagedocstore: %q is not an RFC 3339 time: %w", s, storage.ErrInvalidValue)
	}
	return true, t, nil
}
