package httpapi

import (
	"sync"
	"sync/atomic"

	"github.com/mycelia-kernel/storage/security"
)

// AuthFileTokens is an Authenticator over an auth file that can be read
// again while the server runs (storeserver does on SIGHUP): Reload swaps in
// the file's tokens and replaces the grants of Policy, which the stores
// built on it see at their next call. A file that does not parse changes
// nothing. It is safe for concurrent use.
type AuthFileTokens struct {
	path   string
	policy *security.Policy
	cur    atomic.Pointer[Tokens]
	mu     sync.Mutex // serializes Reload
}

var _ Authenticator = (*AuthFileTokens)(nil)

// LoadAuthFileTokens reads the auth file at path (see ParseAuthFile).
func LoadAuthFileTokens(path string) (*AuthFileTokens, error) {
	t, err := LoadAuthFile(path)
	if err != nil {
		return nil, err
	}
	a := &AuthFileTokens{path: path, policy: security.NewPolicy()}
	a.policy.Replace(t.policy)
	a.cur.Store(t)
	return a, nil
}

// Reload reads the auth file again. On success the new tokens
// authenticate from now on, the old ones that the file no longer holds do
// not, and Policy grants what the new file's profiles grant. On error
// (the file is missing or invalid) nothing changes.
func (a *AuthFileTokens) Reload() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, err := LoadAuthFile(a.path)
	if err != nil {
		return err
	}
	// Grants first: a principal the file drops loses its rights before its
	// token stops authenticating, never after.
	a.policy.Replace(t.policy)
	a.cur.Store(t)
	return nil
}

// Authenticate implements Authenticator with the tokens last loaded.
func (a *AuthFileTokens) Authenticate(token string) (security.PKR, bool) {
	return a.cur.Load().Authenticate(token)
}

// Policy returns the policy of the file last loaded, for
// security.NewStore; Reload changes its grants in place.
func (a *AuthFileTokens) Policy() *security.Policy { return a.policy }

// Len returns the number of tokens last loaded.
func (a *AuthFileTokens) Len() int { return a.cur.Load().Len() }

// Path returns the auth file's path.
func (a *AuthFileTokens) Path() string { return a.path }
