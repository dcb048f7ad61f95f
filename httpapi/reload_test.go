package httpapi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestAuthFileTokensReload: Reload swaps tokens and grants in one step,
// and a bad file changes nothing.
func TestAuthFileTokensReload(t *testing.T) {
	const bobToken = "bob-secret-token-0123456789"
	path := filepath.Join(t.TempDir(), "auth.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"principals":[{"token":"` + aliceToken + `","pkr":"alice-pk","profiles":[{"name":"u","scopes":{"storage://namespace/users":"rw"}}]}]}`)
	a, err := LoadAuthFileTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inner, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inner.Close() })
	st := security.NewStore(inner, a.Policy())
	users := storage.InNamespace("users")
	set := func(token string) error {
		p, ok := a.Authenticate(token)
		if !ok {
			return storage.ErrUnauthenticated
		}
		return st.Set(security.WithPrincipal(ctx, p), "k", 1, users)
	}
	if err := set(aliceToken); err != nil {
		t.Fatalf("alice before the reload: %v", err)
	}
	if err := set(bobToken); !errors.Is(err, storage.ErrUnauthenticated) {
		t.Fatalf("bob before the reload: %v", err)
	}

	// Alice keeps her token but may only read; bob arrives.
	write(`{"principals":[
		{"token":"` + aliceToken + `","pkr":"alice-pk","profiles":[{"name":"u","scopes":{"storage://namespace/users":"r"}}]},
		{"token":"` + bobToken + `","pkr":"bob-pk","profiles":[{"name":"u","scopes":{"storage://namespace/users":"rw"}}]}]}`)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if a.Len() != 2 {
		t.Errorf("Len = %d after the reload, want 2", a.Len())
	}
	if err := set(aliceToken); !errors.Is(err, storage.ErrPermissionDenied) {
		t.Errorf("alice's write after the reload: %v, want permission denied", err)
	}
	if err := set(bobToken); err != nil {
		t.Errorf("bob after the reload: %v", err)
	}

	// A file that does not parse, or is gone, changes nothing.
	write(`{"principals":[{"token":"short","pkr":"eve-pk","profiles":[]}]}`)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "token is 5 bytes") {
		t.Errorf("Reload of a bad file: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil {
		t.Error("Reload of a missing file succeeded")
	}
	if err := set(bobToken); err != nil {
		t.Errorf("bob after failed reloads: %v", err)
	}
	if got := a.Policy().Grants(security.PKR{PublicKey: "alice-pk"}); len(got) != 1 || got[0] != "storage://namespace/users: r" {
		t.Errorf("alice's grants after failed reloads: %v", got)
	}
}

// TestAuthFileTokensReloadConcurrent runs reloads beside authentications
// (for -race): every call sees one file or the other.
func TestAuthFileTokensReloadConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	file := `{"principals":[{"token":"` + aliceToken + `","pkr":"alice-pk","profiles":[{"name":"u","scopes":{"storage://namespace/users":"rw"}}]}]}`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := LoadAuthFileTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if p, ok := a.Authenticate(aliceToken); !ok || p.PublicKey != "alice-pk" {
					t.Error("alice's token failed during reloads")
					return
				}
				if g := a.Policy().Grants(security.PKR{PublicKey: "alice-pk"}); len(g) != 1 {
					t.Errorf("alice's grants during reloads: %v", g)
					return
				}
			}
		})
	}
	for range 50 {
		if err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}
