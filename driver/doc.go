// Package driver is the API for those who write a backend of
// github.com/mycelia-kernel/storage, or a layer that wraps one (an
// authorizing store, an observing store, a network client), as gocloud's
// docstore/driver is to docstore. Applications use package storage and
// never need this one.
//
// What it holds:
//
//   - Per-call options resolved: an implementation of storage.Store calls
//     ResolveOptions with the kinds its operation accepts (OptionKind, the
//     Kind* constants, AllOptionKinds for a layer that passes options on)
//     and reads the result from CallOptions; ResolveNamespaceOptions does
//     the same for namespace options. NewOption and NewNamespaceOption build
//     options of a layer's own; the constructors of package storage build
//     data options (NamespaceSelector, FlagOption, IntOption, …; see
//     Option), which resolve without allocating.
//   - The compiled filter: Filter.Compile (and CallOptions.Filter) gives an
//     Expr of Fields (ParseField, FieldRoot, Segment) and Scalars, checked
//     once, that a backend translates to its query language.
//   - Values and metadata checked as every dialect can store them:
//     EncodeValue, EncodeMetadata, CheckMetadataJSON.
//   - Expiry requests (Expiry, ItemExpiry, ValidateTTL).
//   - The sentinel errors and *ValidationError (Invalidf).
//   - Abilities a store may add, which a layer tests for:
//     ProtectedClearer (a clear or namespace delete refused, inside the
//     store's own write, when the namespace holds a key in given ranges;
//     ErrProtected), NamespaceCounter, EntryCounter.
//
// # How the two packages share types
//
// Package storage imports driver; driver never imports storage. A type that
// both an application and a backend handle is defined here, and package
// storage declares it as an alias, so the two names are one type and no
// conversion is needed: storage.Option, storage.NamespaceOption,
// storage.Filter, storage.Operator, storage.SortField, storage.KeyRange,
// storage.WriteResult, storage.NamespaceName and storage.ValidationError.
// The sentinel errors are defined here and re-exported by package storage
// as variables holding the same values (storage.ErrNotFound ==
// driver.ErrNotFound), so errors.Is matches either name; the limits are
// re-exported as constants. Types only backends use (CallOptions, Expr,
// Field, Scalar, Expiry, …) exist only here. The Store, Tx and Ops
// interfaces a backend implements, and the results it returns (Entry,
// ListResult, …, *storage.OpError), stay in package storage.
package driver
