package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
)

// TestHostileArrayDecoding (the arrays and nesting of a request body that
// a documented bound limits are refused before they are decoded): a
// filter's in list, and/or list and not/and/or nesting, a query's sort
// list and a namespace's index list each have a bound (storage.MaxInValues,
// MaxFilterNodes, MaxFilterDepth, MaxSortFields, MaxIndexes) that only
// the decoded form was checked against. A body of a few MiB to 32 MiB
// (the default body limit) holding millions of items, or a filter nested
// 4,000 deep (whose decoding decoded each level's text again), was
// decoded whole first: the six requests had not all been answered after
// 20 minutes (SQLite, a loaded machine), and with the filter's own check
// but no check of the body, a 23 MiB in list still allocated 109 MiB and
// took 3 s. Now each is refused with the same error as before
// (invalid_filter, invalid_option) in under a second, allocating its
// body's size once.
func TestHostileArrayDecoding(t *testing.T) {
	list := func(prefix string, n int, item, suffix string) []byte {
		var b bytes.Buffer
		b.WriteString(prefix)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, item, i)
		}
		b.WriteString(suffix)
		return b.Bytes()
	}
	const depth = 4000
	nested := []byte(`{"filter":` + strings.Repeat(`{"not":`, depth) + `{"field":"n","operator":"eq","value":1}` + strings.Repeat("}", depth) + `}`)
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			s.must(t, "set", hAlice, `{"key":"a","value":{"n":1},"options":{"namespace":"shared"}}`)
			for _, tc := range []struct {
				name, op string
				body     []byte
				code     string
			}{
				{"in", "query", list(`{"filter":{"field":"n","operator":"in","value":[`, 3<<20, `%d`, `]},"options":{"namespace":"shared"}}`), routes.CodeInvalidFilter},
				{"or", "query", list(`{"filter":{"or":[`, 700000, `{"field":"n","operator":"eq","value":%d}`, `]},"options":{"namespace":"shared"}}`), routes.CodeInvalidFilter},
				{"whereIn", "count", list(`{"options":{"namespace":"shared","where":{"field":"n","operator":"nin","value":[`, 3<<20, `%d`, `]}}}`), routes.CodeInvalidFilter},
				{"nested", "query", nested, routes.CodeInvalidFilter},
				{"sort", "query", list(`{"options":{"namespace":"shared","sort":[`, 1<<20, `{"field":"v%d"}`, `]}}`), routes.CodeInvalidFilter},
				{"indexes", "createNamespace", list(`{"name":"principal://alice-pk/namespace/ix","options":{"indexes":[`, 3<<20, `"a%d"`, `]}}`), routes.CodeInvalidOption},
			} {
				st, env, d, alloc := s.measuredPost(t, tc.op, hAlice, tc.body)
				t.Logf("%s (%s), a %d KiB body: %d %s in %v, %d MiB allocated", tc.name, tc.op, len(tc.body)>>10, st, env.code(), d, alloc>>20)
				if st != 400 || env.code() != tc.code {
					t.Errorf("%s: %d %s, want 400 %s", tc.name, st, env.code(), tc.code)
				}
				// The body is read whole, once (bounded by MaxBodyBytes);
				// decoding adds nothing.
				if limit := uint64(len(tc.body)) + 16<<20; alloc > limit {
					t.Errorf("%s: %d MiB allocated, more than %d MiB (the body and 16)", tc.name, alloc>>20, limit>>20)
				}
			}
			s.must(t, "get", hAlice, `{"key":"a","options":{"namespace":"shared"}}`)
		})
	}
}

// measuredPost posts body to op as token, and returns the answer, how long
// it took and how many bytes the process (server and test) allocated
// meanwhile.
func (s *testServer) measuredPost(t *testing.T, op, token string, body []byte) (int, envelope, time.Duration, uint64) {
	t.Helper()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	start := time.Now()
	st, env := s.post(t, http.MethodPost, op, token, "application/json", body)
	d := time.Since(start)
	runtime.ReadMemStats(&ms)
	return st, env, d, ms.TotalAlloc - before
}
