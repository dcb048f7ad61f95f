package dialect

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mycelia-kernel/storage"
)

var _ Dialect = sqliteDialect{}

type sqliteDialect struct{}

func (sqliteDialect) Name() Name { return SQLite }

func (sqliteDialect) Classify(err error) ErrorClass {
	if err == nil {
		return ClassOther
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		if scanError(err) {
			return ClassCorrupt
		}
		return ClassOther
	}
	code := se.Code()
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return ClassBusy
	case sqlite3.SQLITE_CONSTRAINT:
		switch code {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return ClassUniqueViolation
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return ClassForeignKey
		case sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return ClassNotNull
		}
	case sqlite3.SQLITE_FULL:
		return ClassFull
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
		// The file could not be read or written (READONLY: its
		// permissions, a read-only mount, a file moved or replaced).
		return ClassConnection
	case sqlite3.SQLITE_NOMEM:
		return ClassRefused
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_FORMAT:
		return ClassCorrupt
	case sqlite3.SQLITE_TOOBIG:
		return ClassTooLarge
	case sqlite3.SQLITE_ERROR:
		// SQLite's JSON functions raise a plain error on a stored value
		// that is not the JSON (or JSONB) the engine wrote, and on an
		// index path changed outside it; a table or column the engine's
		// migrations made is missing only when it was dropped or renamed
		// outside the engine.
		m := se.Error()
		for _, s := range sqliteCorruptTexts {
			if strings.Contains(m, s) {
				return ClassCorrupt
			}
		}
	}
	return ClassOther
}

// sqliteCorruptTexts are the texts of SQLITE_ERROR that mean the database
// is not as the engine left it (see Classify).
var sqliteCorruptTexts = []string{
	"malformed JSON", "bad JSON path", "JSON cannot hold BLOB values",
	"no such table", "no such column", "has no column named",
}

// SQLiteOptions are the connection settings of a SQLite store.
type SQLiteOptions struct {
	// BusyTimeout bounds how long a statement waits for a lock.
	BusyTimeout time.Duration
	// SynchronousFull selects synchronous=FULL (durable at every commit)
	// instead of NORMAL (durable at checkpoints; never corrupt).
	SynchronousFull bool
	// Readers is the size of the reader pool.
	Readers int
	// CacheKiB bounds each connection's page cache (PRAGMA cache_size,
	// in KiB); 0 leaves SQLite's default (2 MiB). The cache fills only
	// as pages are read, so a store takes at most (readers + 1) times
	// this, and only when its data is that large.
	CacheKiB int
}

// DefaultSQLiteOptions are used for settings a DSN does not give. The page
// cache is 16 MiB per connection: with SQLite's 2 MiB a store of 100,000
// entries (~64 MiB) read most pages of an index seek from the operating
// system, one pread each (issue 14: range + sort 0.28-0.30 of raw SQL at
// a load of 13 with 2 MiB on both sides, 0.66-0.74 with 16 MiB on both).
var DefaultSQLiteOptions = SQLiteOptions{BusyTimeout: 5 * time.Second, Readers: 4, CacheKiB: 16384}

// maxCacheKiB bounds cache_size= (4 GiB per connection).
const maxCacheKiB = 4 << 20

// SQLiteOptionsFrom reads the settings in a DSN's parameters over defaults:
// busy_timeout (milliseconds), synchronous (normal|full), readers (count),
// cache_size (KiB of page cache per connection).
// Unknown parameters are an error.
func SQLiteOptionsFrom(params url.Values, defaults SQLiteOptions) (SQLiteOptions, error) {
	o := defaults
	for k, vs := range params {
		v := vs[len(vs)-1]
		switch k {
		case "busy_timeout":
			ms, err := strconv.Atoi(v)
			if err != nil || ms < 0 {
				return o, fmt.Errorf("dialect: busy_timeout=%q: want milliseconds", v)
			}
			o.BusyTimeout = time.Duration(ms) * time.Millisecond
		case "synchronous":
			switch strings.ToLower(v) {
			case "normal":
				o.SynchronousFull = false
			case "full":
				o.SynchronousFull = true
			default:
				return o, fmt.Errorf("dialect: synchronous=%q: want normal or full", v)
			}
		case "readers":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 64 {
				return o, fmt.Errorf("dialect: readers=%q: want 1 to 64", v)
			}
			o.Readers = n
		case "cache_size":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxCacheKiB {
				return o, fmt.Errorf("dialect: cache_size=%q: want KiB, 1 to %d", v, maxCacheKiB)
			}
			o.CacheKiB = n
		default:
			return o, fmt.Errorf("dialect: unknown sqlite DSN parameter %q (known: busy_timeout, synchronous, readers, cache_size)", k)
		}
	}
	return o, nil
}

// SQLiteDriverDSN builds the modernc.org/sqlite connection string of a file
// database. The writer connection begins every transaction with BEGIN
// IMMEDIATE, so a write transaction holds the write lock from its start;
// reader connections are query-only. Every connection runs in WAL mode with
// foreign keys on.
func SQLiteDriverDSN(path string, o SQLiteOptions, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	addCacheSize(q, o)
	if o.SynchronousFull {
		q.Add("_pragma", "synchronous(FULL)")
	} else {
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + escapePath(path) + "?" + q.Encode()
}

// SQLiteReadOnlyDSN builds the connection string of a query_only
// connection to the file at path that needs no -shm file. With immutable
// (mode=ro, immutable=1) SQLite takes no locks and reads the database file
// alone, which is right only when no WAL holds frames. Without it the
// connection runs in exclusive locking mode, which keeps a WAL database's
// index in the connection's memory instead of the -shm file (and needs a
// file opened for writing, to lock it).
func SQLiteReadOnlyDSN(path string, o SQLiteOptions, immutable bool) string {
	q := url.Values{}
	if immutable {
		q.Set("mode", "ro")
		q.Set("immutable", "1")
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	if !immutable {
		q.Add("_pragma", "locking_mode(EXCLUSIVE)")
	}
	// No cache_size: it reads the schema at once, and on a full disk
	// that first read failed to map the -shm file (SQLITE_IOERR_SHMSIZE,
	// TestOpenDiskFullAfterCrash) where a later one keeps the WAL index in
	// the connection's memory.
	q.Add("_pragma", "query_only(1)")
	return "file:" + escapePath(path) + "?" + q.Encode()
}

// addCacheSize adds the page cache's bound (a negative cache_size is KiB).
func addCacheSize(q url.Values, o SQLiteOptions) {
	if o.CacheKiB > 0 {
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", o.CacheKiB))
	}
}

// SQLiteMemoryDSN builds the connection string of a private in-memory
// database that lives in one connection (the migrate tool's scratch
// databases; sqlstore runs sqlite::memory: as a private file in RAM).
func SQLiteMemoryDSN() string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return ":memory:?" + q.Encode()
}

// escapePath makes a file path safe in a "file:" URI.
func escapePath(p string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return r.Replace(p)
}

// Isolation: SQLite runs every transaction serializable (one writer at a
// time; readers see a snapshot).
func (sqliteDialect) Isolation(storage.IsolationLevel) storage.IsolationLevel {
	return storage.LevelSerializable
}
