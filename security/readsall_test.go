package security_test

import (
	"context"
	"testing"

	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

func TestReadsEverything(t *testing.T) {
	pol := security.NewPolicy()
	admin, reader, half := mustPKR(t, "admin-pk"), mustPKR(t, "reader-pk"), mustPKR(t, "half-pk")
	mustApply(t, pol, admin, map[string]string{"storage://namespace/*": "r", "principal://*": "rw"})
	mustApply(t, pol, reader, map[string]string{"storage://namespace/users": "rw"})
	mustApply(t, pol, half, map[string]string{"storage://namespace/*": "rw"})
	st := security.NewStore(teststore.Open(t, "sqlite::memory:"), pol)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"admin", security.WithPrincipal(ctx, admin), true},
		{"reader of one namespace", security.WithPrincipal(ctx, reader), false},
		{"every namespace but no principal's keys", security.WithPrincipal(ctx, half), false},
		{"no principal", ctx, false},
	} {
		if got := st.ReadsEverything(c.ctx); got != c.want {
			t.Errorf("%s: ReadsEverything = %v, want %v", c.name, got, c.want)
		}
	}
}
