package dialect

import (
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
)

var _ Dialect = postgresDialect{}

type postgresDialect struct{}

func (postgresDialect) Name() Name { return Postgres }

// SQLSTATE codes the engine cares about.
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgNotNullViolation     = "23502"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUntranslatable       = "22P05" // unsupported Unicode escape sequence
	pgInvalidText          = "22P02" // invalid input syntax
	pgDiskFull             = "53100"
	pgTooManyConnections   = "53300"
	pgInFailedTx           = "25P02" // current transaction is aborted
	pgReadOnlyTx           = "25006" // the server refuses writes (a standby, a demoted primary)
	pgLockNotAvailable     = "55P03" // lock_timeout passed, or NOWAIT
)

func (postgresDialect) Classify(err error) ErrorClass {
	if err == nil {
		return ClassOther
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case pgUniqueViolation:
			return ClassUniqueViolation
		case pgForeignKeyViolation:
			return ClassForeignKey
		case pgNotNullViolation:
			return ClassNotNull
		case pgSerializationFailure:
			return ClassSerialization
		case pgDeadlockDetected:
			return ClassDeadlock
		case pgLockNotAvailable:
			return ClassBusy
		case pgUntranslatable, pgInvalidText:
			return ClassInvalidText
		case pgDiskFull:
			return ClassFull
		case pgInFailedTx:
			return ClassTxAborted
		case pgTooManyConnections, pgReadOnlyTx:
			// 25006: the server is in recovery (a standby, or a primary
			// demoted by a failover) or read-only by configuration;
			// it refused the write before doing anything.
			return ClassConnection
		}
		// 08: connection exception; 57P01-57P03: the server is shutting
		// down or starting up.
		if len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code[:3] == "57P") {
			return ClassConnection
		}
		return ClassOther
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.Timeout(err) {
		return ClassConnection
	}
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return ClassConnection
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return ClassConnection
	}
	return ClassOther
}

// Isolation: PostgreSQL runs read-uncommitted as read-committed, and the
// default level is read-committed.
func (postgresDialect) Isolation(l storage.IsolationLevel) storage.IsolationLevel {
	switch l {
	case storage.LevelDefault, storage.LevelReadUncommitted:
		return storage.LevelReadCommitted
	}
	return l
}
