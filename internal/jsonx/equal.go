package jsonx

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
)

// Equal reports whether a and b are JSON texts with the same meaning.
// Whitespace, the order of object members and the spelling of strings
// (escapes) and numbers do not matter: numbers are equal when they denote
// the same exact decimal value, so 1, 1.0, 1e0 and 10e-1 are equal, as are 0
// and -0, and 1e300 equals a 1 followed by 300 zeros. Arrays compare element
// by element, objects member by member. Equal is false if either text is
// not exactly one JSON value, or holds a number whose exponent is beyond
// ±2^62.
//
// Numbers are compared on their decimal digits, never converted to float64
// or big.Rat, so the comparison is exact at any precision and cheap at any
// exponent.
func Equal(a, b []byte) bool {
	va, ok := decodeValue(a)
	if !ok {
		return false
	}
	vb, ok := decodeValue(b)
	if !ok {
		return false
	}
	return valueEqual(va, vb)
}

// decodeValue decodes exactly one JSON value, keeping numbers as text.
func decodeValue(b []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

func valueEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		return ok && numberEqual(string(x), string(y))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valueEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !valueEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// decimal is a JSON number in a canonical form: the value is
// (neg ? -1 : 1) * digits * 10^exp, where digits has no leading or trailing
// zeros. Zero is the empty digits (and is never negative).
type decimal struct {
	neg    bool
	digits string
	exp    int64
}

// numberEqual compares two JSON numbers by exact value.
func numberEqual(a, b string) bool {
	da, ok := parseDecimal(a)
	if !ok {
		return false
	}
	db, ok := parseDecimal(b)
	if !ok {
		return false
	}
	return da == db
}

// parseDecimal parses JSON number text
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) into its canonical form.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		d.neg = true
		s = rest
	}
	mant, expText := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText = s[:i], s[i+1:]
	}
	if expText != "" {
		e, err := strconv.ParseInt(expText, 10, 64)
		if err != nil {
			return decimal{}, false
		}
		d.exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" {
		return decimal{}, false
	}
	for _, r := range intPart + frac {
		if r < '0' || r > '9' {
			return decimal{}, false
		}
	}
	if d.exp < math.MinInt64/2 || d.exp > math.MaxInt64/2 {
		return decimal{}, false // beyond what any store writes; avoids overflow
	}
	d.exp -= int64(len(frac))
	digits := strings.TrimLeft(intPart+frac, "0")
	trimmed := strings.TrimRight(digits, "0")
	d.exp += int64(len(digits) - len(trimmed))
	d.digits = trimmed
	if d.digits == "" {
		return decimal{}, true // zero, whatever its sign and exponent
	}
	return d, true
}
