package dialect

import (
	"errors"
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
)

func (postgresDialect) Classify(err error) ErrorClass {
	if err == nil {
		return ErrOther
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case pgUniqueViolation:
			return ErrUniqueViolation
		case pgForeignKeyViolation:
			return ErrForeignKey
		case pgNotNullViolation:
			return ErrNotNull
		case pgSerializationFailure:
			return ErrSerialization
		case pgDeadlockDetected:
			return ErrDeadlock
		case pgUntranslatable, pgInvalidText:
			return ErrInvalidText
		}
		if len(pe.Code) == 5 && pe.Code[:2] == "08" {
			return ErrConnection
		}
		return ErrOther
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.Timeout(err) {
		return ErrConnection
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return ErrConnection
	}
	return ErrOther
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
