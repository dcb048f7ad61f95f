// Package migratecache lets the tests open fresh SQLite stores from a copy
// of a database the migrations made once, instead of running every
// migration again for each store: under the race detector the migrations
// of one SQLite store cost about half a second of CPU, and the tests open
// thousands of fresh stores.
//
//	ctx = migratecache.With(ctx)
//	s, err := sqlstore.Open(ctx, "sqlite::memory:")
//
// Only a store opened with such a context, on a database file that does
// not exist yet (sqlite::memory: always), starts from the copy; sqlstore
// then runs the migrations as usual, and finds none pending. The copy is
// made again when it is older than MaxAge, so that the default
// namespace's creation time stays recent. Nothing outside the tests sets
// it: the package is internal, and package internal/testutil/teststore is
// what uses it.
package migratecache

import (
	"context"
	"time"
)

// MaxAge is how long a migrated copy serves before it is made again.
const MaxAge = 5 * time.Minute

type key struct{}

// With returns ctx asking sqlstore.Open to start a fresh SQLite database
// from the migrated copy.
func With(ctx context.Context) context.Context { return context.WithValue(ctx, key{}, true) }

// Enabled reports whether ctx asks for the migrated copy.
func Enabled(ctx context.Context) bool {
	on, _ := ctx.Value(key{}).(bool)
	return on
}
