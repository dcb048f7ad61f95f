// Package sqlstore is the storage engine: a storage.Store on SQLite
// (modernc.org/sqlite, no cgo) or PostgreSQL (pgx/v5), with the same answers
// to the same calls on both.
//
//	s, err := sqlstore.Open(ctx, "sqlite:data/app.db")
//	if err != nil { ... }
//	defer s.Close()
//	err = s.Set(ctx, "user:1", map[string]any{"name": "Ada"}, storage.InNamespace("users"))
//	e, err := s.Get(ctx, "user:1", storage.InNamespace("users"))
//
// # Connections
//
// SQLite runs in WAL mode with foreign keys on and synchronous=NORMAL
// (synchronous=full in the DSN for durability at every commit). Writes go
// through one writer connection whose transactions begin with BEGIN
// IMMEDIATE; reads use a pool of query-only connections (DSN parameter
// readers, default 4). Get, Has, GetMany and GetMetadata outside
// transactions, the point reads, and the engine's own short reads (Status,
// a write's look at the change log's state or the purge's backlog) run on
// query-only connections of their own, half as many
// as the readers (at least one), where nothing else runs: the readers
// serve the reads that may last (a scan no index serves, a watch's read
// of the log, a read-only transaction's snapshot), and three read-only
// transactions (the most the readers allow) and two scans beside them held
// every reader, so that a get of one entry waited seconds for a scan to
// end. They are a lane, not a cap: with every point reader in use, a point
// read runs on a reader if one is idle. A sqlite::memory: database is a private file in RAM
// (/dev/shm), run the same way and removed at Close, so reads go on while a
// write transaction is open there too. The modernc driver caches no
// statements, so the engine keeps prepared statements by SQL text on each
// pool (at most 256 texts), for the store's lifetime; transactions run them
// on their connection through sql.Tx.StmtContext, so BEGIN aside nothing is
// parsed again from one transaction to the next (stmtcache.go). Get, Has
// and GetMany outside transactions run their statements through the
// driver itself, prepared once per reader connection and finalized by
// that connection's Close (the reader pool's connections wrap the
// driver's), without database/sql's statement and row handling
// (fastread.go); so do a single Set's write on the writer connection
// (wrapped the same way), and a transaction's Get, Has and Set on the
// connection it holds (sqlitewrite.go).
// PostgreSQL uses a native pgx pool (pgxpool), so statement caching and
// batches are available. Beside the pool (pool_max_conns) the engine keeps
// two lanes of connections of their own, each half of what transactions
// leave of the pool (at least two; 4 each beside a pool of 32): one for
// the point reads and the engine's own short reads (Status and its ping,
// the look at the change log's state or the purge's backlog), one for the
// writes outside transactions (a Set, a batch, a Clear, an index build,
// the sweeper's and compaction's batches). The pool serves what may last
// (read-only transactions, up to three quarters of it; watch reads; scans
// no index serves, which the engine does not bound), and those held every
// connection of it, so that a get of one entry, Status and a Set waited
// seconds for one of them to end (TestPostgresQuickBesideLongReads,
// TestPostgresWritesBesideFullPool). The writes have a lane apart from the
// point reads' so that writes waiting for the revision lock behind a
// transaction do not keep the gets waiting. As SQLite's point readers, a
// lane is not a cap: with every connection of it in use, a call runs on
// the pool if that has one free. So the engine may open pool_max_conns
// plus both lanes' connections to the server.
//
// Behind a pooler in transaction mode (PgBouncer's pool_mode =
// transaction) the DSN picks a pgx exec mode that keeps no named prepared
// statement (default_query_exec_mode=cache_describe, exec or
// simple_protocol), and WithDirectDSN names a direct connection for what
// needs a session: the migrations, under goose's session-level advisory
// lock. Open tells a pooler by the process id its connection announced
// (internal/pgdirect) and, without WithDirectDSN, refuses to migrate
// through one (ErrInvalidOption); WithoutMigrate, which only reads the
// schema's version, opens through it alone. In the exec and simple_protocol modes pgx guesses a parameter's type
// from its Go type; the engine registers []byte (and [][]byte) as jsonb on
// its connections, since every byte-slice parameter it sends is a JSON
// document, where pgx would send bytea. Everything else the engine runs
// lives within one transaction (the revision and capacity lock is
// pg_advisory_xact_lock), so it needs no session.
//
// WithReplica adds a hot standby for read-only transactions, chosen at
// Begin from the standby's replay lag (measured at most once per
// ReplicaCheckInterval against the primary's WAL position, and sooner
// when the last lag plus the measure's age passes the bound, so that no
// read-only transaction reads further behind than the bound); see
// ReplicaStatus and OnReplica.
//
// # Statements
//
// The fixed-shape statements are generated by sqlc from queries/ into
// internal/sqlitedb and internal/pgdb. Writes name their namespace by name
// inside the statement, so a write costs one round trip when its namespace
// exists; when it does not, the statement affects no row, the engine creates
// the namespace and runs it again. Batches send their keys as one parameter
// (a Postgres array, a SQLite JSON document), so GetMany, SetMany and
// DeleteMany cost the same number of round trips for 10 keys as for 1000.
// On SQLite a SetMany outside transactions with nothing to check first (no
// MustExist, IfRevision, NoOverwrite or capacity; items all with or all
// without metadata) is that one statement alone in autocommit mode, which
// reads the revision counter itself: in a transaction SQLite would keep a
// statement journal for it; to a missing namespace it runs in a
// transaction that creates the namespace. On PostgreSQL a batch write of 10000 items or more (SetMany, Restore)
// sends its items with COPY into a temporary table instead, one round trip
// more, and runs the same statement on it (pgcopy.go). A PostgreSQL
// transaction (Begin) sends its BEGIN with its first statement, in one
// pipelined batch (pglazytx.go): a read-modify-write transaction costs
// three round trips (BEGIN and the read, the revision lock and the write,
// COMMIT), and one that runs nothing costs none. The transaction's
// snapshot is taken at its first statement either way.
//
// # Choices where the contract is silent
//
//   - Set without WithMetadata keeps the metadata already stored; a new key
//     starts with {}.
//   - IfVersion or IfRevision on Set of a missing key is ErrConflict; on
//     Delete and SetMetadata a missing key is ErrNotFound, with or without
//     them. MustExist on a missing key is ErrNotFound. IfVersion and
//     IfRevision together must both match.
//   - SetMany with MustExist, or with items that carry IfRevision, reads
//     the stored revisions of its keys first, in its transaction and (on
//     PostgreSQL) under the revision lock, so the check and the write see
//     the same state: one more statement, still a constant number.
//   - SetMetadata (replace or Merge) is a write: it bumps version and
//     updated_at. Merge is an optimistic read-patch-write retried while other
//     writers race it. Set with Merge is the same read-patch-write on the
//     value (an insert when the key is missing).
//   - Duplicate keys in one batch: the last SetMany item of a key wins, and
//     each distinct key has one result, at its first position.
//   - A SetMany that would pass the capacity writes nothing; every key gets
//     ErrCapacityExceeded, and so does the returned error.
//   - Every write records storage.ActorFromContext as the entry's
//     updated-by (and, when it creates the entry, created-by); a write with
//     no actor records none. GetMetadata returns them beside the version.
//   - Status counts no rows: triggers keep a per-namespace entry count.
//   - Timestamps come from the store's clock (WithClock), in UTC with
//     microsecond precision, so both dialects store the same instants.
//   - Values keep their meaning, not their spelling: PostgreSQL's jsonb
//     reorders object keys and rewrites numbers such as 1e300.
//
// # Revisions and the change log
//
// Every committed change gets a revision from one store-wide sequence
// (migrations 00007_revisions): a put (Set, SetMany, an import), a delete,
// a metadata change (SetMetadata), a clear (one per namespace emptied), an
// expiry removed by the sweeper, a namespace created or deleted (a
// recursive delete is one change, not one per entry). The changes of one
// transaction or batch get consecutive revisions, in the order written
// (DeleteMany: key order), and revisions become visible in commit order: a
// reader that has seen revision r never later sees a new revision below r.
// A write that fails, a transaction rolled back, a write that changes
// nothing, a clear of an empty namespace take no revision (on PostgreSQL a
// rolled-back transaction's revisions are given again to the next writer;
// one exception: an Atomic batch that failed inside a transaction that
// commits leaves the revisions it took unused there). Each change is a row of the changes table
// (kind, namespace, key, value for puts, metadata, version, the key's
// previous revision), written in the transaction of the change.
//
// Entry.Revision is the revision of the entry's last change and
// Entry.CreateRevision that of its creation. IfRevision is the
// compare-and-swap token that is never reused for a key: after a delete and
// a re-create by another writer, a stale revision fails with ErrConflict.
// IfVersion compares the per-key version, which starts again at 1 when a
// key is created again, so a stale IfVersion can succeed after a delete and
// a re-create (the ABA case): use IfRevision where that matters. The option
// Written reports the revision and version a write made, without another
// read. Status reports the current revision and the oldest one still in
// the change log.
//
// SQLite has one writer, so revisions are safe by construction; triggers
// log puts and namespace events, the engine the rest. PostgreSQL takes
// revisions from a sequence (migration 00010) under a transaction-scoped
// advisory lock taken with each write (pipelined with it, no extra round
// trip) and held until the transaction ends: writers that change the store
// commit one at a time, from their first write to their commit. A single
// write holds it for one statement and its commit; a write transaction
// holds it from its first write to its end, so concurrent write
// transactions run one after another: keep them short. Writes outside
// transactions made at the same time share commits instead (a group
// commit, combine.go): while one is in flight the others queue, then go
// together (at most 64) as one batch after one lock: one transaction, one
// commit, one WAL flush, each write with its own statement, revisions and
// answer. A statement the server refuses aborts the batch before its
// commit and each of its writes runs again alone (and gets the answer it
// would have had alone); a write whose context ends while it queues is
// never sent; a connection lost after the batch was sent is ErrCommitUnknown
// for each of its writes, as for one alone. On a durable server this is
// what lets concurrent writers go faster than one WAL flush per write
// (8 writers: 340-390 Sets/s alone, 700-1,170 grouped; 32 writers 270-440
// against 1,150-1,680). SQLite groups its single Sets the same way, in one
// BEGIN IMMEDIATE ... COMMIT on the writer connection (with
// synchronous=FULL one fsync for the batch). A batch waits for its
// connection (on SQLite, and for the write lock) no longer than the
// earliest deadline among its writes, and a write whose caller gives up
// before its batch has them leaves it (its context's error, never sent);
// once sent, a write whose caller gives up waits for the batch's answer up
// to a second more, then is ErrCommitUnknown. WithoutWriteCombining turns it off. A write outside a
// transaction that runs alone and whose caller cancels it once it was
// sent is not cut off either (its connection cut, the server may commit
// it, as it did when the lock it waited for came first): the server is
// asked to cancel its statement (a cancel request) and its answer decides,
// the write done or, cancelled, the context's error; a server that does
// not answer within a second leaves it ErrCommitUnknown. That holds for
// every write outside a transaction that is one statement (Set, Delete,
// SetMetadata, DeleteMany without Atomic, conditional or not), and its
// answer is the whole batch's, the commit's included: a DeleteMany whose
// rows came back and whose commit then failed is that failure. The writes
// that run a transaction of their own (SetMany, atomic DeleteMany,
// CreateNamespace, DeleteNamespace, Clear, CreateIndex, DropIndex) and a
// caller's Tx.Commit are cut off at once when their context ends before
// COMMIT (their transaction rolls back: the context's error); a COMMIT
// whose answer is lost so is settled by the server (pg_xact_status: nil
// when it committed, the context's error when it rolled back, else
// ErrCommitUnknown; see "Errors"). On SQLite the
// caller's context bounds every write's wait for another process's (or
// connection's) write lock, which busy_timeout bounds too (past it,
// ErrTxConflict): a single Set's statement waits for it under the
// caller's context, and the other writes (Delete, SetMany, DeleteMany,
// SetMetadata, Clear, the namespaces' and the indexes' writes, Begin of a
// write transaction) take it under the caller's context too (a BEGIN
// IMMEDIATE, or SetMany's one statement); a COMMIT
// never waits for it (the transaction holds it from its BEGIN). A caller
// that cancels, or whose deadline passes, while another holds the lock
// has its answer at once, its context's error, and nothing was written.
// The driver answers a statement interrupted by its context's end with
// the context's error even when its changes were made (its reset then
// commits them): how the connection's last transaction ended decides
// (SQLite's commit and rollback hooks count them), none during the call,
// a rollback, or a commit of a statement that changed nothing (a
// conditional write whose condition failed) being the context's error. A
// single Set that committed as its context
// ended (a window of microseconds between its statement's end and the
// driver's reading of its answer, which is lost) is written, nil, or
// ErrCommitUnknown when it asked for its answer (Written): 1 to 5 in 400
// Sets cancelled 0-500 µs after they began (TestSQLiteCancelledSetOutcome).
// SetMany's one statement (outside transactions, no capacity) runs the
// same way, and is ErrCommitUnknown there (its versions are lost); through
// database/sql, whose rows close when the context ends, it answered the
// context's error though it had written. The lock is the
// store's own (its key comes from the store's sequence, migration 00026):
// stores in other schemas of the same database do not wait for it (up to
// schema version 25 they did: one key for every store). The sequence is not
// subject to snapshots, so a repeatable-read or serializable transaction
// conflicts (ErrTxConflict) only over the rows it reads and writes, not
// because another writer committed after its snapshot. A write reports the
// revision it commits with (Written; Set in a transaction), since the lock
// is held from the write to the commit. The store's current revision is
// the highest committed one, the last of the change log. See revlock.go.
//
// Export and import do not carry revisions: an imported entry is a new
// change and gets a new revision (and its put in the change log).
//
// # Expiry
//
// An entry may carry an expiry time (storage.WithTTL, storage.ExpiresAt,
// storage.KeepTTL, and the Item fields of SetMany), stored in
// entries.expires_at (migration 00005). Choices:
//
//   - One clock: a TTL becomes a time against the store's clock (WithClock),
//     and every statement binds that clock's now as a parameter and sees
//     only the rows with expires_at NULL or after it. The database's own
//     clock is never read, so both dialects give the same answer at the same
//     instant, and tests move time by hand. A clock outside years 0 to
//     9999 reads as the nearest end of them (RFC 3339 spells no other).
//   - At the instant of expiry the entry is gone for every operation: Get,
//     Has, GetMany, GetMetadata, List, Query, Count, Status, the capacity
//     check, DeleteNamespace's emptiness check, Export (and so copy). Delete
//     and SetMetadata report it missing.
//   - A write over an expired entry is a creation, exactly as after a
//     sweep: version 1, a new created_at and created-by, metadata {} unless
//     given; NoOverwrite succeeds; IfVersion conflicts as on a missing key.
//   - An overwrite without an expiry option clears the expiry; KeepTTL keeps
//     it (none for a new or expired key). KeepTTL with NoOverwrite is
//     ErrInvalidOption. SetMetadata never changes it. A TTL is rounded up to
//     a whole microsecond. An expiry after year 9999 is ErrInvalidOption:
//     the wire and a dump (RFC 3339) could not carry it.
//   - Status stays cheap: the triggers' entry_count counts every row, and
//     the expired rows not yet swept are counted on the partial index
//     entries_expires_at (expires_at, namespace_id) and subtracted. On
//     SQLite an insert does not write its namespace's row: its change row
//     says it created the entry (changes.new_entry), and entry_count takes
//     those rows in every 32 revisions, before compaction removes one and
//     when a namespace is deleted; the exact count (view namespace_counts,
//     which Status, DeleteNamespace and Export read) adds the fewer than 32
//     rows not taken in yet (migration 00023: one WAL page less per commit
//     that creates a key).
//   - The sweeper (sweep.go) deletes expired rows in the background every
//     WithSweepInterval (default 30s; < 0 turns it off), in batches of
//     WithSweepBatch rows (default 500), each its own short transaction, so
//     the SQLite writer is never held long. Store.Sweep runs one full pass.
//     Several stores on one database may sweep at once: each row is deleted
//     once, and a row revived meanwhile is left alone.
//   - Restore (import, copy) keeps expiry times, skips records already
//     expired by the store's clock (RestoreResult.Expired), and treats an
//     expired entry under a record's key as missing.
//   - A SetMany item with KeepTTL reads the stored expiry in the statement's
//     SELECT; on PostgreSQL, under read committed, a concurrent write to
//     the same key between that read and the upsert can make the kept
//     expiry the older one. Set with KeepTTL decides on the row it updates.
//
// # Transactions
//
// Store.Begin starts a real database transaction; the Tx carries every data
// operation and sees its own writes. Tx.Isolation reports the level in force:
// PostgreSQL runs its native levels (read-uncommitted as read-committed);
// SQLite runs every transaction serializable. On SQLite a read-write
// transaction holds the single writer connection from BEGIN IMMEDIATE to its
// end, so it never meets a busy error once begun, and other writers wait for
// it, each bounded by its context (or by busy_timeout for another process,
// which then fails with ErrTxConflict); read-only transactions read a WAL
// snapshot on a reader connection and never block the writer.
//
//   - Transactions have IDs: Store.LookupTx finds an open one. One that runs
//     no operation for WithTxIdleTimeout (default 1 minute) is rolled back,
//     and so is one older than WithTxMaxLifetime (default 10 minutes)
//     however busy. With WithTxContendedIdleTimeout (off by default;
//     storeserver turns it on) a write transaction idle that long while
//     another writer waits for it (SQLite's writer, PostgreSQL's revision
//     lock), or any transaction idle that long while a Begin waits for
//     its place (below), is rolled back too, and with WithTxContendedMaxHold one that has
//     held them that long while another writer or Begin waits, however busy. Begin beyond WithMaxOpenTx (default 128), or beyond
//     WithMaxTxPerActor for the actor of its context (no cap by default;
//     an authorizing store makes the actor its principal), is
//     ErrTooManyTx; Close rolls back whatever is open.
//   - Transactions never take the last connections: on PostgreSQL they hold
//     at most three quarters of the pool (pool_max_conns in the DSN, pgx's
//     default max(4, CPUs)), on SQLite read-only ones at most three
//     quarters of the readers (readers= in the DSN, default 4), so calls
//     outside transactions always find a connection. A Begin that finds
//     those places taken waits for one as long as its context allows, then
//     fails with ErrTooManyTx. An in-memory SQLite database has the same
//     writer and readers, and the same caps.
//   - A Tx's operations run one at a time. An operation whose context ends
//     while it runs rolls the transaction back (the database may have been
//     interrupted mid-statement); later operations get ErrTxDone. Each
//     operation's lock waits are bounded by its own context: on PostgreSQL
//     a write sets the transaction's lock_timeout from its context, and
//     the next operation sets it again (a write, the Commit) or resets it
//     (a read, in the same round trip as its statement), so an earlier
//     call's short deadline never fails a later one.
//   - Commit after Commit is nil, Commit after a rollback is ErrTxDone, and
//     Rollback is always safe. Serialization failures, deadlocks and busy
//     errors are ErrTxConflict; a COMMIT whose connection failed is
//     ErrCommitUnknown. txmanager.RunInTx retries the first, never the second.
//   - An Atomic batch inside a transaction runs under a savepoint: its
//     failure undoes its writes and leaves the transaction going on,
//     except an ErrTxConflict (on PostgreSQL a serialization failure, a
//     deadlock, a namespace deleted meanwhile), which aborts the
//     transaction as it does outside a savepoint: every later operation
//     and the Commit fail with ErrTxConflict.
//   - A write inside a PostgreSQL transaction that races a recursive
//     DeleteNamespace of its namespace fails with ErrTxConflict (the
//     transaction is aborted; RunInTx runs it again, which recreates the
//     namespace), and so does every later operation and the Commit of that
//     transaction. Outside a transaction the write recreates the namespace
//     and succeeds. On PostgreSQL a recursive DeleteNamespace and a Clear
//     outside a transaction give way to writers instead of deadlocking
//     with them: each lock wait before their first write is bounded by a
//     lock_timeout of 200 ms (the write's revision lock then sets it from
//     the context, as for any write, and orders them after the writers
//     in progress), and one that times out rolls them back and runs them again after a short
//     pause, until their context ends (then the context's error, as for
//     any call whose lock wait its context cut; ErrTxConflict when their
//     last try ended in a deadlock).
//   - A read-only transaction refuses writes with ErrReadOnly before they
//     reach the database.
//   - Clear of a namespace (or of every namespace: each that has entries)
//     and a DeleteNamespace of a namespace with entries unlink its entries
//     in one short transaction (the namespace gets a fresh id, or its row
//     goes) rather than deleting them, which
//     held SQLite's one writer, or PostgreSQL's revision lock, so every
//     other namespace's writes, for the whole delete. Every read and write
//     sees the namespace empty or gone from that commit, and the change log
//     gets the changes it got before; a background purger then deletes the
//     old rows (on SQLite writing what their history needs) in
//     transactions of 2000 rows that take no revision, resumed at the next
//     Open if the store closes first; the stores sharing a PostgreSQL
//     database share the purge. When more than 16 unlinked namespaces wait
//     for the purger (a load that unlinks faster than it purges), a Clear
//     or DeleteNamespace outside a transaction purges in its caller, in
//     the same short transactions, before it returns, until no more than
//     16 wait: those who unlink pay for what the purger cannot keep up
//     with, and what waits stays bounded. A CreateIndex of the namespace
//     under way when it is cleared fails (ErrNamespaceNotFound), as when
//     it is deleted.
//
// # Errors
//
// Every error wraps exactly one storage sentinel. Driver errors are
// translated (errclass.go) and their messages never carry the driver's
// text (server address, user, SQLSTATE); errors.As still finds the
// *pgconn.PgError or *sqlite.Error beneath. A database that cannot be
// reached (refused or lost connections, a server shutting down or starting,
// a PostgreSQL server that refuses writes or that crashed, SQLite I/O errors
// and PostgreSQL's, class 58) is ErrUnavailable, which RunInTx retries; so is
// a statement the server refused by its own configuration or its
// administrator rather than the caller: a statement_timeout or
// idle_in_transaction_session_timeout set on the role or database, a
// pg_cancel_backend, a privilege revoked (a read-only role), out of memory,
// a temp_file_limit (the statement did not take effect; such a refusal
// repeats until the configuration changes, and RunInTx's retries are
// bounded). The caller's own deadline or cancellation is still its
// context's error, also when its connection failed or its statement was
// cancelled as the context ended (the driver may report either first): a
// call whose context ended before or while it failed answers
// context.Canceled or context.DeadlineExceeded, never ErrUnavailable
// (a write whose outcome that left unknown is ErrCommitUnknown: a Set
// or Delete outside a transaction that failed with its context's error
// did not happen). What the database holds but the engine cannot read is
// ErrCorrupt, never retried: a corrupt SQLite file or page (SQLITE_CORRUPT,
// a file that is not a database, which Open refuses with ErrCorrupt too),
// PostgreSQL's data_corrupted or index_corrupted, a row changed outside the
// engine to a value of another type or shape than it writes (text in an
// integer column, JSON that is not the JSON it wrote, metadata that is not
// an object), a table or column of its schema dropped, renamed or altered
// outside it, a uniqueness or NOT NULL constraint the engine's own writes
// fail (its bookkeeping rows changed outside it). A value or statement over
// the database's own limits (SQLITE_TOOBIG, PostgreSQL's class 54) is
// ErrValueTooLarge. Open's errors wrap one sentinel too: a malformed DSN
// or a refused option is ErrInvalidOption; a database it cannot reach,
// open, read, write or lock (another process holds the file, another
// migrator the migration lock past its timeout), or that refused a
// migration by its configuration or its administrator (a missing
// privilege), ErrUnavailable; a full disk ErrStorageFull; a corrupt file
// ErrCorrupt, and so is a migration the database refused otherwise (it
// holds another application's table by one of the engine's names, or a
// schema changed outside the engine: permanent, Open leaves the database
// as it found it when the first migration fails, without goose's version
// table); a schema this build does not serve (newer than it knows, or
// older with WithoutMigrate) ErrUnsupported. The migrations' errors are
// package schema's (see its "Errors"), each wrapping its sentinel. A write
// outside a transaction, or a COMMIT, whose connection failed after it was
// sent is ErrCommitUnknown, never retried; a COMMIT PostgreSQL answered with
// a rollback has a known outcome (ErrTxConflict). A full disk is
// ErrStorageFull; reads go on, and writes succeed again once space exists.
// On PostgreSQL that is a full data directory (disk_full, 53100: a table or
// index that cannot grow). A full WAL disk is not: a server that cannot
// create a WAL segment PANICs and restarts, so calls are ErrUnavailable
// while it recovers, and a write or COMMIT it was running when it crashed
// is ErrCommitUnknown (its commit record may have been written first); a
// server whose recovery cannot write its WAL either stops until an operator
// frees space and starts it. The pool reconnects: the store needs no
// reopening (TestFaultsPostgresDiskFull).
// A SQLite file whose disk is full when Open runs (it cannot even create
// its -shm file) opens read-only: one query_only connection that needs no
// -shm file (immutable when the WAL is empty, else in exclusive locking
// mode, which still reads the WAL's frames); Status reports ReadOnly and
// Degraded, every write is ErrStorageFull, and nothing is swept or
// reconciled until the store is reopened with space. Context errors are
// returned as they are: a write whose context ended after it reached the
// database may still have been applied, as with any database/sql or pgx
// call. On PostgreSQL the calls that run a transaction of their own
// (SetMany, an atomic DeleteMany, any write to a store with a capacity,
// CreateIndex, DropIndex, CreateNamespace, DeleteNamespace, Clear,
// RestoreNamespace) settle that
// case: when their COMMIT's answer is lost (the context ended while it was
// in flight, the connection broke), the store asks the server with
// pg_xact_status, under a deadline of its own of 5 s, whether the
// transaction committed: nil when it did (the call returns late, its work
// done), the error as it was when it rolled back, ErrCommitUnknown when
// the server cannot tell it in time, or when the server that answers is
// not the instance that ran the transaction (a failover's new primary, a
// restarted server, which may have given its id to another transaction),
// or when the server replicates synchronously (a commit it reports may not
// have reached the standby a failover would promote).
// They never report a failure for a change the database kept. A caller's
// transaction that wrote is settled the same way at Commit: nil when it
// committed, the context's (or the connection's) error when it rolled
// back, ErrCommitUnknown otherwise; one that wrote nothing (read-only, or
// no write operation of it started) has nothing to settle: the context's
// error, or ErrUnavailable when the connection broke. A single-statement write (Set, Delete, a
// DeleteMany that is not atomic, without a capacity) commits with its
// statement and cannot be asked: its context's error leaves its outcome
// open.
//
// # WAL
//
// SQLite checkpoints the WAL of a file store while it is open (walhook.go):
// it stays near wal_autocheckpoint's 1000 pages beyond the largest
// transaction. Readers that hold snapshots back to back can starve those
// passive checkpoints; past 64 MiB the store runs a TRUNCATE checkpoint
// (walrestart.go). It first drains the store's read-only transactions:
// Begin of a new one waits while those open end (at most 5 s), so that the
// checkpoint, during which writes wait, waits only for plain reads. Without
// the drain, read-only transactions that each outlived busy_timeout made
// every checkpoint fail, and the WAL of a 15-minute soak grew to 2.4 GB.
// A PASSIVE checkpoint on a connection of the restarter's own copies what
// it can first, without holding writes; the TRUNCATE then waits at most
// 100 ms for plain reads while the WAL is under 256 MiB (and tries again
// later when they last longer), and busy_timeout only past that, so that
// long plain reads that overlap without a pause (counts, unindexed
// queries over a large namespace) hold every write at most once per 256
// MiB written, not at every try.
//
// # The change log: Watch, History, Get at a revision
//
// Every write appends its changes to the table changes, one row per
// change under its revision, in the writing transaction (migration 00007):
// puts with their value and metadata (and, from migration 00012, the
// entry's created_at and expires_at, which History and Get at a revision
// report; older rows report zero times), deletes, expiries (the sweeper),
// metadata changes, clears (one row per namespace cleared), and namespace
// creation, deletion (one row per namespace) and metadata. Revisions
// become visible in commit order, so a reader that tails the log after
// the last revision it saw misses nothing. Watch (storage.Watcher),
// History and Get with storage.AtRevision (storage.Historian) read it.
// Choices:
//
//   - A watch runs a goroutine that reads the log in batches of at most 256
//     rows (one statement each, with the namespace, pattern and filter as
//     SQL conditions, together with the current revision and the start of
//     the retained log, from one snapshot) into a buffer of WithWatchBuffer
//     events (default 1024) and WithWatchBufferBytes bytes (default 64
//     MiB; an event larger than that is held alone; a read of the log is
//     cut to what the last read's mean event size leaves room for), and
//     holds no connection or snapshot between reads. What a watch reads:
//     the rows after its position of its namespace (InNamespace), or of the
//     namespaces of its driver.WatchScopeOption (the security layer passes
//     the namespaces the caller may read, asked again before and after
//     every read: a scope that changed during a read makes it read again,
//     so every change committed after a grant is read under it), else of
//     every namespace; pattern and filter narrow them further. The other
//     namespaces' changes are skipped by the statement, never decoded or
//     sent. A consumer that
//     leaves the buffer full (by count or by bytes) is cut off with
//     storage.ErrWatchLagged (a *storage.LaggedError naming its last
//     revision): writers never wait for a watcher.
//   - Wake-ups: this store's own writes wake its watchers as they return
//     (a transaction's at its commit). On PostgreSQL every transaction
//     that adds to the log sends a notification on the store's own
//     channel, storage_changes_<oid of its storage_revision sequence>
//     (storage_notify_channel(), migration 00027; a trigger, delivered at
//     commit), so that a write in one store (schema) of a database wakes
//     none of the watchers of another; the store LISTENs on one connection of the direct DSN
//     (WithDirectDSN), else of the DSN unless it names a pgx exec mode for
//     a pooler in transaction mode (default_query_exec_mode other than
//     cache_statement), where LISTEN would not keep its session: then it
//     polls. A LISTEN connection that has brought nothing for 15 s is
//     pinged (within 5 s); one whose server does not answer (a frozen
//     primary) is replaced by a new one. Whatever the wake-ups, while watchers exist the store scans
//     the log every WithWatchPollInterval (default 100ms) and at each
//     notification: one statement for the whole store that reads its
//     current revision and the namespaces of the changes since the last
//     scan, and wakes those namespaces' watches: that finds the writes of
//     other processes on a SQLite file, and lost notifications.
//     Notifications only wake; the log is the truth. A watch of one
//     namespace (InNamespace), or of the namespaces of a
//     driver.WatchScopeOption (ranges of names: a principal's watch under
//     the security layer), is woken only by its namespaces' writes (this
//     store's at once: a write outside a transaction, a namespace's
//     creation or deletion with their namespace, a commit with the
//     namespaces its writes went to; a clear of every namespace, the
//     sweeper and a restore wake every watch) and the scans that find one
//     of its namespaces changed: an idle watch of one namespace or of a
//     scope does not read the log for the writes of others (nor for
//     PostgreSQL's notifications, which wake only the watches of the
//     whole store at once, the others through the scan they trigger), and
//     moves its position past the scans that found none of its changes,
//     so that compaction does not cut it off. A watch of a scope asks the
//     scope again at each of those scans: a grant given while it sleeps,
//     which no write announces, reaches it within a scan, and it reads
//     under the new scope the changes after its position. A watch of the
//     whole store is woken by every write and notification. A watch
//     that wake-ups keep waking
//     pauses between reads, longer the more watches the store has (none
//     for a lone watch, WithWatchReadInterval, default 10ms, from 16 on),
//     and takes the changes of its pause in one read: otherwise every
//     write would cost one read per watch of the store, whatever it
//     selects.
//   - At most half of SQLite's readers (half of what transactions leave
//     of PostgreSQL's pool, at least one) serve watch reads at once; a
//     watch waits for a place before each read. A read goes through the
//     log from the watch's position testing each change, so that a watch
//     from an early revision with a filter few changes pass reads for
//     seconds or minutes: one principal's watches held every reader, and
//     every other call's read waited for them. A read covers at most a
//     window of revisions after the watch's position (256 at its first
//     read, halved after a read that took more than 20 ms, down to 16,
//     doubled after one that took less than 5 ms, up to 4096), and the
//     next read goes on from the window's end at once, in order, with
//     nothing left out nor repeated: one read through a long log held
//     its place for seconds, and another principal's watch waited as
//     long for its next read, its events with it. The places go to the
//     actors whose watches wait (storage.ActorFromContext of the watch's
//     context, the principal under package security; the watches
//     without one are one more) in turn, round-robin, each actor's reads
//     in the order they came: a read waits for about one read of each
//     other actor waiting, not for every read of one principal's many
//     watches (16 streams over HTTP), as it did when the places were
//     served in arrival order. Without a read waiting, a place is taken
//     and given back without a lock.
//   - A watch without FromRevision starts at the store's revision when it
//     starts. FromRevision beyond the store's revision is
//     ErrInvalidOption (a revision of another store, or of this one before
//     a restore).
//   - Where on a watch selects puts whose new value matches; every other
//     event of the namespace and pattern passes (a delete, a metadata
//     change), so a consumer sees a key leave. A put whose new value no
//     longer matches is not delivered: a consumer that keeps the matching
//     set should watch without the filter or re-check.
//   - Retention (WithRetention, default a million changes or a day): the
//     sweeper compacts the log at each of its runs (Compact by hand),
//     deleting the oldest changes in batches of WithSweepBatch, each in a
//     short transaction that also raises change_log_state's
//     compacted_through (migration 00008). Compaction removes a prefix of
//     the log, values included: those changes can no longer be watched (a
//     watch or History from before them is storage.ErrCompacted, a
//     *storage.CompactedError naming the oldest revision left, also
//     Status.OldestRevision), listed by History, or read with AtRevision.
//     Entries are never touched. The revisions given to what existed when
//     the log was created are in no log: they count as compacted.
//     While the sweeper runs and Retention.Changes is set, the log stays
//     within Changes + a margin (an eighth of Changes, at least the sweep
//     batch) while writes run, however many writers there are: the
//     sweeper alone gets one writer turn among the writers and removes a
//     sweep batch in it, less than a batch write adds, so the writes
//     themselves pay what it cannot keep up with (the compaction assist).
//     Each write outside a transaction, and each commit, counts the
//     changes it added in memory (no read on the write path); once they
//     could have taken the log past its margin (by the last look, or
//     Open's), and every 256 of them after, the write that counts past
//     that reads the log's head and compacted_through, and when the log holds more than Changes + the
//     margin it compacts, before it returns, up to twice the changes
//     counted since the last look (never inside the window), in the same
//     short transactions of at most 4 sweep batches. A writer so removes
//     twice what it adds before it writes again: the log stays within
//     Changes, the margin and what the writers have in flight (about a
//     write and 256 changes each). The assist never changes a write's
//     result (its failure is the sweeper's to retry); a cancelled context
//     stops it, leaving what it owed to the next write. With the sweeper
//     off (WithSweepInterval < 0: Compact by hand) writes never compact;
//     a retention of Age alone is the sweeper's, at its runs.
//     A running watch that finds the log compacted past its position (its
//     consumer or its reads fell behind the window, or the window is
//     small and the writes many) fails with ErrCompacted (Requested its
//     position, Oldest the oldest revision left) only when compaction
//     removed one of its changes: each compaction of the store records,
//     before it commits, the last change of each namespace it removes,
//     and a watch none of whose namespaces (its InNamespace, or the scope
//     of driver.WatchScopeOption; not its pattern or filter) had a change
//     removed after its position moves past them and goes on. So a watch
//     never skips a change silently, and one that lost none is not cut
//     off. What another store or process compacted is not recorded: a
//     watch behind that compaction fails with ErrCompacted whatever it
//     watches, as does a resume (FromRevision) from before the oldest
//     revision left. The record is bounded: it keeps the last 64
//     compactions apart, older ones merged, and a merged range that would
//     name more than 256 namespaces names the whole store instead, so a
//     watch whose position is before that range's end fails with
//     ErrCompacted whatever it watches (a store whose namespaces come and
//     go kept every name ever compacted).
//   - History lists a key's puts, metadata changes, deletes and expiries,
//     oldest first, DefaultHistoryLimit at a time (Limit), paged with
//     FromRevision; the clears and namespace deletes that also removed
//     the key are Watch's to report. Get with AtRevision(r) rebuilds the
//     key at r from the log: the value of its last put at or before r,
//     the metadata and version of its last put or metadata change, none
//     when a delete, expiry, clear or namespace delete came after; when the
//     key's last change before r was compacted, the entry itself answers if
//     it has not changed since r, else ErrCompacted. CreatedAt and
//     ExpiresAt are the entry's then (changes.entry_created_at and
//     expires_at, migration 00012; zero on changes logged before it);
//     UpdatedAt is the time of the change. A key's changes are found by
//     the per-key index changes_key on PostgreSQL; on SQLite, which drops
//     that index (migration 00015: its random insert on every put cost
//     about two WAL pages of three and a half), along the key's
//     prev_revision chains from the live entry, its delete and expire
//     rows (partial index changes_ends) and the last revision of each of
//     its ended lives (table change_ends, written when an entry row is
//     deleted or an expired one overwritten): a read walks all of the
//     key's retained changes. CreateRevision is derived at
//     read time, by one lookup among the key's changes: the
//     latest put of the key at or before the change with no previous
//     revision (a put starting a life: a create, a re-create, a write over
//     an expired entry not yet swept, an import). When compaction removed
//     it, the live entry's create_revision answers if its life began at or
//     before r (the same life); else CreateRevision is 0 (unknown).
//
// # Queries
//
// List, Query and Count build their statements with squirrel from the SQL
// that dialect.Compiler writes; every filter runs in SQL. Choices:
//
//   - Filter values are bound parameters. Field paths are written into the
//     SQL as quoted literals (SQLite JSON paths such as '$."a"[0]'; Postgres
//     -> chains, or a strict SQL/JSON path when the path holds an array
//     index), and into index_fields for the triggers of declared indexes;
//     driver.ParseField admits nothing in a path that could leave its
//     quotes.
//   - Numbers compare as doubles on both databases: SQLite casts to REAL;
//     PostgreSQL converts numeric to float8 with the overflow and underflow a
//     double parser has, instead of failing.
//   - List's pattern prefix becomes a range on the primary key (key >= p
//     AND key < p with its last character's successor); the rest of the
//     pattern is a GLOB (SQLite) or LIKE … ESCAPE (PostgreSQL, byte-wise
//     "C" collation) on the keys in that range. List and Has read the
//     primary key's index alone: on SQLite through listLiveCond (query.go);
//     on PostgreSQL the primary key carries expires_at as an INCLUDE column
//     (migration 00025), so both are Index Only Scans that read no heap
//     page of a vacuumed table (List of 100 keys: 0.52-0.58 times a
//     hand-written key listing before, 1.1-1.3 after).
//   - Cursors are base64url JSON: the last row's key and sort values, and a
//     fingerprint of namespace, pattern or filter, and sort. The next page is
//     a keyset condition on the sort expressions, so deleted or inserted rows
//     neither repeat nor skip a surviving row. A reused cursor with another
//     namespace, pattern, filter or sort is ErrInvalidOption. A page that is
//     full gets a cursor only when another row follows (one row more than
//     the limit is read).
//   - Offset applies after the cursor position when both are given.
//   - MaxBytes (storage.MaxBytes) is counted as the rows are read (key,
//     value and metadata bytes; List: the keys), and the read stops after
//     the row that reaches it; the row after it, if any, is stepped to
//     (SQLite) or received (PostgreSQL) but neither scanned nor held: it
//     says that the read is cut short. SQLite steps no further row.
//     PostgreSQL sends a statement's rows whether or not they are read
//     (pgx receives each as Next asks for it): outside a transaction, at
//     most 1 MiB more of them is received and dropped (never held
//     together), and when the statement has not ended by then its
//     connection is closed, which stops the server (its log says the
//     client went away; the pool opens another connection when it needs
//     one), 20 times a second at most in a process (beyond, the rows are
//     drained: a caller cutting reads again and again must not make the
//     store open connections as fast as it asks). In a transaction, whose
//     connection cannot be closed, the read goes through a cursor (DECLARE
//     with the first FETCH in one round trip, then FETCHes of 32, 64, up
//     to 256 rows): a cut read drops the rest of its FETCH at most, and
//     its cursor is closed with the transaction's next statement, in the
//     same round trip; a read that goes on to its end takes a round trip
//     more for each FETCH after the first 16 rows. History's pages, bound
//     at 4 MiB, are read so too. A page cut so ends at
//     its last row with a cursor, as a full page does. A page whose statement reads rows in another order than the
//     page's (settle: a descending sort's ties, a prefix-ordered string
//     sort) cannot end at the row the budget stops at: Query reads a page
//     of fewer rows than were read instead, down to one (read without a
//     budget: two rows and the one past them at most). GetMany cut short
//     lists the keys it did not reach in GetManyResult.Unread.
//   - Declared indexes (storage.WithIndexes, at most storage.MaxIndexes
//     per namespace) are not indexes on entries: each declared field is a
//     row of index_fields (a field id small within its namespace, and the
//     JSON path) and its values rows of one table shared by all
//     namespaces, index_entries (namespace, field id, type rank, number,
//     string, key, and the entry's expiry), whose primary key is the one
//     B-tree of them all, in the order Query sorts (the expiry rides in
//     it: a column of the WITHOUT ROWID table on SQLite, INCLUDE on
//     PostgreSQL). A number holds the empty string as its
//     string, a string 0 as its number: every column is NOT NULL (and a
//     comparison never meets a NULL); PostgreSQL holds the first 256
//     characters of a string and the full string is rechecked. Triggers
//     on entries keep it on every write path; they find no field for a
//     namespace that declared nothing, so a namespace's indexes cost
//     nothing to other namespaces' writes, and planning never sees them.
//     (Partial expression indexes on entries, one per namespace and
//     field, were measured and refused: at 200 namespaces declaring two
//     fields each, a write into a namespace that declares nothing cost
//     ~40 times more on SQLite and a single upsert ~4 times more on
//     PostgreSQL, every CREATE INDEX re-prepared every cached statement,
//     and PostgreSQL's value updates stop being HOT;
//     bench/results/2026-12-04-partial-index-scale.md.)
//     Query chooses the index that drives a statement (query.go): the
//     sort's first field when it is declared (the index gives the order:
//     ranges and eq on it bound the scan; a cursor page starts at its
//     position), else the declared field the filter restricts most (eq,
//     in, then a range or startsWith; eq also gives key order), else none.
//     When the sort's first field is declared and the filter restricts
//     (eq, in, range, startsWith) another declared field, a probe decides
//     (drive.go): it counts, up to K, the rows of that field's index the
//     filter's conditions on it select. Fewer than K: that field drives
//     and the statement sorts its matches (at most K-1 rows); K or more:
//     the sort's field drives, its index gives the order and the matches,
//     at least K, are dense enough to fill a page after a short walk when
//     they are not correlated with the sort. K follows the namespace's
//     size N, where the two plans cost the same for a page of 20: sqrt(21·N)
//     (1,450 at 100k entries, 4,600 at 1M), in steps of 1000·2^(j/2)
//     (1414 at 100k, 4000 at 1M), at least 1000 and at most 16,000 (near
//     12M entries); N is the namespace's entry_count, read at most every
//     10 s per namespace (inside a transaction the last count read, or
//     the floor). Without a limit the filter's field drives, without a
//     probe. The probe runs on every call (one index range read of at
//     most K rows); its outcome is part of the query cache's key, never
//     cached itself.
//     Driven by the sort's field alone, Eq("city", x) sorted by age walked
//     the whole age index when x had few or no matches (1.2-2.6 s at 100k
//     entries, issue 13).
//     A sort whose fields are all descending reads ties in descending key
//     order (the index backwards), puts each group back in ascending key
//     order, and reads the group cut by the page's end from its start
//     with a second statement, a seek on the group (query.go,
//     reversedTies). A cursor page first reads the rest of the cursor's
//     own group, a seek on the group from the cursor's key, in key order
//     (limit + 1 rows); only when that does not fill the page does it read
//     the groups after it, with a position past the cursor's whole group
//     (cursorGroupPage; on SQLite the position's row value ends in the
//     empty key, which starts its backward scan below the group: a
//     shorter row value, strict or not, started it at the group's last
//     row). Each page reads O(page) index rows wherever the cursor is in
//     its group; the page that left a group of N ties read all N (the
//     backward scan stepped over the group's rows before the cursor;
//     issue 13). On PostgreSQL the ORDER BY of a sort on one declared
//     field (without an offset) names index columns only: strings that
//     share the 256-character prefix tie there, in key order, and Query
//     orders each such group by the whole string (settle in query.go),
//     reading the group cut by the page's end with a second statement (a
//     seek on the prefix, which sorts that group's rows only). With the
//     whole string in the ORDER BY, a term no index gives, PostgreSQL
//     without statistics (a fresh table) sorted every matching row,
//     also in the generic plans of the engine's prepared statements
//     (issue 13: 17-21 times raw SQL); an offset, or more sort fields,
//     keep that term.
//     On PostgreSQL an in that drives the statement (not its order) reads
//     index_entries as the UNION of one seek per value (indexFrom in
//     query.go): without statistics PostgreSQL 15 tested the list as a
//     filter on every row of the field's type rank.
//     The statement joins index_entries to entries (on PostgreSQL by
//     key; on SQLite by the entry's rowid, entries.entry_id, an INTEGER
//     PRIMARY KEY that VACUUM keeps and the index rows carry as ix_entry,
//     migration 00021: one B-tree descent per row instead of a seek of
//     the (namespace_id, key) index and then of the table) and applies to
//     entries the part of the filter that the index conditions do not
//     answer exactly (dialect.IndexResidual): a leaf on the driving field
//     is dropped when the index holds what it compares (eq, in, number
//     ranges; string ranges on SQLite; on PostgreSQL strings shorter than
//     the indexed prefix, and startsWith with a prefix that fits in it),
//     every other leaf is rechecked, so answers never depend on the index.
//     A Count whose whole filter the index answers exactly reads
//     index_entries alone (indexcount.go): the index rows carry the key
//     and the expiry, which is all it needs, so no matching entry is
//     looked up. On SQLite it first asks once whether any row of the
//     store has expired (as List does) and, when none has, counts the
//     index rows without testing each one's expiry. Query
//     and Count name the namespace id and field id as literals; both are
//     cached by name and checked in the statement (nsid.go). Declaring a
//     field (CreateNamespace, RestoreNamespace) fills its rows in the
//     transaction that records it, holding the namespace's row.
//     CreateIndex builds them in transactions of 2000 entries under a
//     spelling of the field no query names, then declares the field in a
//     last one: SQLite's one writer, PostgreSQL's revision lock go back to
//     other writes between them (one transaction held them for the whole
//     fill, ~1 s and 4.8 s at 100k entries, and every namespace's writes
//     waited; bench/results/2026-12-04-writer-holds.md). On PostgreSQL
//     the chunks take neither the revision lock nor the namespace's row:
//     each locks its entries FOR SHARE, and the write triggers index a
//     field being built (namespaces.index_building, migration 00032), so
//     a concurrent write is indexed by its trigger or read by the chunk
//     (createindex.go). Queries and
//     ListNamespaces see the index only once it is complete, and a build
//     that fails leaves nothing declared. On SQLite DropIndex withdraws
//     the declaration in a short transaction and deletes the rows 2000 at
//     a time, the writer going back to other writes between them (one
//     transaction held it for 6.9 s at 1M entries), under the spelling of
//     a build until the last. The engine reconciles
//     index_fields with the declarations when it opens a store
//     (indexes.go), which removes what a build cut short left. SQLite plans well
//     without statistics; after an ANALYZE (or PRAGMA optimize) the
//     engine marks index_entries' statistics noskipscan at Open (a
//     skip-scan over the namespace column loses the index order) and
//     deletes the STAT4 samples, which made SQLite prepare every query
//     again at each call (sqliteStatistics in indexes.go). Each namespace records
//     the fields it declared (column namespaces.indexes, migration 00004),
//     which ListNamespaces returns as storage.Namespace.Indexes and Export
//     as NamespaceRecord.Indexes; RestoreNamespace adds a record's fields
//     to the namespace's (a union, of at most storage.MaxIndexes) and
//     builds their indexes, so export, import and copy keep them.
//   - The compiled-query cache (querycache.go): Query, Count and List
//     build the SQL of a call's shape once and keep it; a later call of
//     that shape only extracts its values and binds them (List's shape:
//     the pattern's kind, the key spans left with which bounds they have,
//     limit and offset). The key is written in one
//     walk of the call: the kind of statement, the namespace's id and
//     declared fields with their ids, the filter's shape
//     (dialect.Compiler.Shape: operators, paths, scalar kinds, list
//     lengths, and each decision the compiler takes on a value: whether a
//     string fits PostgreSQL's indexed prefix, is empty or has no
//     startsWith upper bound, whether a time falls on a microsecond), the
//     key ranges' form, the sort, limit and offset, the cursor's form, and
//     which of the call's values are equal. A miss builds the statement
//     with a planning compiler (dialect.Compiler.Planner), whose
//     parameters name the value each comes from and how, so the plan binds
//     any later call's values. Nothing in an entry goes stale: a namespace
//     whose indexes change, or that is dropped and re-created, has other
//     ids and so other keys; old entries age out of the LRU. The cache
//     holds DefaultQueryCacheSize statements unless WithQueryCache says
//     otherwise (0 turns it off), none longer than 16 KiB of SQL (such
//     statements, of hundreds of key ranges, are built on every call);
//     Store.QueryCacheStats reports hits,
//     misses and size. Cursor fingerprints are computed only when a cursor
//     is read or written, and Query compiles its filter once per call.
package sqlstore
