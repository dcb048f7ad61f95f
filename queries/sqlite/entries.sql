-- Fixed-shape entry statements for SQLite. Values and metadata are JSONB
-- blobs: jsonb() in, json() out. Timestamps are unix microseconds. Writes
-- select the namespace id by name: when the namespace is missing they affect
-- no row and return none, which the engine reads as "create the namespace,
-- then retry".
--
-- Expiry: expires_at is NULL or unix microseconds. Every statement sees only
-- live rows, those with expires_at NULL or after sqlc.arg(now), the engine's
-- clock; a write to an expired row treats the key as missing (version from
-- 1, new created_at, metadata {} unless given, create-only succeeds). In
-- ON CONFLICT clauses, where sqlc's SQLite parser rewrites no parameter,
-- excluded.updated_at is that now.
--
-- Revisions (migrations/sqlite/00007_revisions.sql): a write gives its rows
-- the revisions after revision_counter's current (from version 13 a view:
-- the last revision of the change log); SQLite's single writer
-- makes that safe. The triggers log puts (an INSERT into entries or an
-- UPDATE that sets value); the engine logs deletes, metadata changes and
-- clears with LogChanges, in the same transaction.

-- name: GetEntry :one
-- One packed column (sqlstore's unpackEntry reads it): the version,
-- created_at, updated_at ('' when it equals created_at), expires_at (''
-- for none; a live row's is after now), revision, create_revision (''
-- when it equals revision) and the metadata's length in bytes, each
-- followed by a comma, then the metadata's JSON, a comma and the value's
-- (x'0c' is the JSONB of {}, the usual metadata: no json() twice for it).
-- The empty parts are the common case: SQLite writes each integer as
-- text and Go parses it back, and a time has 16 digits. The
-- modernc driver reads every column of every statement's result through
-- calls of its own and allocates its name and value: the entry's nine
-- columns were over 40% of a Get's allocations.
SELECT CAST(concat_ws(',', e.version, e.created_at,
                      CASE WHEN e.updated_at = e.created_at THEN '' ELSE e.updated_at END,
                      ifnull(e.expires_at, ''), e.revision,
                      CASE WHEN e.create_revision = e.revision THEN '' ELSE e.create_revision END,
                      CASE WHEN e.metadata = x'0c' THEN '2,{}'
                           ELSE concat(octet_length(json(e.metadata)), ',', json(e.metadata)) END,
                      json(e.value)) AS TEXT) AS packed
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key)
  AND (e.expires_at IS NULL OR e.expires_at > CAST(sqlc.arg(now) AS INTEGER));

-- name: HasEntry :one
-- The primary key's index holds namespace_id, key and the rowid, not
-- expires_at: when no row of the store has expired (a NOT EXISTS over the
-- partial index entries_expires_at, run once per statement), the live
-- test is true without the entry's row, which SQLite then never reads
-- (its seek of the row is deferred until a column is needed), so Has
-- reads the index alone, as List does (sqlstore's listLiveCond). Only
-- when some row has expired does it read the entry's expires_at. (A test
-- of the rowid against a list of every expired rowid would cost each Has
-- in every namespace as much as the expired rows not yet swept.) The test
-- is a CASE, not an OR: SQLite evaluates an OR's terms in an order of its
-- own and read expires_at (so the row) before the NOT EXISTS, which cost
-- a quarter of Has's throughput.
SELECT EXISTS (
    SELECT 1 FROM entries e
    JOIN namespaces n ON n.id = e.namespace_id
    WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key)
      AND CASE WHEN NOT EXISTS (SELECT 1 FROM entries x WHERE x.expires_at IS NOT NULL AND x.expires_at <= CAST(sqlc.arg(now) AS INTEGER))
               THEN 1 ELSE e.expires_at IS NULL OR e.expires_at > CAST(sqlc.arg(now) AS INTEGER) END
) AS found;

