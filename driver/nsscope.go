package driver

import "context"

// namespaceScopeKey is the context key of WithNamespaceScope.
type namespaceScopeKey struct{}

// WithNamespaceScope returns a context that tells a store's
// ListNamespaces, as a hint, that its caller will drop every namespace
// whose name lies outside ranges (ranges of namespace names in byte order,
// as KeyRange orders keys), so that the store need not read them. As
// WatchScopeOption, it is only a hint: the layer that gives it still
// filters what it is given, and a store may ignore it (the HTTP client
// does). The security layer gives it for a caller that may not read every
// namespace; sqlstore then reads only the namespaces in ranges, so one
// principal's many namespaces do not slow another's listing. It is a
// context value, not an option of ListNamespaces (whose options, Limit,
// After and OmitValues, are the caller's), so that it reaches the store
// through layers that pass a call on; a layer that starts a new context
// drops it, which then costs nothing but the reads. The layer still fills
// a page of Limit from what it may keep (security.Store reads on after
// the store's last name).
func WithNamespaceScope(ctx context.Context, ranges []KeyRange) context.Context {
	return context.WithValue(ctx, namespaceScopeKey{}, ranges)
}

// NamespaceScope returns the ranges of WithNamespaceScope, and whether ctx
// has them.
func NamespaceScope(ctx context.Context) ([]KeyRange, bool) {
	rs, ok := ctx.Value(namespaceScopeKey{}).([]KeyRange)
	return rs, ok
}

// NamespaceCounter is implemented by a store that can count namespaces
// without reading them. CountNamespaces returns how many namespaces have a
// name in ranges (ranges of namespace names in byte order, as for
// WithNamespaceScope). The security layer counts a principal's namespaces
// with it before each CreateNamespace under its quota; a store without it
// is asked ListNamespaces under WithNamespaceScope instead, which reads
// each namespace's row and metadata. sqlstore implements it with one
// COUNT over the range of the namespaces' unique name index.
type NamespaceCounter interface {
	CountNamespaces(ctx context.Context, ranges []KeyRange) (int64, error)
}

// EntryCounter is implemented by a store that can count the entries of
// the namespaces whose names lie in ranges (as for WithNamespaceScope)
// without reading them: CountEntries returns the sum of their entry
// counts, expired entries not yet swept included. The security layer asks
// it for a principal's entries under its entry quota; a store without it
// is asked ListNamespaces under WithNamespaceScope and Count of each
// instead. sqlstore implements it with one statement over the range of
// the unique index on the namespaces' names, reading their stored counts.
type EntryCounter interface {
	CountEntries(ctx context.Context, ranges []KeyRange) (int64, error)
}
