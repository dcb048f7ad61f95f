// Package schema applies the storage engine's embedded migrations
// (package migrations) with goose v3's Provider, one per dialect.
//
//	results, err := schema.Up(ctx, schema.SQLite, db, schema.WithSQLiteFile("app.db"))
//	v, err := schema.Version(ctx, schema.SQLite, db)
//
// For PostgreSQL the engine holds a pgx pool, not a *sql.DB; wrap it for the
// duration of the migration with stdlib.OpenDBFromPool from
// github.com/jackc/pgx/v5/stdlib (closing that *sql.DB leaves the pool open):
//
//	db := stdlib.OpenDBFromPool(pool)
//	defer db.Close()
//	_, err := schema.Up(ctx, schema.Postgres, db)
//
// Migrator wraps the Provider for tools such as cmd/migrate: Up, UpTo,
// Down, DownTo, Redo, Reset, Status and Version, with a failed migration
// reported as a *MigrationError that names the file, the direction and the
// statement (its transaction is rolled back, so the schema stays at the last
// good version). WithFS reads migrations from another fs.FS than the
// embedded one (development and tests). ValidateFiles checks migration files
// without a database, and Create writes the next numbered migration for
// every dialect. On a database whose version is above every migration it
// knows (a newer build migrated it), Up, UpTo, Down, DownTo, Redo and Reset
// change nothing and return an error wrapping ErrSchemaNewer. Status on a
// database with no migration applied, and Down and DownTo with nothing to
// roll back, write nothing (goose's would create its version table).
//
//	m, err := schema.NewMigrator(schema.Postgres, db)
//	res, err := m.Up(ctx) // on failure: res holds what was applied before it
//
// # Concurrency
//
// Any number of processes may call Up against the same database at the same
// time: migrators are serialized and each migration is applied exactly once.
//
//   - PostgreSQL: a session-level advisory lock (goose's
//     lock.NewPostgresSessionLocker), scoped to the current database.
//   - SQLite has no server to hold a lock, so migrators take an exclusive
//     flock(2) (LockFileEx on Windows) on the file "<database>.migrate.lock"
//     beside the database. The lock file is created on first use and left in
//     place (removing it would race with a waiting migrator). The database
//     path comes from WithSQLiteFile or, without it, from the connection
//     itself (PRAGMA database_list), with symbolic links resolved as SQLite
//     resolves them (a migrator naming the file by a link takes the same
//     lock as one naming it by its real path). An in-memory database takes
//     no lock: only its own process can reach it.
//
// Waiting for the lock polls and honours the context; WithLockTimeout bounds
// the wait (five minutes by default). PostgreSQL's locker (goose's) polls once
// a second, so a migrator that finds the lock taken waits at least a second.
//
// goose's Up first asks, without the lock, whether anything is pending, and
// creates its version table if it is missing; concurrent creations of that
// table are retried by goose (a delay of about a second, on a fresh database
// only). The migrations themselves run under the lock, after the applied
// versions have been read again, so each is applied exactly once.
//
// Version only reads: it never creates the goose version table and takes no
// lock, so it is cheap enough for a status call while a migration runs.
//
// On SQLite, give the connection a busy timeout (modernc.org/sqlite:
// "?_pragma=busy_timeout(5000)"): the migration lock serializes migrators, not
// the application's own readers and writers.
//
// # Errors
//
// Every error of Up, Version and the Migrator's methods wraps exactly one
// sentinel of package storage (the same values as package driver's; test
// with errors.Is), except the caller's context's own error, which
// errors.Is finds as it is (its message the context's alone, without
// goose's or the driver's words about the statement or the connection it
// cut short); so do NewProvider's and NewMigrator's:
//
//   - storage.ErrInvalidOption: an unknown dialect, migrations that do not
//     load (WithFS of a directory without any, a file goose cannot parse,
//     two files of one version), UpTo below 1 or DownTo below 0.
//   - storage.ErrNotFound: Redo with no migration applied
//     (ErrNothingToRedo wraps it).
//   - storage.ErrUnsupported: the database's schema is newer than every
//     migration this build knows (ErrSchemaNewer wraps it), or its version
//     table holds versions goose refuses (another program's).
//   - storage.ErrUnavailable: the database cannot be reached, the
//     connection failed or could not be made within the driver's own
//     timeout (connect_timeout; the caller's context still alive), the database is locked, the migration lock is
//     still held by another migrator when WithLockTimeout's wait ends, the
//     server refused a statement by its configuration or its administrator
//     (a missing privilege, a statement timeout), or a file (SQLite's, its
//     lock file) cannot be opened, read or written. Running the migrations
//     again later may succeed.
//   - storage.ErrCorrupt: the database refused a migration's statement
//     otherwise: it holds another application's table by one of the
//     engine's names, its schema was changed outside the engine, or it is
//     corrupt. Permanent: running them again fails the same way. When the
//     first migration fails so on a database without goose's version
//     table, Up (and the Migrator's Up and UpTo) drops the table goose
//     created for it, so that another
//     application's database is left as it was (on SQLite the database's
//     own sqlite_sequence, which the version table's AUTOINCREMENT created,
//     stays, empty).
//   - storage.ErrStorageFull: no space left for the database.
//
// Their messages carry neither goose's nor the driver's text (errors.As
// still finds the driver's error: a *pgconn.PgError, a *sqlite.Error),
// except a *MigrationError's, which gives the failed statement and the
// database's error in its own words for the operator running the
// migrations (cmd/migrate).
package schema
