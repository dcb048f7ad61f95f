// Package migrations embeds the goose migrations of each dialect. A released
// migration is never edited; every schema change is a new numbered file.
package migrations

import "embed"

// SQLite holds the SQLite migrations, under the directory "sqlite".
//
//go:embed sqlite/*.sql
var SQLite embed.FS

// Postgres holds the PostgreSQL migrations, under the directory "postgres".
//
//go:embed postgres/*.sql
var Postgres embed.FS
