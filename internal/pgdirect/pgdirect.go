// Package pgdirect checks what a PostgreSQL connection reaches before the
// migrations run on it (cmd/migrate, sqlstore.Open): the server itself,
// not a connection pooler in front of it (PgBouncer, …), since the
// migrations need a session of their own, under a session-level advisory
// lock, which a pooler in transaction mode does not keep (Pooled); and a
// schema that exists (NoSchema).
package pgdirect

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Pooled reports whether c goes through a connection pooler: the process
// id the connection announced when it was made (its cancel key) is not
// the server process that serves it, which a pooler, announcing a key of
// its own, does not pass on. The query goes in the simple protocol, which
// a pooler in transaction mode takes whatever c's exec mode.
func Pooled(ctx context.Context, c *pgx.Conn) (bool, error) {
	var pid uint32
	if err := c.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
		return false, err
	}
	return pid != c.PgConn().PID(), nil
}

// NoSchema reports whether c's search_path names no schema that exists
// (current_schema() is null), where no table can be created or found.
func NoSchema(ctx context.Context, c *pgx.Conn) (bool, error) {
	var schema *string
	if err := c.QueryRow(ctx, "SELECT current_schema()", pgx.QueryExecModeSimpleProtocol).Scan(&schema); err != nil {
		return false, err
	}
	return schema == nil, nil
}
