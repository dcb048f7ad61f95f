package security

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/mycelia-kernel/storage"
)

// The scope forms a Profile may name. {name} is a plain namespace name and
// {pkr} a principal's public key (see PKR).
//
//	storage://namespace/{name}          the plain namespace {name}
//	storage://namespace/*               every plain namespace
//	principal://{pkr}                   the namespace principal://{pkr}
//	principal://{pkr}/namespace/{name}  the namespace principal://{pkr}/namespace/{name}
//	principal://{pkr}/namespace/*       every principal://{pkr}/namespace/… namespace
//	principal://{pkr}/data/*            the keys principal://{pkr}/data/… in any namespace
//	principal://{pkr}/*                 all of the above for {pkr}
//	principal://*                       every principal's namespaces and keys
//	storage://transactions              beginning transactions: r read-only, w read-write
//
// storage://namespace/* never reaches a principal's namespaces or keys: only
// the principal:// scopes share them.
const (
	scopeNamespacePrefix = "storage://namespace/"
	scopeAllNamespaces   = "storage://namespace/*"
	scopeAllPrincipals   = "principal://*"
	scopeTransactions    = "storage://transactions"
)

var plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidateScope checks that scope is one of the forms above.
func ValidateScope(scope string) error {
	bad := func(why string) error {
		return fmt.Errorf("security: invalid scope %q: %s", scope, why)
	}
	if scope == scopeTransactions {
		return nil
	}
	if name, ok := strings.CutPrefix(scope, scopeNamespacePrefix); ok {
		if name == "*" || plainName.MatchString(name) {
			return nil
		}
		return bad("want storage://namespace/{name} or storage://namespace/*")
	}
	rest, ok := strings.CutPrefix(scope, storage.PrincipalScheme)
	if !ok {
		return bad("want storage://namespace/…, storage://transactions or principal://…")
	}
	if rest == "*" {
		return nil
	}
	pk, sub, hasSub := strings.Cut(rest, "/")
	if validatePKR(pk) != nil {
		return bad("invalid {pkr}")
	}
	if !hasSub {
		return nil
	}
	switch sub {
	case "*", "data/*", "namespace/*":
		return nil
	}
	if name, ok := strings.CutPrefix(sub, "namespace/"); ok && plainName.MatchString(name) {
		return nil
	}
	return bad("want principal://{pkr}[/namespace/{name}|/namespace/*|/data/*|/*] or principal://*")
}

// Profile is a security profile: scopes mapped to permissions, in the
// seed's shape ("storage://namespace/users": "rw"). Applying a profile to a
// principal (Policy.Apply) grants its permissions.
type Profile struct {
	Name   string
	Scopes map[string]string
}

// compile validates p and returns its grants.
func (p Profile) compile() (map[string]Permission, error) {
	g := make(map[string]Permission, len(p.Scopes))
	for scope, perm := range p.Scopes {
		if err := ValidateScope(scope); err != nil {
			return nil, fmt.Errorf("security: profile %q: %w", p.Name, err)
		}
		pm, err := ParsePermission(perm)
		if err != nil {
			return nil, fmt.Errorf("security: profile %q, scope %q: %w", p.Name, scope, err)
		}
		g[scope] |= pm
	}
	return g, nil
}

// Policy holds the permissions granted to principals by the profiles
// applied to them. A Policy is safe for concurrent use; changes are seen by
// the next call of every store that uses it. The zero Policy is not ready:
// use NewPolicy.
type Policy struct {
	mu sync.RWMutex // protects grants
	// grants maps a public key ("" for the anonymous principal) to its
	// scopes and permissions, the union of every profile applied.
	grants map[string]map[string]Permission
}

// NewPolicy returns an empty policy: it grants nothing. A principal still
// owns its principal:// namespaces and keys.
func NewPolicy() *Policy {
	return &Policy{grants: make(map[string]map[string]Permission)}
}

// Apply grants principal p the permissions of prof, adding them to what p
// already holds. An invalid PKR, scope or permission grants nothing and is
// an error.
func (pol *Policy) Apply(p PKR, prof Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return pol.apply(p.PublicKey, prof)
}

// ApplyAnonymous grants prof's permissions to callers without a principal,
// for stores built with AllowAnonymous. The anonymous principal owns
// nothing.
func (pol *Policy) ApplyAnonymous(prof Profile) error { return pol.apply("", prof) }

func (pol *Policy) apply(pk string, prof Profile) error {
	g, err := prof.compile()
	if err != nil {
		return err
	}
	pol.mu.Lock()
	defer pol.mu.Unlock()
	cur := pol.grants[pk]
	if cur == nil {
		cur = make(map[string]Permission, len(g))
		pol.grants[pk] = cur
	}
	for s, pm := range g {
		cur[s] |= pm
	}
	return nil
}

// Revoke removes every permission granted to p (ownership stays).
func (pol *Policy) Revoke(p PKR) {
	pol.mu.Lock()
	defer pol.mu.Unlock()
	delete(pol.grants, p.PublicKey)
}

// Grants returns the scopes granted to p, with their permissions in the
// seed's spelling, sorted by scope.
func (pol *Policy) Grants(p PKR) []string {
	g := pol.view(p.PublicKey)
	out := make([]string, 0, len(g))
	for s, pm := range g {
		out = append(out, s+": "+pm.String())
	}
	sort.Strings(out)
	return out
}

// view returns a copy of pk's grants.
func (pol *Policy) view(pk string) grants {
	pol.mu.RLock()
	defer pol.mu.RUnlock()
	src := pol.grants[pk]
	g := make(grants, len(src))
	for s, pm := range src {
		g[s] = pm
	}
	return g
}

// grants are one principal's scopes.
type grants map[string]Permission

