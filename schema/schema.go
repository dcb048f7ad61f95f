package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/migrations"
)

// Dialect names the database a schema is applied to.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// VersionTable is the table in which goose records applied migrations.
const VersionTable = goose.DefaultTablename

// DefaultLockTimeout is how long a migrator waits for another one to finish
// before giving up, unless WithLockTimeout says otherwise.
const DefaultLockTimeout = 5 * time.Minute

// Option configures NewProvider and Up.
type Option func(*config)

type config struct {
	sqliteFile  string
	lockTimeout time.Duration
	fsys        fs.FS // migrations to use instead of the embedded ones (WithFS)
}

// WithSQLiteFile names the SQLite database file, so that the migration lock
// is taken on "<path>.migrate.lock". Without it the path is asked of the
// connection (PRAGMA database_list). An empty path or ":memory:" means an
// in-memory database, which takes no lock. Ignored for PostgreSQL.
func WithSQLiteFile(path string) Option {
	return func(c *config) { c.sqliteFile = path }
}

// WithLockTimeout bounds the wait for the migration lock (DefaultLockTimeout
// if unset or not positive). The context passed to Up bounds it as well.
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) { c.lockTimeout = d }
}

// source returns goose's dialect for d and its embedded migrations.
func (d Dialect) source() (goose.Dialect, fs.FS, error) {
	switch d {
	case SQLite:
		sub, err := fs.Sub(migrations.SQLite, "sqlite")
		return database.DialectSQLite3, sub, err
	case Postgres:
		sub, err := fs.Sub(migrations.Postgres, "postgres")
		return database.DialectPostgres, sub, err
	default:
		return "", nil, fmt.Errorf("schema: %w", &Error{driver.ErrInvalidOption, fmt.Sprintf("unknown dialect %q (want %q or %q)", string(d), SQLite, Postgres), nil})
	}
}

// NewProvider returns a goose Provider for the embedded migrations of d on
// db, with locking configured so that concurrent migrators (in this process
// or in others) are serialized. Use it for what Up and Version do not cover:
// Status, Down, DownTo, HasPending.
func NewProvider(d Dialect, db *sql.DB, opts ...Option) (*goose.Provider, error) {
	return newProvider(d, db, opts)
}

// newProvider is NewProvider with extra goose options (Migrator's statement
// tracking).
func newProvider(d Dialect, db *sql.DB, opts []Option, extra ...goose.ProviderOption) (*goose.Provider, error) {
	gd, fsys, err := d.source()
	if err != nil {
		return nil, err
	}
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.fsys != nil {
		fsys = cfg.fsys
	}
	if cfg.lockTimeout <= 0 {
		cfg.lockTimeout = DefaultLockTimeout
	}
	var locker lock.SessionLocker
	switch d {
	case Postgres:
		// goose retries pg_try_advisory_lock every period (at least one
		// second) up to the threshold.
		tries := uint64((cfg.lockTimeout + time.Second - 1) / time.Second)
		// The lock is per schema: migrators of different schemas in one
		// database (tenants, tests) do not wait for each other.
		id, err := postgresLockID(db)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", classifyIn(context.Background(), d, err))
		}
		pl, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, tries), lock.WithLockID(id))
		if err != nil {
			return nil, fmt.Errorf("schema: %w", &Error{driver.ErrInvalidOption, "the migration lock's settings: " + err.Error(), err})
		}
		locker = sentinelLocker{pl}
	case SQLite:
		locker = &fileLocker{path: cfg.sqliteFile, timeout: cfg.lockTimeout}
	}
	p, err := goose.NewProvider(gd, db, fsys, append([]goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	}, extra...)...)
	if err != nil {
		// The migrations do not load: none (WithFS of another
		// directory), a file goose cannot parse, two of one version.
		return nil, fmt.Errorf("schema: %w", &Error{driver.ErrInvalidOption, "the migrations cannot be loaded: " + err.Error(), err})
	}
	return p, nil
}

