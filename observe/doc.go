// Package observe reports every operation of a storage.Store to a Hook:
// which operation, on which namespace and key, when, how long it took, how
// many rows it touched, and the error it returned. Slog is a Hook that logs
// with log/slog; the separate module observe/otelobserve gives one for
// OpenTelemetry traces and metrics (kept apart so that OpenTelemetry never
// enters this module's dependencies).
//
//	s, err := sqlstore.Open(ctx, dsn)
//	...
//	s = observe.Wrap(s, observe.Hooks(
//		observe.Slog(logger),
//		otelobserve.New(tracerProvider, meterProvider),
//	))
//
// Wrap is a decorator over any storage.Store, so it composes with the
// engine, an authorizing security.Store or a network client alike; its
// place in the chain decides what it sees (outside security.NewStore it
// sees denied calls too, inside only the permitted ones). It changes
// nothing: every result and every error passes through untouched (errors.Is
// and errors.As work as before). The transactions begun (Begin) or looked
// up (LookupTx) through the wrapper are wrapped too, and their operations,
// Commit and Rollback included, are reported with Event.TxID set.
//
// # Hooks
//
// A Hook's Start runs before the wrapped store is called and returns the
// context the store is called with, so a tracer opens its span there and
// the store's own spans nest under it, under the caller's span. End runs
// once the store returned, with that context and the completed Event.
// EndFunc makes a Hook of a function that only needs End (a logger, a
// counter); Hooks fans out to several. Hooks run on the caller's
// goroutine, so a slow hook slows the store.
//
// Reported: every data operation (get, set, delete, has, getMany, setMany,
// deleteMany, getMetadata, setMetadata, clear, list, query, count),
// createNamespace, deleteNamespace, listNamespaces, createIndex and
// dropIndex (storage.Indexer), status, begin, and a
// transaction's commit and rollback. Not reported: LookupTx, Capabilities,
// Close and the accessors of Tx (ID, Isolation, ReadOnly), which take no
// context and do not reach the database (or, for Close, only to let go).
// The operation names (Event.Op) are those of the engine's
// *storage.OpError.Op.
//
// # Rows
//
// Event.Rows is what the operation touched, -1 when that is not known:
//
//	get, getMetadata        1 when found, else 0
//	has                     1 when the key exists, else 0
//	set, delete,
//	setMetadata             1 on success, else 0
//	getMany                 the entries found
//	setMany, deleteMany     the keys that succeeded (the others are the
//	                        keys with a per-key error; Keys is the batch size)
//	list                    the keys returned
//	query                   the entries returned
//	count                   the count returned: the entries counted
//	clear                   -1 on success (the engine does not say how many)
//	createNamespace,
//	createIndex, dropIndex  1 on success
//	deleteNamespace         -1 on success (entries a Recursive delete
//	                        removes are not counted)
//	listNamespaces          the namespaces returned
//	status, begin, commit,
//	rollback                0
//
// Every operation reports 0 on failure, but a batch, which counts the keys
// that succeeded whatever its error.
//
// # Errors
//
// ErrorType names an error with a short string from a fixed set ("" for
// nil, "not_found", "invalid_key", "tx_conflict", "permission_denied", …,
// "index_exists", "canceled", "deadline_exceeded", and "other" for errors that wrap no
// storage sentinel): fit for a metric attribute. SeverityOf sorts errors
// in three: SeverityOK (nil, and storage.ErrNotFound, which answers a
// question rather than fails), SeverityRefused (the other sentinels: the
// caller can act on them), SeverityFailed (storage.ErrCommitUnknown and
// anything that is not a storage error: a driver or I/O failure). Slog
// logs them at Debug, Warn and Error by default (SlogLevels changes that).
//
// # Cost
//
// Wrap with a nil hook (or Hooks of nil hooks) returns the store itself:
// nothing at all is added. With a hook, an operation costs two reads of
// the clock, the hook's calls and no allocation of the wrapper's own:
// about 200 ns over a store that answers at once (BenchmarkOverhead), lost
// in the noise of a SQLite read (BenchmarkGet). Event.Namespace resolves
// the InNamespace option only when a hook asks for it (about half a
// microsecond), so a hook that does not need it does not pay for it; Slog
// asks only for the records its logger keeps, and a record below the
// logger's level allocates nothing.
package observe
