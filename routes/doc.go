// Package routes serves the storage contract as messages: one route per
// operation (storage://get, storage://set, …), a JSON request body, and a
// JSON response envelope, in the shapes of the seed's "Integration Points".
// It is the wire format a kernel written in another language speaks, over
// any transport (package httpapi carries it over HTTP; a *Mux carries it in
// process).
//
//	mux := routes.NewMux()
//	routes.Register(mux, store) // any storage.Store, e.g. security.NewStore(...)
//	resp, _ := mux.Call(ctx, "storage://get", []byte(`{"key":"user:1","options":{"namespace":"users"}}`))
//	// {"success":true,"data":{"name":"Ann"},"key":"user:1","namespace":"users",
//	//  "metadata":{},"version":1,"revision":3,"createRevision":3,
//	//  "createdAt":"…","updatedAt":"…"}
//
// Routes never authenticate: the transport puts the caller's principal in
// the context (security.WithPrincipal) and the store (security.NewStore)
// enforces it.
//
// # Requests
//
// A body is one JSON object, UTF-8; an empty body means {}. Decoding is
// strict: an unknown member, a member of the wrong type, a missing required
// member, malformed JSON, a body that is not an object, trailing data, an
// object with two members of the same name ({"key":"a","key":"b"}, which
// readers resolve differently), or a member name in another letter case
// ("Key", which encoding/json would accept) is an invalid_request error and
// nothing runs. Inside values and metadata duplicates are invalid_value,
// inside filters invalid_filter; filter member names are exact too. Values (and metadata) are kept
// as the JSON text that was sent, so numbers are never rounded; the store
// may normalize spelling (whitespace, member order), never meaning.
//
// Every data route takes an optional "options" object:
//
//	member         type                   meaning (Go option)
//	namespace      string                 InNamespace; absent = "default" (clear: every namespace)
//	transactionId  string                 run on this transaction (Store.LookupTx); unknown = tx_not_found
//	metadata       object                 WithMetadata (set, setMany)
//	overwrite      bool                   false = NoOverwrite (the seed's spelling)
//	noOverwrite    bool                   true = NoOverwrite; contradicting overwrite = invalid_request
//	ifVersion      integer >= 1           IfVersion (set, delete, setMetadata)
//	ifRevision     integer >= 1           IfRevision (set, delete, setMetadata): the key's last
//	                                      change must have this revision (never reused for a key)
//	mustExist      bool                   MustExist (set, setMany): replace-only, not_found when missing
//	merge          bool                   Merge (set, setMetadata): an RFC 7396 merge patch
//	atomic         bool                   Atomic (setMany, deleteMany)
//	pattern        string                 Pattern (list)
//	limit          integer >= 0           Limit (list, query; listNamespaces: at most
//	                                      MaxNamespacesLimit, 10,000)
//	offset         integer >= 0           Offset (list, query)
//	maxBytes       integer >= 1           MaxBytes (list, query, getMany): the answer stops after
//	                                      the entry that makes its keys, values and metadata
//	                                      reach it (or AnswerBytes, whichever is less)
//	after          string                 After: a cursor from an earlier page (list, query,
//	                                      listNamespaces, whose cursor is the last name)
//	sort           [{field, desc}]        SortBy (query); {field, order:"asc"|"desc"} and a
//	                                      single object (the seed's shape) are accepted too
//	where          filter                 Where (count); "filter" is the seed's name for it
//	includeMetadata bool                  the seed's option of get and getMany: accepted, and
//	                                      metadata is returned whatever it says; of
//	                                      listNamespaces: false leaves details' metadata out
//	ttl            integer seconds > 0    WithTTL (set, setMany); a JSON number or a decimal string
//	ttlInSeconds   integer seconds > 0    Dapr's spelling of ttl
//	ttlMs          integer ms > 0         WithTTL in milliseconds (the Go client's form for a TTL
//	                                      that is not whole seconds); a number or a decimal string
//	expiresAt      RFC 3339 time          ExpiresAt: after the store's time, at most MaxTTL later
//	keepTTL        bool                   KeepTTL: an overwrite keeps the stored expiry
//	fromRevision   integer >= 0           FromRevision (watch, history)
//	atRevision     integer >= 1           AtRevision (get)
//	omitValues     bool                   OmitValues (watch, history; listNamespaces: as
//	                                      includeMetadata false)
//
// At most one of ttl, ttlInSeconds, ttlMs, expiresAt and keepTTL may be
// given; a zero, negative, fractional ("1.5"), non-numeric or too large
// (over storage.MaxTTL) TTL, or an expiresAt not after the store's time, is
// invalid_option and nothing is written, whichever spelling carries it (an
// expiresAt that is not an RFC 3339 string too); a null member is the same
// as an absent one. Each setMany entry takes the same
// members for its own expiry; an entry without any takes the options'.
// Expiry times are decided by the store's clock, never the caller's.
//
// A false boolean is the same as an absent one, on an operation that takes
// it. Which options an operation accepts is the store's rule: a known
// option the operation does not take (merge on get) is invalid_option, as
// in Go, and a flag (overwrite, noOverwrite, mustExist, merge, atomic,
// omitValues) is so whatever its value: {"atomic":false} on get, like
// {"atomic":true}, is never ignored. A filter is the JSON form of
// storage.Filter: a leaf {"field":"age","operator":"gte","value":18}
// (operators eq ne gt gte lt lte contains startsWith endsWith in nin
// exists; fields are value paths "a.b.0" or $key, $version, $createdAt,
// $updatedAt, $metadata.<path>), or {"and":[…]}, {"or":[…]}, {"not":{…}};
// {} matches everything. A bad filter is invalid_filter, a leaf without
// "value" among them ("value": null compares with null).
//
// # Responses
//
// Every response is an envelope: {"success":true, …} with the route's
// members, or {"success":false,"error":{…}}. An error is
//
//	{"code":"not_found","message":"storage: get namespace \"users\" key \"u:9\": not found",
//	 "op":"get","namespace":"users","key":"u:9"}
//
// where code is one of the codes below, message is for people (it starts
// with "storage: "), and op, namespace and key, present when known, say
// where it happened. An error answers kilobytes whatever the caller sent:
// a key or namespace name longer than storage.MaxKeyLen (an invalid one),
// or another over-long name such as an isolation level, is named, in the
// message and in these members, by its first 64 bytes and "…", and a
// message is cut at MaxMessageBytes (8 KiB). Before, a refused 8 MiB key
// was quoted whole, and again in the key member: a 28 MB answer (a
// 3-byte character took 7 bytes once quoted in the message),
// outside every bound on the request bodies in flight (getMany and the
// batches still answer under each key sent, a copy of the request's own
// keys). Times are RFC 3339 strings with nanoseconds. An
// entry's "metadata" is its user metadata (an object, {} when none).
//
// # Routes
//
//	route                       request                                   success members
//	storage://get               {key, options}                            data (the value), key, namespace, metadata,
//	                                                                      version, revision, createRevision,
//	                                                                      createdAt, updatedAt, expiresAt?
//	storage://set               {key, value, options}                     revision, version, createRevision (what
//	                                                                      it wrote: storage.WriteResult)
//	storage://delete            {key, options}                            revision (of the delete), version (the
//	                                                                      deleted entry's)
//	storage://has               {key, options}                            exists
//	storage://getMany           {keys: [string], options}                 data {key: value}, meta {key: {namespace,
//	                                                                      metadata, version, createdAt, updatedAt,
//	                                                                      expiresAt?}},
//	                                                                      errors {key: error}, unread? [string]
//	storage://setMany           {entries: [{key, value, metadata?,        results {key: {success, error?, version?,
//	                             ifRevision?, ttl?,                        revision?}},
//	                             ttlInSeconds?, ttlMs?, expiresAt?,
//	                             keepTTL?}],
//	                             options                                  keys (distinct keys, first-occurrence order)
//	storage://deleteMany        {keys: [string], options}                 results, keys (as setMany)
//	storage://list              {options}                                 keys, cursor?
//	storage://query             {filter?, options}                        results [{key, value, namespace, metadata,
//	                                                                      version, createdAt, updatedAt, expiresAt?}],
//	                                                                      cursor?
//	storage://count             {options}                                 count
//	storage://createNamespace   {name, options: {metadata?, indexes?}}    —
//	storage://deleteNamespace   {name, options: {recursive?}}             —
//	storage://createIndex       {name, field}                             — (storage.Indexer; unsupported
//	                                                                      when the store has none)
//	storage://dropIndex         {name, field}                             —
//	storage://listNamespaces    {options: {limit?, after?,                namespaces [name], details [{name, owner?,
//	                             includeMetadata?}}                       metadata, createdAt, indexes?}] (same
//	                                                                      order; indexes: declared fields),
//	                                                                      cursor? (the last name, when more may
//	                                                                      follow)
//	storage://getMetadata       {key, options}                            metadata (user), version, revision,
//	                                                                      createRevision, createdAt, updatedAt,
//	                                                                      createdBy?, updatedBy?, expiresAt?
//	storage://setMetadata       {key, metadata, options}                  revision, version, createRevision
//	storage://clear             {options}                                 —
//	storage://getStatus         {}                                        status {healthy, size, capacity,
//	                                                                      namespaces, dialect, schemaVersion,
//	                                                                      revision, oldestRevision}; when the
//	                                                                      database cannot be reached or read,
//	                                                                      success false with the error and
//	                                                                      status {healthy: false} (the rest 0)
//	storage://getCapabilities   {}                                        capabilities {transactions, query,
//	                                                                      metadata, batches, capacity}
//	storage://beginTransaction  {options: {isolation?, readOnly?}}        transactionId, isolation, readOnly
//	storage://commit            {transactionId}                           —
//	storage://rollback          {transactionId}                           —
//	storage://lookupTransaction {transactionId}                           transactionId, isolation, readOnly
//	storage://history           {key, options}                            events [event] (storage.Historian;
//	                                                                      unsupported when the store has none)
//	storage://watch             {options}                                 a stream, see below
//
// A setMany, deleteMany or getMany holds at most MaxBatchItems (10,000)
// entries or keys: a batch commits together, holding the store's one
// writer (on PostgreSQL its revision lock) from start to end, and a
// getMany answers an error for each key it holds no value for, so a
// larger one is refused whole with too_large; send several. It is refused
// before its body is decoded: the items are counted in the body, up to the
// bound, so a body of millions of tiny keys costs its own size, not the
// hundreds of megabytes decoding them took.
//
// The other lists of a body that a documented bound limits are counted
// before decoding too, and refused with the error the store gives for
// them: options.sort beyond storage.MaxSortFields (8) with invalid_filter,
// createNamespace's options.indexes beyond storage.MaxIndexes (16) with
// invalid_option. A filter (query's filter, options.where or
// options.filter) nested deeper than storage.MaxFilterDepth, with more
// than storage.MaxFilterNodes nodes or an in, nin, and or or list of more
// than storage.MaxInValues items is invalid_filter before it is decoded
// (storage.Filter's UnmarshalJSON checks its text first); one that holds
// more than storage.MaxFilterValues values in all (10,000: its in and
// nin lists', one for each other leaf) is invalid_filter too, before any
// statement runs.
//
// A list or query answer holds about AnswerBytes (4 MiB) of keys, values
// and metadata at most: the route reads the store in parts (pages of
// their own, each with what is left of AnswerBytes as its
// storage.MaxBytes, so that the store stops reading there whatever the
// entries' sizes) and stops after the part that reaches it, so an answer may
// hold fewer keys or entries than its limit (or than exist, without one)
// and a cursor. Page on with after while an answer has a cursor and holds
// fewer than asked for; client.Store does so by itself, so its List and
// Query return what the store's would. A getMany answer is bounded alike:
// the route reads its keys in parts (16 first, then as many as the values
// read so far suggest fit, at most twice as many as were read, each with
// what is left of AnswerBytes as its MaxBytes) and lists the keys of no
// part, and those the store left unread, in unread, to be
// asked for again; every distinct requested key is in exactly one of
// data, errors and unread. Outside a transaction the parts are separate
// reads, not one snapshot. client.Store's GetMany asks again by itself. A
// history answer is bounded alike by the engine (storage.Historian).
//
// A listNamespaces answer is a page: at most options.limit namespaces
// (NamespacesLimit, 1,000, without it; more than MaxNamespacesLimit,
// 10,000, is invalid_option) in byte order of their names, after
// options.after, and at most AnswerBytes of names, metadata and index
// fields: the route reads the store in parts sized as if each namespace
// had the largest metadata (storage.MaxNamespaceMetadataSize), so no
// request makes it read or hold more. An answer that may not be the last
// has a cursor, the last name it holds: page on with options.after set to
// it while there is one (client.Store does so by itself). Paging is
// keyset paging on the name: a namespace that exists throughout is listed
// once, whatever is created or deleted between pages. includeMetadata
// false (or omitValues true) leaves every detail's metadata out (null)
// and the store unread of it. {} answers a store of fewer than
// NamespacesLimit namespaces of ordinary metadata whole, with no cursor,
// as the seed's listNamespaces did. It takes no transactionId
// (invalid_option), and no option of the data routes but these.
//
// An event is {type, namespace, key?, value?, metadata?, revision,
// prevRevision?, version?, at, createdAt?, expiresAt?}: createdAt and
// expiresAt are the key's after a put or a metadata change (absent when
// none, and on changes logged before the engine's migration 00012);
// type is put, delete, expire, metadata,
// clear, namespace_create, namespace_delete or namespace_metadata (see
// storage.Event); key is absent for namespace-level events, value for
// everything but puts. Options of watch: namespace (absent: every
// namespace), pattern, where, fromRevision, omitValues; of history:
// namespace, fromRevision, limit, omitValues; get takes atRevision
// (storage.AtRevision). fromRevision and atRevision are integers >= 0 and
// >= 1.
//
// storage://watch is a stream (StreamHandler, run by Mux.Stream and, over
// HTTP, as NDJSON). A watch that fails before it starts (malformed,
// invalid options, permission_denied, compacted, no Watcher) gets its
// error envelope, as any route. Once it has started (storage.OnStart) the
// first line is {"success":true,"revision":R}, the revision the stream
// delivers the changes after (options.fromRevision, for 0 the revision
// before the oldest retained change, or the store's revision when the
// watch began), then one line per event, in revision
// order. A watch that ends with an error (watch_lagged, compacted, …)
// sends its error envelope as the last line; a compacted or watch_lagged
// error carries error.revision (the oldest retained revision; the
// revision to resume from) and a compacted one error.requested. A
// fromRevision (or a get's atRevision) beyond the store's revision is
// invalid_option with
// error.revision (the store's revision) and error.requested
// (storage.FutureRevisionError: a revision of another store, or of this
// one before a restore; the watch is refused, not held until the store
// gets there). A client
// resumes with fromRevision set to the last revision it got (R before any
// event). Router implementations that are not StreamRouters get no watch
// route.
//
// Required members: key (get, set, delete, has, getMetadata, setMetadata),
// value (set; null is a value), keys (getMany, deleteMany), entries and each
// entry's key and value (setMany), metadata (setMetadata; null means {}),
// name (namespace routes), transactionId (commit, rollback,
// lookupTransaction). A missing one is invalid_request.
//
// Choices where the seed is silent:
//
//   - The seed's members come first and keep its meaning (get's data is the
//     value, getMany's data maps keys to values, listNamespaces' namespaces
//     are names); the rest of an entry travels beside them (meta, details,
//     key, version, …) so a client loses nothing.
//   - A batch reports per-key outcomes and succeeds as a call even when
//     keys fail; "success" is false only when the batch failed as a whole
//     (capacity, a database error), and then results are still there.
//   - An entry's metadata, or options.metadata, that is null is absent
//     (keep what is stored); one that is not an object is invalid_value:
//     for a setMany entry that key's failure, like an invalid value. The
//     JSON text reaches the store as sent and is checked there once.
//   - isolation is "read-uncommitted", "read-committed",
//     "repeatable-read", "serializable", or ""/"default"; the response
//     names the level actually in force. A transaction is found by ID on
//     any route with options.transactionId; one that has ended (commit,
//     rollback, idle timeout) is tx_not_found, commit and rollback
//     included. A beginTransaction whose request's context ended while the
//     transaction began answers canceled (or deadline_exceeded) and rolls
//     it back. Namespace routes, getStatus and getCapabilities do not run
//     in transactions.
//   - A body that is not valid UTF-8 is invalid_request: Go would replace
//     the bad bytes, silently changing keys.
//
// # Error codes
//
// One code per storage sentinel, plus the transport's own; Codes lists
// them, CodeOf computes one, ErrorOf maps one back to an error that
// satisfies errors.Is for its sentinel, HTTPStatus gives its HTTP status.
//
//	code                 sentinel / meaning                              HTTP
//	not_found            storage.ErrNotFound                             404
//	already_exists       storage.ErrAlreadyExists                        409
//	namespace_not_found  storage.ErrNamespaceNotFound                    404
//	namespace_exists     storage.ErrNamespaceExists                      409
//	namespace_not_empty  storage.ErrNamespaceNotEmpty                    409
//	index_exists         storage.ErrIndexExists                          409
//	index_not_found      storage.ErrIndexNotFound                        404
//	invalid_key          storage.ErrInvalidKey                           400
//	invalid_namespace    storage.ErrInvalidNamespace                     400
//	invalid_value        storage.ErrInvalidValue                         400
//	value_too_large      storage.ErrValueTooLarge                        413
//	invalid_option       storage.ErrInvalidOption                        400
//	conflict             storage.ErrConflict (IfVersion mismatch)        409
//	capacity_exceeded    storage.ErrCapacityExceeded                     507
//	invalid_filter       storage.ErrInvalidFilter                        400
//	unsupported          storage.ErrUnsupported                          501
//	aborted              storage.ErrAborted (per key, atomic batch)      409
//	tx_done              storage.ErrTxDone                               409
//	tx_not_found         storage.ErrTxNotFound                           404
//	too_many_tx          storage.ErrTooManyTx                            429
//	tx_conflict          storage.ErrTxConflict (retry the transaction)   409
//	commit_unknown       storage.ErrCommitUnknown                        502
//	read_only            storage.ErrReadOnly                             409
//	unauthenticated      storage.ErrUnauthenticated                      401
//	permission_denied    storage.ErrPermissionDenied                     403
//	closed               storage.ErrClosed                               503
//	unavailable          storage.ErrUnavailable (retry later)            503
//	storage_full         storage.ErrStorageFull                          507
//	compacted            storage.ErrCompacted (error.revision: oldest)   410
//	watch_lagged         storage.ErrWatchLagged (error.revision: resume) 409
//	corrupt              storage.ErrCorrupt (not retryable; restore)     500
//	canceled             context.Canceled                                499
//	deadline_exceeded    context.DeadlineExceeded                        504
//	invalid_request      ErrInvalidRequest: malformed body               400
//	unknown_route        ErrUnknownRoute                                 404
//	too_large            ErrTooLarge: request over the transport's limit 413
//	too_many_streams     ErrTooManyStreams: the principal holds as many  429
//	                     streams (storage://watch) open as it may
//	                     (also storage.ErrUnavailable; end one first)
//	internal             ErrInternal: anything else                      500
//
// too_large and too_many_streams are tested before the storage sentinels
// they wrap (value_too_large, unavailable), so an error of theirs keeps its
// own code. A storage sentinel takes precedence over a context error
// wrapped beside it. Codes are stable: none is ever renamed or given
// another meaning.
package routes
