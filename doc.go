// Package storage is the Storage Contract: a transactional, namespaced JSON
// key/value and document store, described as Go interfaces with no SQL and no
// driver in sight. The engine that implements it on SQLite and PostgreSQL is
// package sqlstore; the conformance suite every implementation must pass is
// package storetest.
//
//	s, err := sqlstore.Open(ctx, "sqlite:app.db") // or "postgres://…"
//	if err != nil { ... }
//	defer s.Close()
//
//	err = s.Set(ctx, "user:1", User{Name: "Ada"}, storage.InNamespace("users"))
//	e, err := s.Get(ctx, "user:1", storage.InNamespace("users"))
//	var u User
//	err = e.Decode(&u)
//
// # Keys, namespaces and values
//
// A key is non-empty valid UTF-8 without NUL, at most MaxKeyLen bytes, and
// otherwise opaque. A namespace is a plain name or a principal-scoped name
// (see ParseNamespace); operations without InNamespace use DefaultNamespace.
// A write to a missing namespace creates it; a read from one finds nothing.
// A value is any JSON value: Go values are marshaled with encoding/json and
// json.RawMessage passes through. Values that not every database can store
// (NaN, \u0000 in a string, nesting deeper than MaxDepth, …) are refused with
// ErrInvalidValue before anything is written.
//
// Metadata (WithMetadata, SetMetadata, Item.Metadata,
// WithNamespaceMetadata) is given the way a value is, a map, a struct or
// JSON text as json.RawMessage, checked once, and must be a JSON object
// (else ErrInvalidValue). A nil map, slice or pointer means none, as nil
// does.
//
//	err = s.SetMetadata(ctx, "user:1", json.RawMessage(`{"reviewed":true}`), storage.Merge())
//
// # Options
//
// Per-call options (InNamespace, WithMetadata, NoOverwrite, IfVersion,
// Merge, Atomic, WithTTL, ExpiresAt, KeepTTL) are checked against the
// operation: an option that means nothing for it is ErrInvalidOption, never
// silently ignored.
//
// # Expiry
//
// Set and SetMany can give an entry an expiry: WithTTL(d) or ExpiresAt(t),
// or per item Item.TTL and Item.ExpiresAt. From that instant, by the store's
// clock, the entry is gone for every operation, long before a background
// sweeper removes the row. An overwrite without an expiry option clears the
// expiry; KeepTTL keeps it. Entry.ExpiresAt and Metadata.ExpiresAt report
// it (the zero time for none).
//
//	err := s.Set(ctx, "session:42", sess, storage.WithTTL(30*time.Minute))
//
// # Listing, querying and counting
//
// List returns keys in byte order, optionally those matching a glob Pattern
// ("*" any run of characters, "?" one character, "\\" escapes). Query
// returns the entries matching a Filter, in key order or by SortBy; Count
// counts them (Where). Limit and Offset page through results; so does After
// with the Cursor of a previous page, which is keyset pagination: it stays
// correct when entries are inserted or deleted between pages, and it is
// refused (ErrInvalidOption) with another namespace, pattern, filter or sort.
// MaxBytes bounds what one List, Query or GetMany reads, whatever the
// entries' sizes: the call stops after the entry that reaches the budget
// and answers a Cursor (GetMany: GetManyResult.Unread) to go on from, so a
// server that answers callers it does not trust holds about the budget per
// call (package routes gives each read what is left of its AnswerBytes).
//
//	adults := storage.And(storage.Gte("age", 18), storage.Not(storage.Eq("status", "banned")))
//	res, err := s.Query(ctx, adults, storage.SortBy(storage.Desc("age")), storage.Limit(50))
//	next, err := s.Query(ctx, adults, storage.SortBy(storage.Desc("age")), storage.Limit(50), storage.After(res.Cursor))
//
// # Filters
//
// A filter is a leaf {field, operator, value}, or an and, or or not node
// (JSON: {"field":"age","operator":"gte","value":18}, {"and":[…]},
// {"or":[…]}, {"not":{…}}; see ParseFilter). The zero Filter matches
// everything, And() everything, Or() nothing.
//
// Fields are dotted paths into the value ("address.city", "tags.0"), or the
// reserved roots $key, $version, $createdAt, $updatedAt and $metadata.<path>.
// A path segment is 1 to MaxSegmentLen bytes of Unicode letters, Unicode
// digits, "_" and "-"; a path has at most MaxPathSegments segments and
// MaxPathLen bytes. A segment of ASCII digits ("0", or no leading zero, at
// most MaxArrayIndex) indexes an array and never names an object member. A
// path that can never exist in any entry, a member of $key, $version,
// $createdAt or $updatedAt, or an array index right after $metadata (always
// an object), is ErrInvalidFilter in a filter, a sort and an index alike,
// rather than matching or sorting by nothing. See driver.ParseField.
//
// Semantics, the same on every backend:
//
//   - numbers compare as IEEE 754 doubles (1 = 1.0 = 1e0, -0 = 0; integers
//     beyond 2^53 compare by their nearest double, so 12345678901234567890
//     equals 12345678901234567891; stored numbers beyond the double range
//     compare as infinities); strings compare byte-wise (UTF-8, so by code
//     point), case-sensitively; booleans and null by equality only;
//   - a comparison between different JSON types is false (1 does not equal
//     "1"), and arrays and objects are not filter values;
//   - a missing field (or a path through a scalar, or past an array's end)
//     matches only ne, nin, exists:false and negations;
//   - contains: substring on a string field, element equality on an array
//     field; startsWith and endsWith: string fields only;
//   - in and nin take a JSON array of scalars; exists takes a boolean; a
//     field holding null exists;
//   - $key takes strings, $version numbers; $createdAt and $updatedAt take
//     RFC 3339 strings or time.Time values and compare instants exactly
//     (stored times have microsecond precision, so a time with nanoseconds
//     equals none of them).
//
// Sorts order by each field in turn, then by key ascending. Values of
// different types sort in one fixed order: missing < null < false < true <
// numbers < strings < arrays < objects (descending reverses it); arrays tie
// with arrays and objects with objects.
//
// A filter, sort field or value that breaks these rules is a
// *ValidationError wrapping ErrInvalidFilter saying what is wrong and where.
//
// # Transactions
//
// Store.Begin starts a transaction (TxOptions: an IsolationLevel and
// ReadOnly); the Tx carries every data operation and reports the level
// actually in force. Its ID finds it again with Store.LookupTx, for callers
// that pass transactions by ID. txmanager.RunInTx commits, or rolls back on
// error or panic, and retries ErrTxConflict; it never retries
// ErrCommitUnknown.
//
// # Watch and history
//
// Every committed change has a revision, from one increasing sequence per
// store. A store that implements Watcher streams its changes as a Go
// iterator of Events (put, delete, expire, metadata, clear, namespace
// create, delete and metadata), in revision order, with no gap and no
// duplicate, from now or from a revision given with FromRevision, for one
// namespace (InNamespace), a key Pattern, and puts whose value matches a
// filter (Where):
//
//	for ev, err := range w.Watch(ctx, storage.InNamespace("users"), storage.FromRevision(last)) {
//		if err != nil { ... } // ErrCompacted, ErrWatchLagged, ...
//		last = ev.Revision
//	}
//
// A consumer that falls behind is cut off with ErrWatchLagged (writers
// never wait for it) and resumes with FromRevision of its last revision;
// a resume older than the store retains is ErrCompacted, whose
// *CompactedError names the oldest revision left. A Historian lists a
// key's changes (History), and Get with AtRevision reads a key as it was,
// within the same retained window (sqlstore: WithRetention).
//
// # Errors
//
// Every error wraps one of the sentinel errors in errors.go; test with
// errors.Is. Most arrive inside an *OpError naming the operation, namespace
// and key, and validation failures inside a *ValidationError saying what is
// wrong.
//
// # Applications and backends
//
// This package is the API of applications. The API of those who implement
// a Store, or wrap one (resolving a call's options into driver.CallOptions,
// the compiled filter driver.Expr, value and metadata checks, expiry
// requests), is package driver. The types both sides handle (Option,
// NamespaceOption, Filter, Operator, SortField, KeyRange, WriteResult,
// NamespaceName, ValidationError) are defined in driver and declared here
// as aliases, so they are the same types under either name, and the
// sentinel errors here hold driver's values (ErrNotFound ==
// driver.ErrNotFound). Package storage imports driver, never the reverse.
package storage
