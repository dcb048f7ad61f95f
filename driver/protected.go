package driver

import (
	"context"
	"fmt"
)

// ProtectedClearer is implemented by a store that can empty or delete a
// namespace unless it holds a live entry in given key ranges, deciding
// inside its own write: the check sees every write committed before the
// clear, and no write in the ranges can commit between the check and the
// clear. The security layer empties a namespace with it for a caller that
// may not write every key (the protected ranges are the other principals'
// keys), so that the check does not need a serializable transaction of its
// own, which concurrent writers to the namespace made fail with
// ErrTxConflict most of the time. A layer that wraps a store (observe)
// implements it by passing the call on, and returns an error wrapping
// ErrUnsupported when the store it wraps does not; a caller then does the
// check another way.
//
// sqlstore implements it: on PostgreSQL the check is one statement after
// the store's revision lock, which every write takes before its snapshot
// and holds to its commit (a read committed statement run after the lock
// sees every committed write, and no write commits before the clear
// does); on SQLite it runs under the single writer. The check is an
// EXISTS per range on the entries' primary key, so entries outside the
// ranges are never read, and one live entry inside them ends it.
type ProtectedClearer interface {
	// ClearUnless empties namespace ns as Clear with InNamespace(ns)
	// does, unless it holds a live entry whose key lies in one of
	// protected: then it changes nothing and returns an error wrapping
	// ErrProtected.
	ClearUnless(ctx context.Context, ns string, protected []KeyRange) error
	// DeleteNamespaceUnless deletes namespace name as DeleteNamespace
	// with opts does, unless it holds a live entry whose key lies in one
	// of protected: then it changes nothing and returns an error wrapping
	// ErrProtected (before ErrNamespaceNotEmpty: without Recursive, a
	// namespace holding a protected key is refused with ErrProtected).
	DeleteNamespaceUnless(ctx context.Context, name string, protected []KeyRange, opts ...NamespaceOption) error
}

// ErrProtected is returned by the methods of ProtectedClearer when the
// namespace holds a live entry in the protected ranges. It wraps
// ErrPermissionDenied (what it means to the caller of the layer that asks,
// and how an observing layer counts it), and is never returned by the
// operations of a storage.Store: package storage does not re-export it,
// and the layer that asks (security) turns it into its own error.
var ErrProtected = fmt.Errorf("%w: the namespace holds a protected key", ErrPermissionDenied)
