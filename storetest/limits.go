package storetest

import (
	"math"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
)

var limitTests = []test{
	{"ListHuge", testListHugeLimits},
	{"QueryHuge", testQueryHugeLimits},
}

// hugePages are pages at the edges of int: each must be a plain answer
// (every key, or none), never an overflow.
var hugePages = []struct {
	name string
	opts []storage.Option
	want []string
}{
	{"Limit(MaxInt)", []storage.Option{storage.Limit(math.MaxInt)}, []string{"a", "b", "c"}},
	{"Limit(MaxInt-1)", []storage.Option{storage.Limit(math.MaxInt - 1)}, []string{"a", "b", "c"}},
	{"Offset(MaxInt)", []storage.Option{storage.Offset(math.MaxInt)}, nil},
	{"Offset(1)Limit(MaxInt)", []storage.Option{storage.Offset(1), storage.Limit(math.MaxInt)}, []string{"b", "c"}},
	{"Offset(MaxInt)Limit(MaxInt)", []storage.Option{storage.Offset(math.MaxInt), storage.Limit(math.MaxInt)}, nil},
	{"Offset(MaxInt)Limit(1)", []storage.Option{storage.Offset(math.MaxInt), storage.Limit(1)}, nil},
}

func setABC(t *testing.T, st storage.Store) {
	t.Helper()
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, st, k, raw(`{"n":1}`))
	}
}

func testListHugeLimits(t *testing.T, s *suite) {
	st := s.newStore(t)
	setABC(t, st)
	for _, tc := range hugePages {
		t.Run(tc.name, func(t *testing.T) {
			res, err := st.List(t.Context(), tc.opts...)
			noErr(t, err, "List "+tc.name)
			if !slices.Equal(res.Keys, tc.want) && (len(res.Keys) > 0 || len(tc.want) > 0) {
				t.Errorf("List %s = %q, want %q", tc.name, res.Keys, tc.want)
			}
			if res.Cursor != "" {
				t.Errorf("List %s: cursor %q on the last page", tc.name, res.Cursor)
			}
		})
	}
}

func testQueryHugeLimits(t *testing.T, s *suite) {
	st := s.newStore(t)
	setABC(t, st)
	for _, tc := range hugePages {
		t.Run(tc.name, func(t *testing.T) {
			res, err := st.Query(t.Context(), storage.All(), tc.opts...)
			noErr(t, err, "Query "+tc.name)
			var keys []string
			for _, e := range res.Entries {
				keys = append(keys, e.Key)
			}
			if !slices.Equal(keys, tc.want) {
				t.Errorf("Query %s = %q, want %q", tc.name, keys, tc.want)
			}
			if res.Cursor != "" {
				t.Errorf("Query %s: cursor %q on the last page", tc.name, res.Cursor)
			}
		})
	}
}