-- name: GetEntryVersion :one
SELECT e.version, e.revision
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key)
  AND (e.expires_at IS NULL OR e.expires_at > CAST(sqlc.arg(now) AS INTEGER));

-- name: UpsertEntry :one
-- A nil metadata keeps the stored metadata ('{}' for a new or expired
-- entry); keep_ttl keeps the stored expiry (none for a new or expired
-- entry), else the entry gets expires_at. sqlc's SQLite parser skips the ON
-- CONFLICT clause, so a parameter there would reach SQLite unrewritten: the
-- choices are made in the SELECT instead, from the row the conflict updates
-- (same statement, single writer: the same row).
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
SELECT n.id, sqlc.arg(key), jsonb(CAST(sqlc.arg(value) AS TEXT)),
       COALESCE(jsonb(CAST(sqlc.narg(metadata) AS TEXT)),
                (SELECT o.metadata FROM entries o WHERE o.namespace_id = n.id AND o.key = sqlc.arg(key)
                    AND (o.expires_at IS NULL OR o.expires_at > CAST(sqlc.arg(now) AS INTEGER))),
                jsonb('{}')),
       1, sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT),
       CASE WHEN CAST(sqlc.arg(keep_ttl) AS INTEGER) <> 0
            THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = sqlc.arg(key)
                    AND (o.expires_at IS NULL OR o.expires_at > CAST(sqlc.arg(now) AS INTEGER)))
            ELSE CAST(sqlc.narg(expires_at) AS INTEGER) END,
       r.current + 1, r.current + 1
FROM namespaces n, revision_counter r
WHERE n.name = sqlc.arg(namespace) AND r.id = 1
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = excluded.metadata,
    version    = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.version + 1 ELSE 1 END,
    created_at = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.created_at ELSE excluded.created_at END,
    created_by = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.created_by ELSE excluded.created_by END,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    expires_at = excluded.expires_at,
    revision   = excluded.revision,
    create_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                           THEN entries.create_revision ELSE excluded.create_revision END
RETURNING version, revision, create_revision;

-- name: InsertEntry :one
-- Create-only: an expired row under the key is replaced as if missing.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
SELECT n.id, sqlc.arg(key), jsonb(CAST(sqlc.arg(value) AS TEXT)), jsonb(COALESCE(CAST(sqlc.narg(metadata) AS TEXT), '{}')), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(expires_at) AS INTEGER),
       r.current + 1, r.current + 1
FROM namespaces n, revision_counter r
WHERE n.name = sqlc.arg(namespace) AND r.id = 1
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = excluded.metadata,
    version    = 1,
    created_at = excluded.created_at,
    created_by = excluded.created_by,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    expires_at = excluded.expires_at,
    revision   = excluded.revision,
    create_revision = excluded.create_revision
WHERE entries.expires_at IS NOT NULL AND entries.expires_at <= excluded.updated_at
RETURNING version, revision, create_revision;

-- name: UpdateEntryIf :one
-- Writes value only over a live entry, and only at version
-- expected_version and revision expected_revision where they are not 0
-- (IfVersion, IfRevision; both 0: MustExist).
UPDATE entries SET
    value      = jsonb(CAST(sqlc.arg(value) AS TEXT)),
    metadata   = CASE WHEN CAST(sqlc.narg(metadata) AS TEXT) IS NULL THEN metadata ELSE jsonb(CAST(sqlc.narg(metadata) AS TEXT)) END,
    version    = version + 1,
    updated_at = sqlc.arg(now),
    updated_by = CAST(sqlc.narg(actor) AS TEXT),
    expires_at = CASE WHEN CAST(sqlc.arg(keep_ttl) AS INTEGER) <> 0 THEN expires_at ELSE CAST(sqlc.narg(expires_at) AS INTEGER) END,
    revision   = (SELECT r.current + 1 FROM revision_counter r WHERE r.id = 1)
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND (CAST(sqlc.arg(expected_version) AS INTEGER) = 0 OR version = CAST(sqlc.arg(expected_version) AS INTEGER))
  AND (CAST(sqlc.arg(expected_revision) AS INTEGER) = 0 OR revision = CAST(sqlc.arg(expected_revision) AS INTEGER))
  AND (expires_at IS NULL OR expires_at > CAST(sqlc.arg(now) AS INTEGER))
