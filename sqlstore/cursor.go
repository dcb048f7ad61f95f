package sqlstore

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// cursor is the position after the last result of a page. It travels as
// base64url JSON. It is not signed: a forged cursor can only move the page
// (its values are bound parameters), and a cursor of another listing is
// refused by its fingerprint.
type cursor struct {
	Op   string      `json:"o"` // "list" or "query"
	Hash string      `json:"h"` // fingerprint of namespace, pattern or filter, and sort
	Key  string      `json:"k"` // the last key
	Vals []sortValue `json:"v,omitempty"`
}

// sortValue is the last row's value of one sort field: for a path, its type
// rank and its number or string; for $version and the times, an integer
// (times in unix microseconds); for $key, the key.
type sortValue struct {
	Rank int64   `json:"r,omitempty"`
	Num  string  `json:"n,omitempty"` // strconv 'g' -1: exact, and spells ±Inf
	Str  *string `json:"s,omitempty"`
	Int  int64   `json:"i,omitempty"`
}

func (v sortValue) num() (float64, error) {
	return strconv.ParseFloat(v.Num, 64)
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // cannot fail: strings and integers only
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor given to After and checks that it belongs to
// operation op with fingerprint hash.
func decodeCursor(s, op, hash string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Op == "" {
		return c, driver.Invalidf(storage.ErrInvalidOption, "After: malformed cursor")
	}
	if !cursorText(c.Key) {
		return c, driver.Invalidf(storage.ErrInvalidOption, "After: malformed cursor")
	}
	for _, v := range c.Vals {
		if v.Str != nil && !cursorText(*v.Str) {
			return c, driver.Invalidf(storage.ErrInvalidOption, "After: malformed cursor")
		}
	}
	if c.Op != op {
		return c, driver.Invalidf(storage.ErrInvalidOption, "After: the cursor belongs to %s, not %s", c.Op, op)
	}
	if c.Hash != hash {
		return c, driver.Invalidf(storage.ErrInvalidOption,
			"After: the cursor belongs to another %s (a different namespace, %s or sort)", op, map[string]string{"list": "pattern", "query": "filter"}[op])
	}
	return c, nil
}

// cursorText reports whether a cursor's string can be a key or a stored
// string: valid UTF-8 without NUL, which no database could compare with.
// Only a forged cursor fails it.
func cursorText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// fingerprint hashes what a cursor must be reused with.
func fingerprint(parts ...any) string {
	b, _ := json.Marshal(parts)
	return hashBytes(b)
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// appendQueryHashInput appends the bytes that queryHashJSON hashes,
// json.Marshal of ["query", namespace, filter, sort], for the calls
// whose every string is plain (plainJSON) and every value a string, a
// bool, an int or an integral float64 below 1e15: the bytes encoding/json
// writes for them are these (TestQueryHashFast). ok is false for other
// calls, which queryHash hashes through encoding/json. Marshalling the
// filter by reflection was 4% of a range + sort page's CPU on SQLite and
// 12% of the client's on PostgreSQL.
func appendQueryHashInput(b []byte, f storage.Filter, o driver.CallOptions) ([]byte, bool) {
	if !plainJSON(o.Namespace.Name) {
		return b, false
	}
	b = append(b, `["query","`...)
	b = append(b, o.Namespace.Name...)
	b = append(b, `",`...)
	b, ok := appendFilterJSON(b, f)
	if !ok {
		return b, false
	}
	b = append(b, ',')
	if o.Sort == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range o.Sort {
			if !plainJSON(s.Field) {
				return b, false
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Field":"`...)
			b = append(b, s.Field...)
			b = append(b, `","Desc":`...)
			b = strconv.AppendBool(b, s.Desc)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, ']'), true
}

// appendFilterJSON appends json.Marshal(f) (driver.Filter.MarshalJSON)
// for the filters appendQueryHashInput takes; ok is false for others.
func appendFilterJSON(b []byte, f storage.Filter) ([]byte, bool) {
	list := func(b []byte, head string, fs []storage.Filter) ([]byte, bool) {
		b = append(b, head...)
		for i, c := range fs {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendFilterJSON(b, c); !ok {
				return b, false
			}
		}
		return append(b, "]}"...), true
	}
	switch {
	case f.And != nil:
		return list(b, `{"and":[`, f.And)
	case f.Or != nil:
		return list(b, `{"or":[`, f.Or)
	case f.Not != nil:
		b = append(b, `{"not":`...)
		b, ok := appendFilterJSON(b, *f.Not)
		return append(b, '}'), ok
	case f.IsZero():
		return append(b, "{}"...), true
	}
	if !plainJSON(f.Field) || !plainJSON(string(f.Op)) {
		return b, false
	}
	b = append(b, `{"field":"`...)
	b = append(b, f.Field...)
	b = append(b, `","operator":"`...)
	b = append(b, f.Op...)
	b = append(b, `","value":`...)
	switch v := f.Value.(type) {
	case string:
		if !plainJSON(v) {
			return b, false
		}
		b = append(b, '"')
		b = append(b, v...)
		b = append(b, '"')
	case bool:
		b = strconv.AppendBool(b, v)
	case int:
		b = strconv.AppendInt(b, int64(v), 10)
	case int64:
		b = strconv.AppendInt(b, v, 10)
	case float64:
		// encoding/json spells an integral double below 1e21 as an
		// integer, and -0 as "-0".
		if v != math.Trunc(v) || math.Abs(v) >= 1e15 || (v == 0 && math.Signbit(v)) {
			return b, false
		}
		b = strconv.AppendInt(b, int64(v), 10)
	default:
		return b, false
	}
	return append(b, '}'), true
}

// plainJSON reports whether encoding/json writes s as itself between
// quotes: printable ASCII without '"', '\\' and the HTML characters it
// escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
