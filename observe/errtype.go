package observe

import (
	"context"
	"errors"

	"github.com/mycelia-kernel/storage"
)

// errorTypes maps each storage sentinel (and the context errors) to a short
// name, most specific first: ErrNotFound wraps sql.ErrNoRows and nothing
// else matches it, so the order only matters for errors that wrap several.
var errorTypes = []struct {
	err  error
	name string
}{
	{storage.ErrNotFound, "not_found"},
	{storage.ErrAlreadyExists, "already_exists"},
	{storage.ErrNamespaceNotFound, "namespace_not_found"},
	{storage.ErrNamespaceExists, "namespace_exists"},
	{storage.ErrNamespaceNotEmpty, "namespace_not_empty"},
	{storage.ErrIndexExists, "index_exists"},
	{storage.ErrIndexNotFound, "index_not_found"},
	{storage.ErrInvalidKey, "invalid_key"},
	{storage.ErrInvalidNamespace, "invalid_namespace"},
	{storage.ErrInvalidValue, "invalid_value"},
	{storage.ErrValueTooLarge, "value_too_large"},
	{storage.ErrInvalidOption, "invalid_option"},
	{storage.ErrInvalidFilter, "invalid_filter"},
	{storage.ErrConflict, "conflict"},
	{storage.ErrCapacityExceeded, "capacity_exceeded"},
	{storage.ErrUnsupported, "unsupported"},
	{storage.ErrAborted, "aborted"},
	{storage.ErrTxDone, "tx_done"},
	{storage.ErrTxNotFound, "tx_not_found"},
	{storage.ErrTooManyTx, "too_many_tx"},
	{storage.ErrTxConflict, "tx_conflict"},
	{storage.ErrCommitUnknown, "commit_unknown"},
	{storage.ErrReadOnly, "read_only"},
	{storage.ErrUnauthenticated, "unauthenticated"},
	{storage.ErrPermissionDenied, "permission_denied"},
	{storage.ErrClosed, "closed"},
	{storage.ErrUnavailable, "unavailable"},
	{storage.ErrStorageFull, "storage_full"},
	{storage.ErrCompacted, "compacted"},
	{storage.ErrWatchLagged, "watch_lagged"},
	{storage.ErrCorrupt, "corrupt"},
	{context.Canceled, "canceled"},
	{context.DeadlineExceeded, "deadline_exceeded"},
}

// ErrorType names the kind of err with a short, fixed string fit for a log
// attribute or a metric label (a bounded set, whatever the error): "" for
// nil; for an error wrapping a storage sentinel, the sentinel's name in
// snake case without the Err prefix ("not_found", "invalid_key",
// "tx_conflict", "permission_denied", ...); "canceled" and
// "deadline_exceeded" for the context errors; "other" for anything else
// (a driver or I/O failure).
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	for _, t := range errorTypes {
		if errors.Is(err, t.err) {
			return t.name
		}
	}
	return "other"
}

// Severity is how much an operation's outcome matters to an operator.
type Severity int

// The severities, from least to most serious.
const (
	// SeverityOK: the operation succeeded, or its error is an answer
	// rather than a failure: storage.ErrNotFound (a get of a missing key).
	SeverityOK Severity = iota
	// SeverityRefused: the store refused the call for a reason the caller
	// can act on: invalid input, a conflict, a missing or existing
	// namespace, capacity, permissions, a finished or conflicting
	// transaction, a closed store, a cancelled or expired context, ...:
	// every storage sentinel except ErrCommitUnknown, ErrUnavailable,
	// ErrStorageFull and ErrCorrupt.
	SeverityRefused
	// SeverityFailed: the store failed: storage.ErrCommitUnknown,
	// ErrUnavailable (the database cannot be reached), ErrStorageFull,
	// ErrCorrupt (the database holds what the engine cannot read), or an
	// error that wraps no storage sentinel.
	SeverityFailed
)

// SeverityOf classifies err (see Severity).
func SeverityOf(err error) Severity {
	switch ErrorType(err) {
	case "", "not_found":
		return SeverityOK
	case "other", "commit_unknown", "unavailable", "storage_full", "corrupt":
		return SeverityFailed
	}
	return SeverityRefused
}