RETURNING version, revision, create_revision;

-- name: DeleteEntryIf :one
-- Deletes a live entry, only at version expected_version and revision
-- expected_revision where they are not 0. The engine logs the delete.
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND (CAST(sqlc.arg(expected_version) AS INTEGER) = 0 OR version = CAST(sqlc.arg(expected_version) AS INTEGER))
  AND (CAST(sqlc.arg(expected_revision) AS INTEGER) = 0 OR revision = CAST(sqlc.arg(expected_revision) AS INTEGER))
  AND (expires_at IS NULL OR expires_at > CAST(sqlc.arg(now) AS INTEGER))
RETURNING version, revision;

-- name: GetMetadata :one
SELECT CAST(json(e.metadata) AS TEXT) AS metadata, e.version, e.created_at, e.updated_at, e.created_by, e.updated_by, e.expires_at,
       e.revision, e.create_revision
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key)
  AND (e.expires_at IS NULL OR e.expires_at > CAST(sqlc.arg(now) AS INTEGER));

-- name: ReplaceMetadata :one
-- The engine logs the change (it read the revision it replaces).
UPDATE entries SET
    metadata   = jsonb(CAST(sqlc.arg(metadata) AS TEXT)),
    version    = version + 1,
    updated_at = sqlc.arg(now),
    updated_by = CAST(sqlc.narg(actor) AS TEXT),
    revision   = (SELECT r.current + 1 FROM revision_counter r WHERE r.id = 1)
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND (CAST(sqlc.arg(expected_version) AS INTEGER) = 0 OR version = CAST(sqlc.arg(expected_version) AS INTEGER))
  AND (CAST(sqlc.arg(expected_revision) AS INTEGER) = 0 OR revision = CAST(sqlc.arg(expected_revision) AS INTEGER))
  AND (expires_at IS NULL OR expires_at > CAST(sqlc.arg(now) AS INTEGER))
RETURNING version, revision, create_revision, created_at, expires_at;

-- name: ClearNamespace :execrows
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace));

-- name: ClearAll :execrows
-- The live namespaces' entries: an unlinked namespace's are the purger's
-- (migration 00033). Not used by sqlstore, whose Clear of every namespace
-- unlinks them (sqliteQ.clearAll), as ClearNamespace's.
DELETE FROM entries WHERE namespace_id IN (SELECT id FROM namespaces);

-- name: RevisionCounter :one
SELECT current FROM revision_counter WHERE id = 1;

-- name: LogChanges :exec
-- Writes changes rows given as one JSON array of [revision, kind,
-- namespace, key or null, version or null, prev_revision or null,
-- metadata or null, the entry's created_at or null, its expires_at or
-- null]. The rows are the new current revision (revision_counter, a view
-- of the log's last revision).
INSERT INTO changes (revision, kind, namespace, key, metadata, version, prev_revision, created_at, entry_created_at, expires_at)
SELECT c.value ->> '$[0]', c.value ->> '$[1]', c.value ->> '$[2]', c.value ->> '$[3]',
       CASE WHEN c.value ->> '$[6]' IS NULL THEN NULL ELSE jsonb(c.value -> '$[6]') END,
       c.value ->> '$[4]', c.value ->> '$[5]', sqlc.arg(now), c.value ->> '$[7]', c.value ->> '$[8]'
FROM json_each(CAST(sqlc.arg(changes) AS TEXT)) AS c;

-- Batches: one statement whatever the number of keys. The keys (and items)
-- travel as one JSON array parameter, unpacked with json_each.

-- name: GetEntries :many
-- The key and GetEntry's packed column.
SELECT e.key,
       CAST(concat_ws(',', e.version, e.created_at,
                      CASE WHEN e.updated_at = e.created_at THEN '' ELSE e.updated_at END,
                      ifnull(e.expires_at, ''), e.revision,
                      CASE WHEN e.create_revision = e.revision THEN '' ELSE e.create_revision END,
                      CASE WHEN e.metadata = x'0c' THEN '2,{}'
                           ELSE concat(octet_length(json(e.metadata)), ',', json(e.metadata)) END,
                      json(e.value)) AS TEXT) AS packed
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace)
  AND e.key IN (SELECT j.value FROM json_each(CAST(sqlc.arg(keys) AS TEXT)) AS j)
  AND (e.expires_at IS NULL OR e.expires_at > CAST(sqlc.arg(now) AS INTEGER));

