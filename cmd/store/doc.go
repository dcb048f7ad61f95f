// Command store reads and writes a storage engine store, SQLite or
// PostgreSQL (the dialect follows from the DSN), and exports, imports and
// copies it as NDJSON (package dump documents the format).
//
//	go install github.com/mycelia-kernel/storage/cmd/store@latest
//
// Usage:
//
//	store [flags] COMMAND [ARGS]
//
// Commands:
//
//	get KEY                  print an entry: value (indented), metadata,
//	                         version, revision, created and updated times
//	                         (--at REVISION: as it was at that revision,
//	                         from the change log, without the audit actors)
//	set KEY [VALUE]          store a JSON value; VALUE "-" or omitted reads
//	                         stdin (--metadata, --no-overwrite, --if-version, --if-revision,
//	                         --ttl 10m, --expires-at TIME, --keep-ttl; an
//	                         overwrite without these clears the expiry;
//	                         --merge: VALUE is an RFC 7396 merge patch to
//	                         the stored value)
//	delete KEY               delete an entry (--if-version, --if-revision)
//	has KEY                  print true or false (exit 3 when false)
//	meta KEY [OBJECT]        print an entry's metadata and system fields, or
//	                         replace its metadata with OBJECT (--merge: an
//	                         RFC 7396 merge patch; --if-version, --if-revision; "-" reads
//	                         stdin)
//	clear                    delete the entries of -n NAMESPACE, or of every
//	                         namespace with --all (namespaces stay)
//	list                     keys in byte order, one a line (--pattern,
//	                         --limit, --offset, --cursor); a key with a
//	                         newline, a tab or another character that is
//	                         not printable, or that begins with '"', is
//	                         Go-quoted (as in query's table and get)
//	query [FILTER]           entries matching a JSON filter (storage.Filter's
//	                         JSON form; "-" reads stdin; none matches all;
//	                         a leaf needs "value": null to match null)
//	                         as a table (--sort, --limit, --offset, --cursor)
//	count [FILTER]           the number of entries (matching FILTER)
//	ns list                  namespaces with their count of live entries,
//	                         time, owner, declared indexes, metadata
//	ns create NAME           create a namespace (--metadata)
//	ns delete NAME           delete an empty namespace (--recursive: and its
//	                         entries)
//	index create NS FIELD    declare an index on FIELD of namespace NS (which
//	                         must exist) and build it over its entries
//	index drop NS FIELD      drop it
//	watch [FILTER]           the changes as they are committed, one a line
//	                         (revision, type, namespace, key, value), of
//	                         every namespace or -n's, until Ctrl-C or
//	                         --limit N events (--after REVISION: from the
//	                         change after it, 0 every retained one; --pattern
//	                         GLOB: those keys' events and the namespace
//	                         events; FILTER: the puts whose value matches;
//	                         --omit-values). When it stops it says on stderr
//	                         how to resume: --after the last revision shown
//	history KEY              a key's retained changes, oldest first (puts,
//	                         metadata changes, deletes, expiries; --after,
//	                         --limit, --omit-values); a key with no
//	                         retained change that does not exist is not
//	                         found (exit 3), as with get
//	status                   health, dialect, schema version, sizes
//	export [FILE]            the store, or -n NAMESPACE, to FILE or stdout
//	                         (FILE is written beside and renamed when
//	                         complete: a failed export leaves it as it was;
//	                         a new FILE gets mode 0600)
//	import [FILE]            an export from FILE or stdin (--on-conflict,
//	                         --batch-size, --check)
//	copy --from DSN --to DSN the store (or -n NAMESPACE) from one database to
//	                         another, streamed: no temporary file; the side
//	                         not given is --dsn's or $STORAGE_DSN's
//
// watch and history read the store's change log (storage.Watcher,
// storage.Historian): what compaction removed is gone (exit 1, "compacted",
// with the oldest revision retained). watch --json streams its "events" as
// they come, and once it stops (Ctrl-C, --limit, an error) ends the one
// object with "last", the revision to resume after.
//
// list, query and ns list read 500 results at a time and print each page
// as it is read (a table is aligned within each page), so that a listing
// without --limit holds one page in memory, whatever its length.
//
// Data commands work in the default namespace unless -n/--namespace names
// another. --actor NAME records NAME as the actor of writes (the audit
// fields createdBy and updatedBy, which get and meta show). The command works on
// the engine directly: no access control (package security) applies. A page that is not the last prints "(more: add --cursor C)" on
// stderr; with --json the cursor is in the output.
//
// Example:
//
//	export STORAGE_DSN=sqlite:app.db
//	store set user:1 '{"name":"Ada","age":36}' --metadata '{"owner":"ops"}'
//	store query '{"field":"age","operator":"gte","value":18}' --sort age:desc
//	store export backup.ndjson
//	store copy --from sqlite:app.db --to postgres://app@db/app
//
// Flags, before or after the command: run store -h for the list; a mistake
// prints one line and the usage line, --version the build's version. A
// flag the command does not take (query --pattern; ns create --recursive,
// ns delete --metadata and ns list with either; meta KEY, a read, with
// --if-version or --if-revision, which guard meta KEY OBJECT; the commands' flags are
// listed above, and --dsn, --direct-dsn, --json, -n, --actor, --no-migrate,
// --quiet and --progress go with any) is a mistake, not ignored. A number out of its range (--limit or --offset below 0, --if-version,
// --if-revision or --batch-size below 1) is a mistake, never read as not
// given; so is an --after below 0 or an --at below 1. A VALUE, OBJECT or FILTER read from stdin is refused beyond the
// largest value the store takes (16 MiB), exit 2. Exit
// status 130 after Ctrl-C (143 after SIGTERM) cuts a command short; watch,
// which Ctrl-C ends, exits 0 then, as its --json answer says "ok": true.
// The DSN is
// --dsn, else $STORAGE_DSN, else sqlite:storage.db (as for the migrate
// command). Opening a store applies pending migrations (as sqlstore.Open
// does) unless --no-migrate. Commands that only read refuse a SQLite file
// that does not exist instead of creating an empty database, and so does
// every command with --no-migrate (a database it may not migrate could not
// be opened).
//
// A --dsn that goes through a connection pooler in transaction mode
// (PgBouncer; give it default_query_exec_mode=exec or the like) needs
// --direct-dsn (else, for a PostgreSQL --dsn, $STORAGE_DIRECT_DSN, as --dsn
// has $STORAGE_DSN), the server's own address for the same database: the
// migrations run there, under a session-level advisory lock that a pooler
// does not keep (sqlstore.WithDirectDSN). Without it opening the store
// fails, exit 2, storage.ErrInvalidOption, unless --no-migrate (which only
// reads the schema's version). --direct-dsn applies to --dsn's store, not
// to copy's --from and --to.
//
// # Output
//
// Without --json, results are for a person: aligned tables and indented
// JSON on stdout, notes (the next cursor, a summary of export, import and
// copy) on stderr, errors on stderr as "store: MESSAGE", the storage
// error's own message. With --json, each command prints one JSON object on
// stdout, success or failure, that begins with "command" (the command's
// name: get, ns, …) and "ok": a success is {"command":…,"ok":true,…} with
// the command's members after them (has answers "exists", and exits 3
// when it is false); a failure, a flag that does not parse included, is
// {"command":…,"ok":false,"error":…,"code":…,"exitCode":…} ("code" is the
// storage sentinel the error wraps in the wire's words, package routes:
// not_found, invalid_option for a mistake in the command line,
// unavailable, …), plus
// for a failed import "line", "imported" (the counts committed, with
// lastCommittedLine) and "rolledBackLines". list, query and ns list
// stream their "keys", "entries" or "namespaces" and say "ok" after them:
// a failure after the first page ends the same object with "ok": false,
// "error", "code" and "exitCode". The
// answer of an export to stdout goes to stderr. The JSON uses the wire's names and shapes
// (package routes): an entry from get and query is the wire's entry
// (namespace, key, value, metadata, version, revision, createRevision,
// createdAt, updatedAt, expiresAt when set) with the audit actors
// createdBy and updatedBy; status is the wire's getStatus object (size,
// schemaVersion, revision, oldestRevision, …); every name is camelCase.
//
// Export, import and copy show progress on stderr: on a terminal a bar
// with percentage, rate and ETA (the total comes from the store's size for
// export and copy, from the file's size for import), otherwise a plain line
// every five seconds. --progress bar|lines|none chooses; --quiet silences
// progress and summary.
//
// # Import
//
// Import is idempotent: entries already present with identical content are
// skipped, so after any failure running the same command again finishes
// the job. A key present with other content stops the import (exit 4)
// unless --on-conflict skip (keep the stored one) or overwrite. A failure
// says exactly what was committed: "imported N entries through line L; the
// batch of lines A-B was rolled back". --check validates the whole file
// (every line, the trailer's counts and checksum) and writes nothing; it
// opens the database only if --dsn or STORAGE_DSN is given, for its maximum
// value size.
//
// # Exit status
//
//	0  success
//	1  failure: the database (unreachable, failing), a file, a malformed or
//	   truncated import (a key or value of the file the store refuses
//	   included)
//	2  usage: a bad command line, flag, DSN, duration or number; an
//	   input the store refuses: a key, namespace, JSON value or
//	   metadata, filter, sort or option (storage.ErrInvalidKey,
//	   ErrInvalidNamespace, ErrInvalidValue, ErrValueTooLarge,
//	   ErrInvalidOption, ErrInvalidFilter)
//	3  not found: the key or namespace does not exist
//	4  conflict: a version mismatch (--if-version, --if-revision), a key that exists
//	   (--no-overwrite), a namespace that exists or is not empty, an
//	   import's conflicting key or namespace
package main
