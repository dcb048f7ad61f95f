// Package jsonx checks JSON text and applies JSON merge patches for the
// storage engine, which keeps values in PostgreSQL jsonb and in SQLite JSONB
// and needs both to accept exactly the same values.
//
// # Check
//
// Check is a single-pass, hand-written scanner (encoding/json is not used)
// that accepts a value only if it is exactly one RFC 8259 JSON value and
// every dialect can store it. On top of the RFC 8259 grammar it refuses:
//
//   - invalid UTF-8 anywhere;
//   - the escape \u0000 in any string or object key (PostgreSQL's jsonb
//     cannot hold U+0000); an escaped backslash followed by the text u0000,
//     as in "\\u0000", is fine;
//   - unpaired UTF-16 surrogate escapes: a \uD800-\uDBFF escape not
//     immediately followed by a \uDC00-\uDFFF escape, or a lone
//     \uDC00-\uDFFF escape (PostgreSQL refuses them);
//   - duplicate keys within one object, compared after decoding escapes, so
//     "a" and "\u0061" are duplicates (jsonb keeps only the last one, so the
//     dialects would disagree about the value);
//   - arrays and objects nested deeper than a limit (the depth of [] is 1);
//   - numbers that PostgreSQL's numeric type cannot hold: more than 131072
//     digits before the decimal point, more than 16383 after it, or an
//     exponent of magnitude 2^30-1 or more (for example 1e200000 or
//     1e-20000). Such numbers are valid JSON, but PostgreSQL's jsonb refuses
//     them with "value overflows numeric format".
//
// Check runs in time linear in the input and allocates nothing but the
// error it returns: the state it keeps to find duplicate keys (a slice of
// key references per object, switching to an open-addressing hash table for
// objects with more than a few keys) lives in pooled scanners that are
// reused across objects and calls. Errors are *Error values whose message
// gives the byte offset of the problem, for example
//
//	invalid JSON at offset 12: unexpected character ']' looking for beginning of value
//	string contains \u0000 at offset 5
//	duplicate object key "a" at offset 9
//
// Everything Check accepts, encoding/json's Valid accepts too, as long as
// the depth limit is at most 10000 (the limit of encoding/json).
//
// # MergePatch
//
// MergePatch implements RFC 7396 JSON merge patch. It works on the JSON text
// itself: values it does not need to look into are copied as they are
// written (whitespace removed), so numbers keep their exact spelling and
// precision, and only the objects the patch reaches into are taken apart.
// Its output is compact JSON.
//
// # Equal
//
// Equal compares two JSON texts by meaning: whitespace, member order and
// spelling aside, numbers as exact decimals (1.0 equals 1, 1e2 equals 100,
// at any precision and exponent). The engine's Restore uses it to tell an
// unchanged entry from a conflict, and package storetest to check values a
// database may have respelled.
package jsonx