-- The items' keys are one JSON array of strings (items: json_each gives
-- each key as its value, and its position as its key). Everything else
-- travels in two BLOB parameters: texts, the values and metadata (JSON
-- texts) laid end to end, each value followed by its metadata; and slots,
-- 52 bytes per item at i.key * 52: the value's offset in texts (from 1, as
-- substr counts; 10 digits), its length (10), the metadata's length (10),
-- '1' and expires_at (20 characters) or '0' and 20 spaces, keep_ttl '1' or
-- '0'. substr of a BLOB is a constant-time cut and CAST reads the digits,
-- so no row renders or parses a JSON array: before, each item was an array
-- [key, offsets..., expires_at, keep] that json_each wrote out as text and
-- every ->> of the row parsed again (bench/results/2026-12-03-sqbatch.md).
-- jsonb parses each value once (2026-12-02-sqlbatch.md).
--
-- UpsertEntries and UpsertEntriesKeepMetadata read the revision counter
-- themselves (revision_counter r): item i gets revision r.current + i + 1.
-- Entries has row triggers, so SQLite computes the whole SELECT into a
-- temporary table before it inserts a row: every item sees the counter as
-- it was before the statement. So the statement needs no transaction
-- around it: SetMany runs it alone in autocommit mode where it can
-- (sqliteQ.upsertBatch), which spares SQLite the statement journal that a
-- multi-row write inside a transaction keeps (a copy of every page it
-- changes; bench/results/2026-12-04-sqbatch2.md).

-- name: UpsertEntries :many
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
SELECT n.id, i.value, jsonb(CAST(substr(CAST(sqlc.arg(texts) AS BLOB),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 1, 10) AS INTEGER),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 11, 10) AS INTEGER)) AS TEXT)),
       jsonb(CAST(substr(CAST(sqlc.arg(texts) AS BLOB),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 1, 10) AS INTEGER) + CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 11, 10) AS INTEGER),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 21, 10) AS INTEGER)) AS TEXT)), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT),
       CASE WHEN substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 52, 1) = x'31'
            THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = i.value
                    AND (o.expires_at IS NULL OR o.expires_at > CAST(sqlc.arg(now) AS INTEGER)))
            ELSE CASE WHEN substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 31, 1) = x'31' THEN CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 32, 20) AS INTEGER) END END,
       r.current + i.key + 1, r.current + i.key + 1
FROM namespaces n, revision_counter r, json_each(CAST(sqlc.arg(items) AS TEXT)) AS i
WHERE n.name = sqlc.arg(namespace) AND r.id = 1
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = excluded.metadata,
    version    = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.version + 1 ELSE 1 END,
    created_at = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.created_at ELSE excluded.created_at END,
    created_by = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.created_by ELSE excluded.created_by END,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    expires_at = excluded.expires_at,
    revision   = excluded.revision,
    create_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                           THEN entries.create_revision ELSE excluded.create_revision END
RETURNING key, version, revision, create_revision;

