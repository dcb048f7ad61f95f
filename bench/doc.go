// Package bench measures the storage engine (sqlstore) against hand-written
// SQL baselines that do the same work on the same schema, side by side in
// one process. cmd/storebench runs it; bench/README.md describes the runs.
//
// # Method
//
// For each dataset (a number of entries and a value size, on SQLite in WAL
// mode or on PostgreSQL) the engine creates the database, loads the
// entries with SetMany into namespace "bench" (declared index on n) and the
// statistics are gathered (ANALYZE; VACUUM ANALYZE on PostgreSQL). The
// baseline then opens its own connections on the same database: for SQLite
// database/sql with modernc, one writer connection (BEGIN IMMEDIATE) and a
// pool of query-only readers with the engine's pragmas, every statement
// prepared once; for PostgreSQL a pgxpool (pgx caches prepared statements
// per connection).
//
// Each workload has an engine side and a raw side doing the same
// observable work: the same rows read and scanned into Go values, the same
// upsert with a version bump and updated_at (the count triggers fire for
// both, being the schema's), values given as Go maps and marshalled by both.
// A workload is calibrated so that one side's round lasts about RoundTime,
// then runs Rounds rounds of each side, alternating which goes first, so
// noise hits both alike; the table reports the medians of the per-round time
// per operation and their ratio. Allocations per operation of the point
// operations are runtime.MemStats deltas over a round.
//
// # Choices
//
//   - The baseline names the namespace by name in each statement, as the
//     engine does (a join or a subselect on namespaces), so the ratio
//     measures what the engine adds in Go, not a different plan.
//   - The baseline reads and writes a table of its own, raw_entries: a
//     copy of the loaded entries with the same primary key, made when it
//     first opens, without the engine's triggers (entry counts, change log,
//     index_entries), plus its own index on n (bench_raw_n: namespace_id,
//     n's number, key). Neither side maintains the other's indexes or
//     pays for the other's triggers. Indexed filters use that index's
//     expression;
//     unindexed eq, contains, startsWith and the sort use the SQL one would
//     write by hand (ORDER BY the number DESC). The engine's sort leads with
//     a type-rank expression (its cross-type order), which no index
//     provides, so "query/sort-limit-20" measures that semantic cost too.
//   - Raw Set writes the value and keeps the stored metadata (it does not
//     update the column); the engine's statement re-selects it.
//   - setMany/1000 runs once per bulk method of the baseline: json_each
//     (one statement, as the engine) and a transaction of prepared upserts
//     on SQLite; an unnest upsert, a SendBatch of upserts in a transaction,
//     and COPY into a temporary table plus one upsert on PostgreSQL. The
//     target compares the engine with the fastest.
//   - delete and deleteMany insert the keys they delete in an untimed
//     preparation before each round; set/insert deletes its keys after.
//   - Mixed runs (90% Get, 10% Set of existing keys) alternate engine and
//     raw in three slices each; errors are counted by class (busy, conflict,
//     other).
//   - Contention runs: 8 goroutines run transactions of 5 reads and 5
//     writes (a counter increment) over 5 of 10 hot keys, taken in key order
//     (random orders make PostgreSQL's read-committed runs deadlock and
//     measure deadlock_timeout); the engine through txmanager.RunInTx, the
//     baseline through the same retry policy by hand.
package bench
