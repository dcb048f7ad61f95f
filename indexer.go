package storage

import "context"

// Indexer is the optional ability of a Store to declare and drop indexes
// on an existing namespace, as WithIndexes does at CreateNamespace. Test
// for it with a type assertion; the engine (sqlstore), the client and the
// security and observe wrappers have it (a wrapper over a store without it
// returns ErrUnsupported).
//
// Declaring an index is an optimization: results never depend on it. The
// namespace's declared fields are listed in Namespace.Indexes.
type Indexer interface {
	// CreateIndex declares field (a path into the value, or
	// $metadata.<path>) indexed in namespace, which must exist, and
	// builds the index over the entries it holds; writes go on while it
	// builds where the backend can. Errors: ErrNamespaceNotFound;
	// ErrIndexExists when the namespace already declares the field;
	// ErrInvalidOption for a reserved root or when the namespace already
	// declares MaxIndexes fields; ErrInvalidFilter for a malformed path;
	// ErrTxConflict when a concurrent CreateIndex of the same field took
	// the build over (that call builds it). A failed or cancelled call
	// declares nothing and leaves no index building.
	CreateIndex(ctx context.Context, namespace, field string) error
	// DropIndex removes the declaration of field from namespace and its
	// index. Errors: ErrNamespaceNotFound; ErrIndexNotFound when the
	// namespace does not declare the field (spelled as declared).
	DropIndex(ctx context.Context, namespace, field string) error
}
