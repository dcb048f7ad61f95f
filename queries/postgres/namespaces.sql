-- Fixed-shape namespace statements for PostgreSQL.

-- name: EnsureNamespace :exec
-- Creates the namespace unless the statement's snapshot shows a row of
-- that name. ON CONFLICT alone is not enough in a repeatable-read or
-- serializable transaction whose snapshot predates a concurrent
-- DeleteNamespace: the deleted row is dead, so nothing conflicts, and a
-- second row of the name was inserted beside the one the snapshot still
-- shows; a batch then wrote under both ids with the same revisions and
-- failed on the change log's primary key (a unique violation, read as
-- ErrCorrupt). With NOT EXISTS the write goes to the row the snapshot
-- shows, and its triggers' lock of that row (deleted meanwhile) fails
-- with a serialization failure, ErrTxConflict, as a single Set does
-- (TestTxWriteAfterNamespaceDeleted). Under read committed the snapshot
-- is taken under the revision lock and sees every committed namespace:
-- nothing changes there.
INSERT INTO namespaces (name, owner, metadata, created_at)
SELECT @name, sqlc.narg(owner), '{}', @now
WHERE NOT EXISTS (SELECT 1 FROM namespaces WHERE name = @name)
ON CONFLICT (name) DO NOTHING;

-- name: CreateNamespace :one
INSERT INTO namespaces (name, owner, metadata, indexes, created_at)
VALUES (@name, sqlc.narg(owner), @metadata, COALESCE(sqlc.narg(indexes)::jsonb, '[]'::jsonb), @now)
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: GetNamespace :one
SELECT id, name, owner, metadata, indexes, entry_count, created_at
FROM namespaces
WHERE name = @name;

-- name: LockNamespace :one
SELECT id, entry_count
FROM namespaces
WHERE name = @name
FOR UPDATE;

-- name: DeleteNamespaceEntries :execrows
DELETE FROM entries WHERE namespace_id = @id;

-- name: DeleteNamespace :execrows
DELETE FROM namespaces WHERE id = @id;

-- name: StoreStats :one
-- entry_count counts rows, expired or not: the expired rows not yet swept
-- are subtracted, counted on the partial index entries_expires_at. An
-- unlinked namespace's entries not yet purged (migration 00034) have no
-- namespace row: not counted.
SELECT (COALESCE(sum(entry_count), 0)
         - (SELECT count(*) FROM entries x WHERE x.expires_at IS NOT NULL AND x.expires_at <= @now::timestamptz
              AND x.namespace_id IN (SELECT id FROM namespaces)))::bigint AS entries,
       count(*)::bigint AS namespaces
FROM namespaces;

-- name: CountExpiredInNamespace :one
SELECT count(*)::bigint FROM entries
WHERE expires_at IS NOT NULL AND expires_at <= @now::timestamptz AND namespace_id = @id;

-- name: CapacityLock :exec
SELECT pg_advisory_xact_lock(@lock_key::bigint);

-- name: TouchCapacityGuard :exec
UPDATE capacity_guard SET writes = writes + 1 WHERE id = 1;
