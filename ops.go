package storage

import "context"

// Ops are the data operations, the same set on a Store (against the
// database directly) and on a Tx (inside the transaction): code written
// against Ops runs either way.
type Ops interface {
	// Get returns the entry stored under key, or ErrNotFound.
	// Options: InNamespace.
	Get(ctx context.Context, key string, opts ...Option) (Entry, error)

	// Set stores value (any JSON-marshalable Go value, or json.RawMessage)
	// under key. It overwrites by default and bumps the entry's version.
	// Options: InNamespace, WithMetadata, NoOverwrite, IfVersion,
	// IfRevision, MustExist, Written, Merge (value is an RFC 7396 merge
	// patch to the stored value), and one of WithTTL, ExpiresAt or
	// KeepTTL (see Expiry; without any, an overwrite clears the stored
	// expiry).
	Set(ctx context.Context, key string, value any, opts ...Option) error

	// Delete removes key. A missing key is ErrNotFound.
	// Options: InNamespace, IfVersion, IfRevision, Written.
	Delete(ctx context.Context, key string, opts ...Option) error

	// Has reports whether key exists. Options: InNamespace.
	Has(ctx context.Context, key string, opts ...Option) (bool, error)

	// GetMany reads many keys in a constant number of round trips.
	// Options: InNamespace.
	GetMany(ctx context.Context, keys []string, opts ...Option) (GetManyResult, error)

	// SetMany writes many items in a constant number of round trips.
	// Options: InNamespace, WithMetadata (for items without their own),
	// WithTTL, ExpiresAt or KeepTTL (for items without an expiry of their
	// own), NoOverwrite, MustExist (every item replace-only: a missing key
	// is ErrNotFound), Atomic. Item.IfRevision makes an item a
	// compare-and-swap. Each written key's result carries its new Version
	// and Revision.
	SetMany(ctx context.Context, items []Item, opts ...Option) (BatchResult, error)

	// DeleteMany deletes many keys in a constant number of round trips.
	// Options: InNamespace, Atomic. It takes no condition: IfVersion or
	// IfRevision is ErrInvalidOption (one revision cannot guard many keys,
	// and a batch of compare-and-deletes has no per-key form, as SetMany's
	// Item.IfRevision is). Delete many keys each at its revision with
	// Delete and IfRevision in a transaction (Begin): all or nothing.
	DeleteMany(ctx context.Context, keys []string, opts ...Option) (BatchResult, error)

	// GetMetadata returns the user metadata of key beside its system fields.
	// Options: InNamespace.
	GetMetadata(ctx context.Context, key string, opts ...Option) (Metadata, error)

	// SetMetadata replaces the user metadata of an existing key, or with
	// Merge applies md as an RFC 7396 JSON merge patch. md is given as for
	// WithMetadata: a map, a struct, or JSON text as json.RawMessage, which
	// must be a JSON object (else ErrInvalidValue); nil means {}. It bumps
	// the version and leaves the expiry as it is.
	// Options: InNamespace, Merge, IfVersion, IfRevision, Written.
	SetMetadata(ctx context.Context, key string, md any, opts ...Option) error

	// Clear deletes the entries of one namespace (InNamespace), or of every
	// namespace when none is given. Namespaces themselves stay.
	Clear(ctx context.Context, opts ...Option) error

	// List returns keys in byte order.
	// Options: InNamespace, Pattern, Limit, Offset, After, InKeyRanges
	// (a backend may refuse InKeyRanges with ErrInvalidOption: the HTTP
	// client does).
	List(ctx context.Context, opts ...Option) (ListResult, error)

	// Query returns the entries that match f (the zero Filter matches
	// every entry), in key order or in the order of SortBy. An invalid
	// filter or sort is ErrInvalidFilter.
	// Options: InNamespace, SortBy, Limit, Offset, After, InKeyRanges.
	Query(ctx context.Context, f Filter, opts ...Option) (QueryResult, error)

	// Count returns the number of entries, or of those that match the
	// filter given with Where. Options: InNamespace, Where, InKeyRanges.
	Count(ctx context.Context, opts ...Option) (int64, error)
}