-- name: UpsertEntriesKeepMetadata :many
-- An expired row's metadata is not kept: it becomes '{}'.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
SELECT n.id, i.value, jsonb(CAST(substr(CAST(sqlc.arg(texts) AS BLOB),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 1, 10) AS INTEGER),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 11, 10) AS INTEGER)) AS TEXT)), jsonb('{}'), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT),
       CASE WHEN substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 52, 1) = x'31'
            THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = i.value
                    AND (o.expires_at IS NULL OR o.expires_at > CAST(sqlc.arg(now) AS INTEGER)))
            ELSE CASE WHEN substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 31, 1) = x'31' THEN CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 32, 20) AS INTEGER) END END,
       r.current + i.key + 1, r.current + i.key + 1
FROM namespaces n, revision_counter r, json_each(CAST(sqlc.arg(items) AS TEXT)) AS i
WHERE n.name = sqlc.arg(namespace) AND r.id = 1
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.metadata ELSE excluded.metadata END,
    version    = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.version + 1 ELSE 1 END,
    created_at = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.created_at ELSE excluded.created_at END,
    created_by = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.created_by ELSE excluded.created_by END,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    expires_at = excluded.expires_at,
    revision   = excluded.revision,
    create_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                           THEN entries.create_revision ELSE excluded.create_revision END
RETURNING key, version, revision, create_revision;

-- name: InsertEntries :many
-- Create-only: an expired row under a key is replaced as if missing. The
-- keys that exist (live) are left out before revisions are given, so the
-- items written get consecutive revisions.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
SELECT n.id, i.value, jsonb(CAST(substr(CAST(sqlc.arg(texts) AS BLOB),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 1, 10) AS INTEGER),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 11, 10) AS INTEGER)) AS TEXT)),
       jsonb(CAST(substr(CAST(sqlc.arg(texts) AS BLOB),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 1, 10) AS INTEGER) + CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 11, 10) AS INTEGER),
                         CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 21, 10) AS INTEGER)) AS TEXT)), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT),
       CASE WHEN substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 31, 1) = x'31' THEN CAST(substr(CAST(sqlc.arg(slots) AS BLOB), i.key * 52 + 32, 20) AS INTEGER) END,
       CAST(sqlc.arg(base) AS INTEGER) + row_number() OVER (ORDER BY i.key),
       CAST(sqlc.arg(base) AS INTEGER) + row_number() OVER (ORDER BY i.key)
FROM namespaces n, json_each(CAST(sqlc.arg(items) AS TEXT)) AS i
WHERE n.name = sqlc.arg(namespace)
  AND NOT EXISTS (SELECT 1 FROM entries o WHERE o.namespace_id = n.id AND o.key = i.value
                    AND (o.expires_at IS NULL OR o.expires_at > CAST(sqlc.arg(now) AS INTEGER)))
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = excluded.metadata,
    version    = 1,
    created_at = excluded.created_at,
    created_by = excluded.created_by,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    expires_at = excluded.expires_at,
    revision   = excluded.revision,
    create_revision = excluded.create_revision
WHERE entries.expires_at IS NOT NULL AND entries.expires_at <= excluded.updated_at
RETURNING key, version, revision, create_revision;

-- name: DeleteEntries :many
-- The engine logs the deletes.
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key IN (SELECT j.value FROM json_each(CAST(sqlc.arg(keys) AS TEXT)) AS j)
  AND (expires_at IS NULL OR expires_at > CAST(sqlc.arg(now) AS INTEGER))
RETURNING key, version, revision;

-- name: Revisions :one
-- oldest: the first revision after compacted_through, the end of what the
-- log does not hold (migration 00008, sqlstore/compact.go).
SELECT r.current, CAST(s.compacted_through + 1 AS INTEGER) AS oldest
FROM revision_counter r, change_log_state s WHERE r.id = 1 AND s.id = 1;
