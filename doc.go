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
// # Options
//
// Per-call options (InNamespace, WithMetadata, NoOverwrite, IfVersion,
// Merge, Atomic) are checked against the operation: an option that means
// nothing for it is ErrInvalidOption, never silently ignored.
//
// # Errors
//
// Every error wraps one of the sentinel errors in errors.go; test with
// errors.Is. Most arrive inside an *OpError naming the operation, namespace
// and key, and validation failures inside a *ValidationError saying what is
// wrong.
package storage