// Up applies every pending migration of d to db and returns what it applied
// (nothing when the schema is current). Safe to call concurrently from
// several processes; see the package documentation. Its errors wrap a
// storage sentinel (see "Errors" in the package documentation). When the
// first migration fails on a database goose had not recorded anything in
// (its version table did not exist: another application's database, say,
// with a table by one of the engine's names), Up drops the version table
// goose created, leaving the database as it found it.
func Up(ctx context.Context, d Dialect, db *sql.DB, opts ...Option) ([]*goose.MigrationResult, error) {
	p, err := NewProvider(d, db, opts...)
	if err != nil {
		return nil, err
	}
	had, err := versionTableExists(ctx, d, db)
	if err != nil {
		return nil, fmt.Errorf("schema: migrate %s: %w", d, classifyIn(ctx, d, err))
	}
	res, err := p.Up(ctx)
	if err != nil {
		err = classifyIn(ctx, d, err)
		undoRefused(ctx, d, db, had, len(res), err)
		return res, fmt.Errorf("schema: migrate %s: %w", d, err)
	}
	return res, nil
}

// undoRefused drops the version table goose created for a run that
// failed with ErrCorrupt before applying anything (applied) on a database
// that had no version table (had): another application's database, with
// a table by one of the engine's names, is left as it was.
func undoRefused(ctx context.Context, d Dialect, db *sql.DB, had bool, applied int, err error) {
	if !had && applied == 0 && errors.Is(err, driver.ErrCorrupt) {
		dropUnusedVersionTable(ctx, d, db)
	}
}

// dropUnusedVersionTable drops goose's version table when it records no
// migration (only goose's own version 0), in one transaction; it is best
// effort: a failure leaves the table, which does no harm to a later Up.
func dropUnusedVersionTable(ctx context.Context, d Dialect, db *sql.DB) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return
	}
	defer func() { _ = tx.Rollback() }()
	if d == Postgres {
		// Before the count: a migrator that created the table at
		// the same moment and is applying a migration keeps it.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE `+VersionTable+` IN ACCESS EXCLUSIVE MODE`); err != nil {
			return
		}
	}
	var n int
	// VersionTable is a constant identifier, not input.
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+VersionTable+` WHERE version_id > 0`).Scan(&n); err != nil || n > 0 {
		return
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE `+VersionTable); err != nil {
		return
	}
	_ = tx.Commit()
}

// versionTableExists reports whether goose's version table exists (in
// PostgreSQL's current schema).
func versionTableExists(ctx context.Context, d Dialect, db *sql.DB) (bool, error) {
	var exists bool
	var err error
	switch d {
	case SQLite:
		err = db.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)`,
			VersionTable).Scan(&exists)
	case Postgres:
		err = db.QueryRowContext(ctx,
			`SELECT to_regclass(quote_ident($1)) IS NOT NULL`, VersionTable).Scan(&exists)
	}
	return exists, err
}

// Version returns the highest migration version applied to db, or 0 when
// none is (including when goose's version table does not exist yet). It
// only reads and takes no lock.
func Version(ctx context.Context, d Dialect, db *sql.DB) (int64, error) {
	gd, _, err := d.source()
	if err != nil {
		return 0, err
	}
	exists, err := versionTableExists(ctx, d, db)
	if err != nil {
		return 0, fmt.Errorf("schema: version: %w", classifyIn(ctx, d, err))
	}
	if !exists {
		return 0, nil
	}
	store, err := database.NewStore(gd, VersionTable)
	if err != nil {
		return 0, fmt.Errorf("schema: %w", err)
	}
	v, err := store.GetLatestVersion(ctx, db)
	if errors.Is(err, database.ErrVersionNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("schema: version: %w", classifyIn(ctx, d, err))
	}
	return v, nil
}

// postgresLockID derives the migration lock's advisory-lock key from the
// schema the migrations go into (the first on the search_path).
func postgresLockID(db *sql.DB) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var current string
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&current); err != nil {
		return 0, fmt.Errorf("read current schema: %w", err)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte("mycelia-storage/goose/" + current))
	return int64(h.Sum64()), nil
}
