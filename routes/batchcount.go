package routes

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// batchRequest is a request body with a batch: an array member whose
// items MaxBatchItems bounds.
type batchRequest interface{ batchMember() string }

func (*KeysRequest) batchMember() string    { return "keys" }
func (*SetManyRequest) batchMember() string { return "entries" }

// tooManyInBody refuses a batch body whose array holds more than
// MaxBatchItems items, before it is decoded: decoding first allocated
// every item (2M tiny keys, a 20 MiB body: 292 MiB; 1.1M tiny setMany
// entries, 29 MiB: 2.9 GB and 20 s) only to refuse them.
func tooManyInBody(body []byte, v any) error {
	br, ok := v.(batchRequest)
	if !ok {
		return nil
	}
	if n := countItems(body, br.batchMember(), MaxBatchItems); n > MaxBatchItems {
		return fmt.Errorf("%w: %q holds more than %d items: at most %d per request (routes.MaxBatchItems); send several",
			ErrTooLarge, br.batchMember(), MaxBatchItems, MaxBatchItems)
	}
	return nil
}

// countItems counts the items of the arrays that are members named name
// of the JSON object body, matched as encoding/json matches them (letter
// case folded, escapes decoded), and returns the largest count; it stops
// counting an array past limit items. It reads body without decoding it
// and allocates nothing but the rare escaped member name; a body that is
// not valid JSON is counted as far as it goes, and refused by the decoder
// after.
func countItems(b []byte, name string, limit int) int {
	most := 0
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0
	}
	i = skipWS(b, i+1)
	for i < len(b) && b[i] == '"' {
		end := skipString(b, i)
		match := memberIs(b[i:end], name)
		i = skipWS(b, end)
		if i < len(b) && b[i] == ':' {
			i = skipWS(b, i+1)
		}
		if match && i < len(b) && b[i] == '[' {
			most = max(most, countArray(b, i, limit))
		}
		var ok bool
		if i, ok = pastValue(b, i); !ok {
			break
		}
	}
	return most
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
