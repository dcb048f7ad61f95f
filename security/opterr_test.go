package security_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestOptionErrorsReadAsTheEngines: an option the authorizing store refuses
// while it reads the options prints as the engine's own refusal does,
// naming the namespace and key ("storage: set: invalid namespace" lacked
// the key; "storage: query: invalid sort" the namespace).
func TestOptionErrorsReadAsTheEngines(t *testing.T) {
	bg := context.Background()
	inner := teststore.Open(t, configs[0].DSN(t), sqlstore.WithMaxValueSize(100))
	pol := security.NewPolicy()
	admin := mustPKR(t, "admin-pk")
	mustApply(t, pol, admin, map[string]string{"storage://namespace/*": "rw", "principal://*": "rw"})
	st := security.NewStore(inner, pol)
	ctx := security.WithPrincipal(bg, admin)
	for name, call := range map[string]func(s storage.Store, ctx context.Context) error{
		"bad namespace": func(s storage.Store, ctx context.Context) error {
			return s.Set(ctx, "k", 1, storage.InNamespace("a/b"))
		},
		"bad sort": func(s storage.Store, ctx context.Context) error {
			_, err := s.Query(ctx, storage.All(), storage.InNamespace("users"), storage.SortBy(storage.Asc("$metadata.0")))
			return err
		},
		"bad if-version": func(s storage.Store, ctx context.Context) error {
			return s.Delete(ctx, "k", storage.IfVersion(0), storage.InNamespace("users"))
		},
	} {
		want, got := call(inner, bg), call(st, ctx)
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("%s: the authorizing store says %v, the engine %v", name, got, want)
		}
		if want != nil && !strings.Contains(want.Error(), `"`) {
			t.Errorf("%s: %v names neither namespace nor key", name, want)
		}
	}
}
