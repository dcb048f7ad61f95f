package dialect

import (
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5"
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
	pgIdleInTxTimeout      = "25P03" // idle_in_transaction_session_timeout ended the session
	pgQueryCanceled        = "57014" // statement_timeout, pg_cancel_backend
	pgInsufficientPriv     = "42501" // a privilege revoked, a read-only role
	pgUndefinedTable       = "42P01"
	pgUndefinedColumn      = "42703"
	pgUndefinedFunction    = "42883"
	pgUndefinedObject      = "42704"
	pgDatatypeMismatch     = "42804"
)

func (postgresDialect) Classify(err error) ErrorClass {
	if err == nil {
		return ClassOther
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if pgPanic(pe) {
			// The server crashed (a PANIC: its WAL's disk full, say,
			// 53100; most others are XX000): every backend restarts,
			// and the statement in flight may have committed.
			return ClassConnection
		}
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
		case pgQueryCanceled, pgInsufficientPriv:
			// The caller's own context's cancel is its context's
			// error, which sqlstore tests before classifying.
			return ClassRefused
		case pgUndefinedTable, pgUndefinedColumn, pgUndefinedFunction, pgUndefinedObject, pgDatatypeMismatch:
			// The engine's migrations made every object its
			// statements name: one dropped or altered outside it.
			return ClassCorrupt
		case pgTooManyConnections, pgReadOnlyTx, pgIdleInTxTimeout:
			// 25006: the server is in recovery (a standby, or a primary
			// demoted by a failover) or read-only by configuration;
			// it refused the write before doing anything.
			return ClassConnection
		}
		// 08: connection exception; 57P01-57P03: the server is shutting
		// down or starting up; 58: the system failed the server (58030,
		// an I/O error reading or writing a file), as SQLite's IOERR.
		if len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code[:3] == "57P" || pe.Code[:2] == "58") {
			return ClassConnection
		}
		switch pe.Code[:min(2, len(pe.Code))] {
		case "53":
			// insufficient resources other than a full disk and too
			// many connections: out of memory, temp_file_limit.
			return ClassRefused
		case "54":
			// program_limit_exceeded: a value or statement over the
			// server's limits (a jsonb over 255 MiB).
			return ClassTooLarge
		}
		if pe.Code == "XX001" || pe.Code == "XX002" {
			// data_corrupted, index_corrupted.
			return ClassCorrupt
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
	// A column that does not scan into the engine's Go type: a column
	// altered outside the engine.
	var sa pgx.ScanArgError
	if errors.As(err, &sa) || scanError(err) {
		return ClassCorrupt
	}
	return ClassOther
}

// pgPanic reports whether the server answered with a PANIC: it crashed,
// and restarts.
func pgPanic(pe *pgconn.PgError) bool {
	return pe.SeverityUnlocalized == "PANIC" || pe.SeverityUnlocalized == "" && pe.Severity == "PANIC"
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
