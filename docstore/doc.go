// Package storagedocstore is a Go CDK docstore driver (gocloud.dev/docstore)
// over a storage.Store, the engine of github.com/mycelia-kernel/storage.
// It lives in a module of its own, so the Go CDK never reaches the
// library's go.mod.
//
//	s, err := sqlstore.Open(ctx, "sqlite:app.db")
//	coll, err := storagedocstore.OpenCollection(s, "players", "name", nil)
//	defer coll.Close() // the store stays open: the caller owns it
//	err = coll.Create(ctx, map[string]any{"name": "ada", "score": 10})
//
// # Mapping
//
//   - A collection is a namespace of the store.
//   - A document is an entry: its key is the key field's value (a
//     non-empty string; OpenCollection), or what a key function returns
//     (a string; OpenCollectionWithKeyFunc, e.g. two fields joined). Create
//     of a document without a key in a key-field collection makes one up
//     (driver.UniqueString) and sets the field.
//   - The document is stored as a JSON object, key field included and
//     revision field left out. JSON has no bytes and no times: a []byte is
//     stored as {"$bytes":"<base64>"}, and a time as a string in UTC with
//     nine fractional digits ("2019-03-27T00:00:00.005000000Z"), so that
//     stored times compare as strings in time order. A member name that
//     starts with "$" is stored with one more "$". Decoded into an
//     interface, an integer comes back as int64 (a float with an integral
//     value too: JSON does not tell 2.0 from 2), another number as float64,
//     and a string in the stored time spelling as a time.Time. Decoded into
//     a typed field, a base64 string is also read as a []byte and any RFC
//     3339 string as a time.Time, so documents written by encoding/json
//     clients of the store read back.
//   - The document revision is the entry's store-wide revision
//     (storage.Entry.Revision, an int64), which is never reused for a key,
//     even across delete and re-create. A write with a revision is a
//     compare-and-swap (storage.IfRevision); a stale revision is
//     FailedPrecondition. The entry's metadata records whether the document
//     was written with a revision field ({"docstoreRevision":true}), so that
//     reading it into a map gives the revision back only then; the driver
//     owns the metadata of its entries.
//
// # Actions
//
// Create is Set with NoOverwrite (AlreadyExists); Replace is Set with
// MustExist (NotFound) or, with a revision, IfRevision; Put is Set; Delete
// of a missing document is no error, unless it carries a revision
// (FailedPrecondition). Update is atomic: the driver reads the entry,
// applies the mods (set, creating the objects on a path; delete for a nil
// value; docstore.Increment, integers staying integers) and writes the
// result with IfRevision of what it read, reading again when another writer
// came in between. Get with field paths returns only those paths. The
// actions of a list run in driver.GroupActions' groups, and every failure is
// reported; the atomic writes of a list (ActionList.AtomicWrites) run in one
// transaction (txmanager.RunInTx), all of them or none.
//
// # Queries
//
// A query is one storage Query per page of 500 (keyset pagination with
// After): the filters (=, >, >=, <, <=, in, not-in; values strings, numbers,
// booleans, times) are joined with and into a storage.Filter, OrderBy is
// SortBy, Offset and Limit are the engine's. The engine's filter semantics
// apply: a comparison between different JSON types is false, strings
// compare byte-wise. Field paths whose segments the filter language does
// not accept (see storage.ParseField), and filter values of other types,
// are refused with InvalidArgument rather than filtered in Go. A query with
// field paths returns the key field too in a key-field collection (a
// key-function collection's key fields must be listed). BeforeQuery's
// as function gives the *storage.Filter about to run (it may be changed);
// QueryPlan describes the Query.
//
// # Errors and As
//
// Errors are the engine's (test with errors.Is against the storage
// sentinels, or Collection.ErrorAs for *storage.OpError and the like), with
// gcerrors codes: NotFound, AlreadyExists, FailedPrecondition (a revision
// conflict, a read-only store), InvalidArgument (keys, values, options,
// filters), PermissionDenied, ResourceExhausted, Unimplemented, Canceled,
// DeadlineExceeded, and Unknown for the rest (ErrUnavailable, ErrTxConflict
// after RunInTx's retries, ErrCommitUnknown). Collection.As gives the
// storage.Store.
//
// # Not supported
//
// Keys that are not strings; query filters on other value types; the
// docstore URL opener (open collections with OpenCollection). BeforeDo's as
// function exposes nothing.
package storagedocstore
