// Command migrate applies the storage engine's schema migrations to a SQLite
// or PostgreSQL database. The migrations are embedded in the binary, so
//
//	go install github.com/mycelia-kernel/storage/cmd/migrate@latest
//
// is all a user needs.
//
// Usage:
//
//	migrate [flags] COMMAND [ARG]
//
// Commands:
//
//	up          apply every pending migration
//	up-to V     apply the pending migrations up to and including version V
//	down        roll back the most recently applied migration
//	down-to V   roll back the migrations above version V (0: all of them)
//	redo        roll back the most recent migration and apply it again
//	reset       roll back every applied migration
//	status      list every migration, applied (with its time) or pending
//	version     print the database's schema version
//	validate    check the migration files of both dialects, and dry-run the
//	            SQLite ones (up, reset, up) on an in-memory database; it does
//	            not connect to the DSN's database
//	create NAME write the next numbered migration, NNNNN_name.sql, into
//	            migrations/sqlite and migrations/postgres (or --dir's)
//
// Flags, before or after the command:
//
//	--dsn DSN            sqlite:PATH[?synchronous=full&busy_timeout=MS],
//	                     sqlite::memory: or postgres://…; default $STORAGE_DSN,
//	                     else sqlite:storage.db. The dialect follows from it.
//	--json               print one JSON document on stdout, errors included
//	--dir DIR            a directory with sqlite/ and postgres/ subdirectories:
//	                     create writes there (default ./migrations); the other
//	                     commands read migrations from there instead of the
//	                     embedded ones (development and tests)
//	--lock-timeout D     how long to wait for another migrator (default 5m;
//	                     above 0)
//	-h, --help           document every command and flag
//	--version            print the build's version and exit
//
// Output: up, down and the others print a line per migration with its
// duration ("up   00001_init.sql (4.21ms)") and a closing line with the
// schema version; status prints an aligned table (VERSION, MIGRATION, STATE,
// APPLIED AT in UTC). With --json the same facts come as one JSON object
// that begins with "command" and "ok", as the store command's do, its
// other members following in name order: for example
// {"command":"up","ok":true,"dialect":"sqlite","durationMs":5.02,
// "latest":1,"migrations":[{"version":1,"file":"00001_init.sql",
// "direction":"up","durationMs":4.21}],"version":1} (names in camelCase,
// as everywhere in the project's JSON); a failure is {"command":…,
// "ok":false,"code":…,"error":…,"exitCode":1} plus,
// when a migration failed, "failed":{"version","file","direction",
// "statement","error"}. "code" names the storage sentinel the error wraps,
// in the HTTP API's words (package routes): invalid_option for a mistake
// in the command line (exit 2) or migration files --dir's validate
// refuses; unavailable for a database that cannot be reached, created or
// locked in time; corrupt for a migration the database refused (another
// application's table by one of the engine's names); unsupported for a
// schema newer than the binary knows; not_found for redo with nothing
// applied; already_exists for create's file that exists; storage_full.
//
// A database whose schema is newer than every migration the binary knows
// (a newer build migrated it) is refused by up, up-to, down, down-to, redo
// and reset before they change anything (exit 1); status and version
// report it. status, version, down, down-to and reset write nothing to a
// database without the store's schema: a SQLite file that does not exist
// is not created (it is at version 0, every migration pending).
//
// A database that cannot be reached is one line naming it (the file, or
// the server's host, port and database; never the user or the password)
// and why, as the engine's sqlstore.Open says it, wrapping its sentinel
// (storage.ErrUnavailable, …):
//
//	migrate: open postgres at db:5432/app: storage: database unavailable: the database cannot be reached, or its file cannot be opened, read or written: connection refused
//
// Exit status: 0 ok, 1 failure (the database cannot be reached, or a
// migration failed), 2 usage (unknown command or flag, a missing or bad
// argument, a malformed DSN).
//
// # Safety
//
// Any number of migrate processes (and engines opening the store) may run
// against one database at once: package schema serializes them, with a
// PostgreSQL advisory lock or, on SQLite, a lock file PATH.migrate.lock
// beside the database, and each migration is applied exactly once. A new
// SQLite database switched to WAL mode by several processes at once can
// answer SQLITE_BUSY; migrate retries that for up to 30 seconds.
//
// A PostgreSQL DSN must reach the server itself, not a connection pooler
// (PgBouncer, …): a pooler in transaction mode does not keep the session
// the advisory lock belongs to, so it would serialize nothing. migrate
// tells one by the process id its connection announced (a pooler's own)
// and refuses every command, exit 1, before it writes anything, wrapping
// storage.ErrInvalidOption. The engine's sqlstore.WithDirectDSN is the
// same rule for an application behind a pooler.
//
// Each migration runs in a transaction. When one fails it is rolled back,
// the schema stays at the last version that succeeded, migrations after it
// are not run, and the error names the file and the statement:
//
//	migrate: schema: migration 00003_broken.sql (up) failed at statement:
//	    INSERT INTO no_such_table (x) VALUES (1);
//	SQL logic error: no such table: no_such_table (1)
//	(the schema is at version 2)
//
// redo runs down and then up, each under the lock: another migrator may run
// between them. What it applies again is the migration its down rolled
// back; when another migrator rolled everything back first it does nothing
// (exit 1, nothing to redo).
package main
