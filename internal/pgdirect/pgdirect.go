// Package pgdirect tells whether a PostgreSQL connection reaches the
// server itself or a connection pooler in front of it (PgBouncer, …), for
// the work that needs a session of its own: the migrations, under a
// session-level advisory lock, which a pooler in transaction mode does not
// keep (cmd/migrate, and sqlstore's WithDirectDSN).
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
