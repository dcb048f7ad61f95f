package sqlstore

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
