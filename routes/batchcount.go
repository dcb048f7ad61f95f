package routes

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// arrayBound is an array member of a request body whose items a
// documented bound limits: the member at path (an object member of the
// body, or of an object member of it), at most limit items, and the error
// of one that holds more.
type arrayBound struct {
	path  []string
	limit int
	err   func() error
}

// arrayBounds are the bounded arrays of a request of v's type: a batch's
// items (MaxBatchItems), options.sort (storage.MaxSortFields) and a
// namespace's options.indexes (storage.MaxIndexes). A filter's arrays and
// nesting are bounded as it is decoded (storage.Filter's UnmarshalJSON).
func arrayBounds(v any) []arrayBound {
	switch v.(type) {
	case *KeysRequest:
		return []arrayBound{batchBound("keys"), sortBound}
	case *SetManyRequest:
		return []arrayBound{batchBound("entries"), sortBound}
	case *KeyRequest, *SetRequest, *SetMetadataRequest, *OptionsRequest, *QueryRequest:
		return []arrayBound{sortBound}
	case *NamespaceRequest:
		return []arrayBound{indexesBound}
	}
	return nil
}

func batchBound(member string) arrayBound {
	return arrayBound{[]string{member}, MaxBatchItems, func() error {
		return fmt.Errorf("%w: %q holds more than %d items: at most %d per request (routes.MaxBatchItems); send several",
			ErrTooLarge, member, MaxBatchItems, MaxBatchItems)
	}}
}

var sortBound = arrayBound{[]string{"options", "sort"}, storage.MaxSortFields, func() error {
	return driver.InvalidSort(driver.Invalidf(storage.ErrInvalidFilter, "SortBy: more than %d fields", storage.MaxSortFields))
}}

var indexesBound = arrayBound{[]string{"options", "indexes"}, storage.MaxIndexes, func() error {
	return driver.Invalidf(storage.ErrInvalidOption, "options.indexes: more than %d fields, the maximum per namespace", storage.MaxIndexes)
}}

// tooManyInBody refuses a body with a bounded array (arrayBounds) that
// holds more items than its bound, before it is decoded: decoding first
// allocated every item (2M tiny keys, a 20 MiB body: 292 MiB; 1.1M tiny
// setMany entries, 29 MiB: 2.9 GB and 20 s; 1M sort fields, 16 MiB:
// see TestHostileArrayDecoding) only to refuse them.
func tooManyInBody(body []byte, v any) error {
	for _, ab := range arrayBounds(v) {
		if n := countItems(body, ab.limit, ab.path...); n > ab.limit {
			return ab.err()
		}
	}
	switch v.(type) {
	case *QueryRequest, *OptionsRequest:
		return badFilterInBody(body)
	}
	return nil
}

// countItems counts the items of the arrays at path in the JSON object
// body (members named path[0], and in their objects path[1]...), matched
// as encoding/json matches them (letter case folded, escapes decoded),
// and returns the largest count; it stops counting an array past limit
// items. It reads body without decoding it and allocates nothing but the
// rare escaped member name; a body that is not valid JSON is counted as
// far as it goes, and refused by the decoder after.
func countItems(b []byte, limit int, path ...string) int {
	most := 0
	eachAt(b, skipWS(b, 0), path, func(i int) bool {
		if i < len(b) && b[i] == '[' {
			most = max(most, countArray(b, i, limit))
		}
		return true
	})
	return most
}

// eachAt calls yield with the index of each value at path in the value at
// b[i], matched as countItems matches them, while yield returns true; it
// returns false when yield did.
func eachAt(b []byte, i int, path []string, yield func(int) bool) bool {
	if len(path) == 0 {
		return yield(i)
	}
	if i >= len(b) || b[i] != '{' {
		return true
	}
	i = skipWS(b, i+1)
	for i < len(b) && b[i] == '"' {
		end := skipString(b, i)
		match := memberIs(b[i:end], path[0])
		i = skipWS(b, end)
		if i < len(b) && b[i] == ':' {
			i = skipWS(b, i+1)
		}
		if match && !eachAt(b, i, path[1:], yield) {
			return false
		}
		var ok bool
		if i, ok = pastValue(b, i); !ok {
			break
		}
	}
	return true
}

// filterPaths are where a request body holds a filter.
var filterPaths = [][]string{{"filter"}, {"options", "where"}, {"options", "filter"}}

// badFilterInBody refuses a body whose filter no valid filter could be
// (driver.CheckFilterText: too deep, too many nodes, a list too long),
// before the body is decoded: the decoder's copies of a 23 MiB filter
// allocated 109 MiB before the filter's own check could run.
func badFilterInBody(b []byte) error {
	var err error
	for _, path := range filterPaths {
		eachAt(b, skipWS(b, 0), path, func(i int) bool {
			if end := skipValue(b, i); end > i {
				err = driver.CheckFilterText(b[i:end])
			}
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// countArray counts the items of the array at b[i], up to limit+1.
func countArray(b []byte, i, limit int) int {
	n := 0
	i = skipWS(b, i+1)
	for i < len(b) && b[i] != ']' && n <= limit {
		n++
		var ok bool
		if i, ok = pastValue(b, i); !ok {
			break
		}
	}
	return n
}

// pastValue returns the index past the value at b[i], the comma after it
// and white space, and false when the value does not end (a malformed
// body).
func pastValue(b []byte, i int) (int, bool) {
	next := skipValue(b, i)
	if next <= i {
		return i, false
	}
	i = skipWS(b, next)
	if i < len(b) && b[i] == ',' {
		i = skipWS(b, i+1)
	}
	return i, true
}

// memberIs reports whether the quoted member name q is name as
// encoding/json matches it.
func memberIs(q []byte, name string) bool {
	if len(q) < 2 {
		return false
	}
	raw := q[1 : len(q)-1]
	if bytes.IndexByte(raw, '\\') >= 0 {
		var s string
		if json.Unmarshal(q, &s) != nil {
			return false
		}
		raw = []byte(s)
	}
	return bytes.EqualFold(raw, []byte(name))
}
