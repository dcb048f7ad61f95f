package dialect

import (
	"fmt"

	"github.com/mycelia-kernel/storage"
	"net/url"
	"strings"
)

// Name identifies a dialect.
type Name string

// The dialects.
const (
	SQLite   Name = "sqlite"
	Postgres Name = "postgres"
)

// ErrorClass is what the engine needs to know about a driver error: a
// class of errors, not an error. A store never returns one; sqlstore maps
// each class to the storage sentinel it means (ClassBusy and
// ClassSerialization to storage.ErrTxConflict, ClassFull to
// storage.ErrStorageFull, and so on). Compare the result of Classify with
// the Class constants.
type ErrorClass int

// The error classes.
const (
	ClassOther           ErrorClass = iota // anything else
	ClassUniqueViolation                   // a unique or primary key constraint
	ClassForeignKey                        // a foreign key constraint
	ClassNotNull                           // a NOT NULL constraint
	ClassSerialization                     // Postgres 40001: retry the transaction
	ClassDeadlock                          // Postgres 40P01: retry the transaction
	ClassBusy                              // SQLite BUSY/LOCKED, Postgres 55P03 (lock_timeout): retry later
	ClassInvalidText                       // the database refused a value's text (e.g. \u0000 in jsonb)
	ClassConnection                        // the connection failed, the server crashed (a PANIC) or refused to serve (shutting down, read-only), or the system failed it (SQLite IOERR, Postgres class 58); the outcome may be unknown
	ClassFull                              // the disk is full (SQLITE_FULL, Postgres 53100)
	ClassTxAborted                         // Postgres 25P02: an earlier statement aborted the transaction
	ClassCorrupt                           // the database holds what the engine cannot read: a corrupt file, a value of another type than the engine writes, a schema object dropped or altered outside the engine
	ClassRefused                           // the server refused the statement by its configuration or its administrator: a statement timeout, a cancel, a missing privilege, a resource limit (not the caller's context)
	ClassTooLarge                          // a value or statement over the database's own limits (SQLITE_TOOBIG, Postgres class 54)
)

func (c ErrorClass) String() string {
	switch c {
	case ClassUniqueViolation:
		return "unique-violation"
	case ClassForeignKey:
		return "foreign-key"
	case ClassNotNull:
		return "not-null"
	case ClassSerialization:
		return "serialization"
	case ClassDeadlock:
		return "deadlock"
	case ClassBusy:
		return "busy"
	case ClassInvalidText:
		return "invalid-text"
	case ClassConnection:
		return "connection"
	case ClassFull:
		return "full"
	case ClassTxAborted:
		return "tx-aborted"
	case ClassCorrupt:
		return "corrupt"
	case ClassRefused:
		return "refused"
	case ClassTooLarge:
		return "too-large"
	}
	return "other"
}

// Retryable reports whether a transaction that failed with this class can be
// run again from the start.
func (c ErrorClass) Retryable() bool {
	return c == ClassSerialization || c == ClassDeadlock || c == ClassBusy
}

// Dialect is what the engine asks of a database beyond the generated
// statements.
type Dialect interface {
	// Name is the dialect's name, as reported by Status.
	Name() Name
	// Classify maps a driver error (possibly wrapped) to an ErrorClass.
	Classify(err error) ErrorClass
	// Isolation returns the level a transaction that asked for requested
	// actually runs at.
	Isolation(requested storage.IsolationLevel) storage.IsolationLevel
}

// Config is a parsed DSN.
type Config struct {
	Dialect Name
	// SQLite: the database file path, or "" with Memory set.
	Path   string
	Memory bool
	// SQLite: extra query parameters given after the path ("sqlite:x.db?a=b").
	Params url.Values
	// Postgres: the connection string as given.
	URL string
}

// ParseDSN parses the store's DSN forms:
//
//	sqlite:path/to.db          a database file (created if missing)
//	sqlite:path/to.db?k=v      with options, see SQLiteOptions
//	sqlite::memory:            a private in-memory database
//	postgres://… postgresql://…  a PostgreSQL connection URL (pgx syntax)
func ParseDSN(dsn string) (Config, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return Config{Dialect: Postgres, URL: dsn}, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		rest := strings.TrimPrefix(dsn, "sqlite:")
		path, rawQuery, _ := strings.Cut(rest, "?")
		params, err := url.ParseQuery(rawQuery)
		if err != nil {
			return Config{}, fmt.Errorf("dialect: DSN %q: bad parameters: %w", redact(dsn), err)
		}
		if path == ":memory:" {
			return Config{Dialect: SQLite, Memory: true, Params: params}, nil
		}
		if path == "" {
			return Config{}, fmt.Errorf("dialect: DSN %q: missing file path (sqlite:path/to.db or sqlite::memory:)", dsn)
		}
		return Config{Dialect: SQLite, Path: path, Params: params}, nil
	}
	return Config{}, fmt.Errorf("dialect: DSN %q: want sqlite:PATH, sqlite::memory: or postgres://…", redact(dsn))
}

// scanError reports whether err is database/sql's conversion of a column
// into a Go value failing (a value of another type than the engine
// writes: a row changed outside the engine). database/sql gives these
// errors no type; their texts are fixed ("sql: Scan error on column
// index", "converting driver.Value type", "unsupported Scan, storing
// driver.Value type"), tested on each error of the chain.
func scanError(err error) bool {
	for err != nil {
		m := err.Error()
		if strings.HasPrefix(m, "sql: Scan error on column index ") ||
			strings.HasPrefix(m, "converting driver.Value type ") ||
			strings.HasPrefix(m, "unsupported Scan, storing driver.Value type ") {
			return true
		}
		switch u := err.(type) { //nolint:errorlint // walks the chain by hand
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if scanError(e) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// redact hides a password in a URL-shaped DSN.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	// Not a URL with a user ("postgresql:user:pw@host/db", a mistyped
	// scheme): whatever stands between the scheme and the last @ may be
	// credentials.
	at := strings.LastIndexByte(dsn, '@')
	if at < 0 {
		return dsn
	}
	start := 0
	if i := strings.Index(dsn, "://"); i >= 0 && i < at {
		start = i + 3
	} else if i := strings.IndexByte(dsn, ':'); i >= 0 && i < at {
		start = i + 1
	}
	return dsn[:start] + "xxxxx" + dsn[at:]
}

// ForName returns the dialect called name.
func ForName(name Name) (Dialect, error) {
	switch name {
	case SQLite:
		return sqliteDialect{}, nil
	case Postgres:
		return postgresDialect{}, nil
	}
	return nil, fmt.Errorf("dialect: unknown dialect %q", name)
}
