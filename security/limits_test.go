package security_test

import (
	"math"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/security"
)

// TestHugeLimits: a principal that sees only some keys pages with Limit and
// Offset at the edges of int without an overflow (Limit(-2) once came back
// as invalid_option).
func TestHugeLimits(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			_, st := twoPrincipals(t, c)
			ctx := security.WithPrincipal(t.Context(), mustPKR(t, pkBob))
			in := storage.InNamespace("shared")
			for _, tc := range []struct {
				name string
				opts []storage.Option
				want []string
			}{
				{"Limit(MaxInt)", []storage.Option{in, storage.Limit(math.MaxInt)}, []string{"plain"}},
				{"Offset(MaxInt)Limit(MaxInt)", []storage.Option{in, storage.Offset(math.MaxInt), storage.Limit(math.MaxInt)}, nil},
				{"Offset(1)Limit(MaxInt)", []storage.Option{in, storage.Offset(1), storage.Limit(math.MaxInt)}, nil},
				{"Offset(MaxInt)Limit(1)", []storage.Option{in, storage.Offset(math.MaxInt), storage.Limit(1)}, nil},
			} {
				res, err := st.List(ctx, tc.opts...)
				if err != nil || !slices.Equal(res.Keys, tc.want) && len(res.Keys)+len(tc.want) > 0 {
					t.Errorf("List %s = %q, %v; want %q", tc.name, res.Keys, err, tc.want)
				}
				q, err := st.Query(ctx, storage.All(), tc.opts...)
				if err != nil || len(q.Entries) != len(tc.want) {
					t.Errorf("Query %s = %d entries, %v; want %d", tc.name, len(q.Entries), err, len(tc.want))
				}
			}
		})
	}
}
