// Package testdb names the databases the tests run on: an in-memory SQLite
// store, a SQLite file in the test's temporary directory, and a fresh
// PostgreSQL schema on the server named by STORAGE_TEST_POSTGRES_DSN.
//
//	for _, c := range testdb.Configs("t", "pool_max_conns", "8") {
//		t.Run(c.Name, func(t *testing.T) { dsn := c.DSN(t); ... })
//	}
//
// A PostgreSQL DSN comes from internal/testutil/pgtest: without a server the test is
// skipped, or fails when CI=true. The package gives DSNs only and imports no
// engine, so that sqlstore's own tests can use it; package
// internal/testutil/teststore opens engines on them.
package testdb

import (
	"path/filepath"
	"testing"

	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
)

// Config is one database configuration: a name for t.Run and a function
// giving each test a DSN of its own.
type Config struct {
	Name string
	DSN  func(t testing.TB) string
}

// Configs returns the three configurations every engine-backed test runs
// on, in this order: "sqlite-memory", "sqlite-file" and "postgres". The
// PostgreSQL schemas are named prefix_<random>; params are extra DSN query
// parameters as name, value pairs (see pgtest.NewSchema).
func Configs(prefix string, params ...string) []Config {
	return []Config{
		{"sqlite-memory", SQLiteMemory},
		{"sqlite-file", SQLiteFile},
		{"postgres", func(t testing.TB) string {
			t.Helper()
			return Postgres(t, prefix, params...)
		}},
	}
}

// Except returns cs without the configuration named name.
func Except(cs []Config, name string) []Config {
	var out []Config
	for _, c := range cs {
		if c.Name != name {
			out = append(out, c)
		}
	}
	return out
}

// SQLiteMemory returns the DSN of a private in-memory SQLite database.
func SQLiteMemory(testing.TB) string { return "sqlite::memory:" }

// SQLiteFile returns the DSN of a SQLite file in t's temporary directory,
// removed when the test ends.
func SQLiteFile(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "store.db")
}

// Postgres returns the DSN of a fresh schema named prefix_<random>, dropped
// when the test ends, with the extra query parameters params. Without
// STORAGE_TEST_POSTGRES_DSN the test is skipped, or fails when CI=true.
func Postgres(t testing.TB, prefix string, params ...string) string {
	t.Helper()
	return pgtest.NewSchema(t, prefix, params...)
}