// subject is the principal of one call, with its grants.
type subject struct {
	pk string // "" for the anonymous principal
	g  grants
}

// namespace returns the permission s holds on ns.
func (s subject) namespace(ns storage.NamespaceName) Permission {
	if ns.Owner == "" {
		return s.g[scopeNamespacePrefix+ns.Name] | s.g[scopeAllNamespaces]
	}
	if s.pk != "" && ns.Owner == s.pk {
		return ReadWrite
	}
	base := storage.PrincipalScheme + ns.Owner
	p := s.g[scopeAllPrincipals] | s.g[base+"/*"] | s.g[ns.Name]
	if ns.Name != base {
		p |= s.g[base+"/namespace/*"]
	}
	return p
}

// data returns the permission s holds on the keys principal://{owner}/data/….
func (s subject) data(owner string) Permission {
	if s.pk != "" && owner == s.pk {
		return ReadWrite
	}
	base := storage.PrincipalScheme + owner
	return s.g[scopeAllPrincipals] | s.g[base+"/*"] | s.g[base+"/data/*"]
}

// readableNamespaces returns the ranges of namespace names (in byte order)
// that hold every namespace s may read, and only those: ns lies in one of
// them exactly when s.namespace(ns) has Read. all is true when s may read
// every namespace (then the ranges are nil). A Watch passes them down
// (driver.WatchScopeOption) so that the store reads only those
// namespaces' changes.
func (s subject) readableNamespaces() (rs []storage.KeyRange, all bool) {
	scheme := storage.PrefixRange(storage.PrincipalScheme)
	allPlain := s.g[scopeAllNamespaces].Has(Read)
	allPrincipals := s.g[scopeAllPrincipals].Has(Read)
	if allPlain && allPrincipals {
		return nil, true
	}
	exact := func(name string) { rs = append(rs, storage.KeyRange{From: name, To: name + "\x00"}) }
	// A principal's namespaces: principal://{pkr} and the names under
	// principal://{pkr}/namespace/.
	owner := func(pk string) {
		exact(storage.PrincipalScheme + pk)
		rs = append(rs, storage.PrefixRange(storage.PrincipalScheme+pk+"/namespace/"))
	}
	if allPlain {
		rs = append(rs, storage.KeyRange{To: scheme.From}, storage.KeyRange{From: scheme.To})
	}
	if allPrincipals {
		rs = append(rs, scheme)
	} else if s.pk != "" {
		owner(s.pk)
	}
	for scope, pm := range s.g {
		if !pm.Has(Read) {
			continue
		}
		if name, ok := strings.CutPrefix(scope, scopeNamespacePrefix); ok {
			if !allPlain && name != "*" {
				exact(name)
			}
			continue
		}
		rest, ok := strings.CutPrefix(scope, storage.PrincipalScheme)
		if !ok || allPrincipals || rest == "*" {
			continue
		}
		pk, sub, hasSub := strings.Cut(rest, "/")
		switch {
		case !hasSub:
			exact(scope) // principal://{pkr}
		case sub == "*":
			owner(pk)
		case sub == "namespace/*":
			rs = append(rs, storage.PrefixRange(storage.PrincipalScheme+pk+"/namespace/"))
		case strings.HasPrefix(sub, "namespace/"):
			exact(scope) // principal://{pkr}/namespace/{name}
		}
		// principal://{pkr}/data/* reaches keys, not namespaces.
	}
	slices.SortFunc(rs, func(a, b storage.KeyRange) int { return strings.Compare(a.From, b.From) })
	return rs, false
}

// transactions returns the permission s holds to begin transactions: what
// storage://transactions grants, and what s holds on everything.
func (s subject) transactions() Permission {
	return s.g[scopeTransactions] | s.everything()
}

// everything returns the permission s holds on every namespace and key.
func (s subject) everything() Permission {
	return s.g[scopeAllNamespaces] & s.g[scopeAllPrincipals]
}

// dataOwners returns the owners on whose data keys s holds need, and
// whether that is every owner.
func (s subject) dataOwners(need Permission) (owners []string, all bool) {
	if s.g[scopeAllPrincipals].Has(need) {
		return nil, true
	}
	if s.pk != "" {
		owners = append(owners, s.pk)
	}
	for scope, pm := range s.g {
		if !pm.Has(need) {
			continue
		}
		rest, ok := strings.CutPrefix(scope, storage.PrincipalScheme)
		if !ok {
			continue
		}
		pk, ok := strings.CutSuffix(rest, "/data/*")
		if !ok {
			pk, ok = strings.CutSuffix(rest, "/*")
		}
		if ok && pk != s.pk && !strings.Contains(pk, "/") {
			owners = append(owners, pk)
		}
	}
	sort.Strings(owners)
	return owners, false
}

// keyOwner classifies key under storage.KeyOwner, the one rule: owner ""
// for a key outside the principal scheme, {pkr} for a canonical one; ok is
// false for any other key in the scheme, which no store holds.
func keyOwner(key string) (owner string, ok bool) {
	owner, err := storage.KeyOwner(key)
	return owner, err == nil
}

// Replace makes pol grant exactly what src grants, in one step: a call sees
// either pol's grants before or src's, never a mix or nothing. It is how a
// server reloads its principals' profiles without a restart. src is only
// read.
func (pol *Policy) Replace(src *Policy) {
	if pol == src {
		return
	}
	src.mu.RLock()
	g := make(map[string]map[string]Permission, len(src.grants))
	for pk, scopes := range src.grants {
		c := make(map[string]Permission, len(scopes))
		for s, pm := range scopes {
			c[s] = pm
		}
		g[pk] = c
	}
	src.mu.RUnlock()
	pol.mu.Lock()
	pol.grants = g
	pol.mu.Unlock()
}
