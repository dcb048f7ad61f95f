// Package client is a storage.Store over any message transport: every
// operation is encoded as a message to a route of package routes, and the
// response envelope is decoded back into the exact Go result and error.
//
//	mux := routes.NewMux()
//	routes.Register(mux, sqlStore)    // in process; or an HTTP transport
//	st, err := client.New(ctx, mux)   // fetches the capabilities once
//	err = st.Set(ctx, "user:1", user, storage.InNamespace("users"))
//
// # Fidelity
//
// Errors satisfy errors.Is for the sentinel the server's store returned,
// per key in GetMany, SetMany and DeleteMany too, and an error that was a
// *storage.OpError on the server is one here, with the same Op, Namespace,
// Key and message. Values travel as JSON text and are never rounded;
// metadata maps decode numbers as json.Number, as sqlstore does. Only the
// options that were given are sent (driver.ResolveOptions' Set bitmask).
//
// What the client checks itself, and why:
//
//   - Options are resolved here (a zero Option, one given twice,
//     NoOverwrite with IfVersion, an invalid value: ErrInvalidOption etc.),
//     since a malformed Option cannot be serialized. Whether an operation
//     accepts a kind is the server's rule, so its ErrInvalidOption is what
//     the caller sees (except for the kinds that never travel: Written,
//     OnStart and a WatchScope, which the client refuses itself, as the
//     engine does, on the operations that do not take them), once the
//     checks below pass: the client checks keys,
//     values and filters before it sends anything, so a call with an
//     invalid key is ErrInvalidKey here where the store in process may
//     first refuse its options (Delete("", MustExist()): ErrInvalidOption
//     in process), and a caller the server would refuse
//     (ErrPermissionDenied) gets the client's own error for an invalid
//     value first.
//   - Keys are validated with storage.ValidateKey and values encoded with
//     driver.EncodeValue (without the size limit, which is the server's):
//     JSON strings cannot carry invalid UTF-8, and invalid JSON cannot be
//     embedded in a message. Batches give such keys their per-key error
//     here and send the rest; an Atomic batch with such a key sends no keys
//     (the server still runs its checks of the call) and marks the others
//     ErrAborted, exactly as the server would.
//   - Filters are compiled (Filter.Compile) before they are sent, because
//     some Go values (a time.Time on a value path) have no faithful JSON
//     form; an empty In()/Nin() list is sent as [] (Filter.MarshalJSON
//     writes a nil slice as null).
//   - Writes in a read-only transaction fail with ErrReadOnly here.
//   - An expiry travels as the server's clock needs it: a TTL of whole
//     seconds as ttl, any other TTL as ttlMs, rounded up to a whole
//     millisecond (the engine itself rounds to a microsecond); ExpiresAt
//     as an RFC 3339 time. The server decides what has expired.
//
// A transport failure (no envelope came back, or not an envelope) is a
// *TransportError wrapping the transport's error and one sentinel, as the
// engine does for a database it cannot reach: storage.ErrUnavailable when
// the call had no effect (no connection could be made, the route only
// reads, or the call ran in a transaction, which commits nothing by
// itself), storage.ErrCommitUnknown for a write outside a transaction, or
// a Commit, that may have reached the server (the connection broke after
// the request was sent, or a proxy answered for the server). When the
// caller's context ended, it wraps that context's error and no sentinel.
//
// # Watch and history
//
// Watch (storage.Watcher) reads the stream of storage://watch over a
// StreamTransport (routes.Mux in process, httpapi.Transport over HTTP;
// another Transport yields ErrUnsupported). It survives the server: when
// the stream breaks (the connection fails, the server restarts or drains,
// or answers unavailable or closed), it opens a new one from the last
// revision it delivered, with growing pauses (up to a second), until
// WatchRetryFor passes without reaching the server, so its consumer sees
// every change once, in order. A watch without FromRevision starts at the
// revision the server's first stream names; a first stream that fails
// before naming it ends the watch with that failure at once (a later
// stream would start later, and the changes meanwhile would be missed):
// call again, or watch FromRevision. compacted, watch_lagged, a
// FromRevision beyond the server's revision and the other errors end it
// as they do on the server, with their types (*storage.CompactedError,
// *storage.LaggedError, *storage.FutureRevisionError); Close ends running
// watches with ErrClosed. A watch whose first stream the server refuses
// because the principal holds as many streams open as it may (429
// too_many_streams) fails at once with routes.ErrTooManyStreams (also
// storage.ErrUnavailable); a resumed stream refused so is retried like
// an outage, the server perhaps still counting the stream that broke.
// History sends
// storage://history; Get with AtRevision sends options.atRevision.
//
// # Transactions
//
// Begin sends storage://beginTransaction; the Tx sends every operation with
// options.transactionId. A Tx's operations run one at a time. Commit and
// Rollback are safe to repeat, as the contract says, and are answered
// locally once the transaction has ended. When the server answers that it
// no longer knows the transaction (idle timeout, a failed operation),
// the Tx ends and reports storage.ErrTxDone. An operation whose context is
// done ends the transaction, as sqlstore's do, and a rollback is sent with
// a context that is not cancelled, so the server does not keep it open; so
// is a Commit whose context ended on the way (the commit may not have
// reached the server; its outcome stays unknown to the caller, who gets
// its context's error). A Begin whose context ends before the answer
// returns that context's error at once, but its request runs on for a
// second and a transaction it answers is rolled back: the server may have
// begun one that nobody else could name.
// LookupTx returns a transaction this client began, or asks the server
// (storage://lookupTransaction, 30-second timeout, as LookupTx has no
// context).
//
// Close makes later calls fail with storage.ErrClosed and rolls back the
// transactions this client began; it does not close the server's store.
// Capabilities are those New fetched. A Store and its Txs are safe for
// concurrent use.
package client
