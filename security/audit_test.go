package security_test

import (
	"context"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/security"
)

// TestAuditActor: writes through the authorizing store record the
// principal as created-by and updated-by, and a caller cannot name another
// actor behind its principal's back.
func TestAuditActor(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner, st := twoPrincipals(t, c)
			alice := security.WithPrincipal(t.Context(), mustPKR(t, pkAlice))
			in := storage.InNamespace("shared")
			if err := st.Set(alice, "a", 1, in); err != nil {
				t.Fatal(err)
			}
			spoof := storage.ContextWithActor(security.WithPrincipal(t.Context(), mustPKR(t, pkBob)), pkAlice)
			if err := st.Set(spoof, "a", 2, in); err != nil {
				t.Fatal(err)
			}
			md, err := inner.GetMetadata(context.Background(), "a", in)
			if err != nil {
				t.Fatal(err)
			}
			if md.CreatedBy != pkAlice || md.UpdatedBy != pkBob {
				t.Errorf("CreatedBy, UpdatedBy = %q, %q; want %q, %q", md.CreatedBy, md.UpdatedBy, pkAlice, pkBob)
			}
		})
	}
}
