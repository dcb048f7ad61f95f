package storetest

import "github.com/mycelia-kernel/storage/internal/jsonx"

// JSONEqual reports whether a and b are JSON texts with the same meaning.
// Whitespace, the order of object members and the spelling of strings
// (escapes) and numbers do not matter: numbers are equal when they denote
// the same exact decimal value, so 1, 1.0, 1e0 and 10e-1 are equal, as are 0
// and -0, and 1e300 equals a 1 followed by 300 zeros. Arrays compare element
// by element, objects member by member. JSONEqual is false if either text is
// not exactly one JSON value, or holds a number whose exponent is beyond
// ±2^62.
//
// It is the comparison the suite uses for values read back from a store,
// whose database may normalize JSON without changing its meaning.
func JSONEqual(a, b []byte) bool { return jsonx.Equal(a, b) }
