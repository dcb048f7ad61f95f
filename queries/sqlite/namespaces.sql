-- Fixed-shape namespace statements for SQLite.

-- name: EnsureNamespace :exec
-- Ids are never reused (migration 00028): the next id is one past the
-- largest ever given.
INSERT INTO namespaces (id, name, owner, metadata, created_at)
VALUES ((SELECT namespace_seq + 1 FROM change_log_state WHERE id = 1), sqlc.arg(name), sqlc.narg(owner), jsonb('{}'), sqlc.arg(now))
ON CONFLICT (name) DO NOTHING;

-- name: CreateNamespace :one
INSERT INTO namespaces (id, name, owner, metadata, indexes, created_at)
VALUES ((SELECT namespace_seq + 1 FROM change_log_state WHERE id = 1), sqlc.arg(name), sqlc.narg(owner), jsonb(CAST(sqlc.arg(metadata) AS TEXT)), CAST(sqlc.arg(indexes) AS TEXT), sqlc.arg(now))
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: GetNamespace :one
-- entry_count from namespace_counts: the column plus the change log's
-- entries not yet folded into it (migration 00023).
SELECT n.id, n.name, n.owner, CAST(json(n.metadata) AS TEXT) AS metadata, n.indexes,
       CAST(c.entry_count AS INTEGER) AS entry_count, n.created_at
FROM namespaces n JOIN namespace_counts c ON c.id = n.id
WHERE n.name = sqlc.arg(name);

-- name: DeleteNamespaceEntries :execrows
DELETE FROM entries WHERE namespace_id = sqlc.arg(id);

-- name: DeleteNamespace :execrows
DELETE FROM namespaces WHERE id = sqlc.arg(id);

-- name: StoreStats :one
-- entry_count counts rows, expired or not: the expired rows not yet swept
-- are subtracted, counted on the partial index entries_expires_at. The
-- change log's new entries not yet folded into entry_count are added
-- (migration 00023: fewer than 32 rows at the log's end; a deleted
-- namespace's were dropped with it). An unlinked namespace's entries
-- not yet purged (migration 00033) have no namespace row: not counted.
SELECT CAST(COALESCE(sum(entry_count), 0) AS INTEGER)
         + (SELECT count(*) FROM changes c
            WHERE c.revision > (SELECT counted_through FROM change_log_state WHERE id = 1) AND c.new_entry = 1)
         - (SELECT count(*) FROM entries x WHERE x.expires_at IS NOT NULL AND x.expires_at <= CAST(sqlc.arg(now) AS INTEGER)
              AND x.namespace_id IN (SELECT id FROM namespaces)) AS entries,
       count(*) AS namespaces
FROM namespaces;

-- name: CountExpiredInNamespace :one
SELECT count(*) FROM entries
WHERE expires_at IS NOT NULL AND expires_at <= CAST(sqlc.arg(now) AS INTEGER) AND namespace_id = sqlc.arg(id);
