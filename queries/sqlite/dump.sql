-- Export (sqlstore/export.go) and Restore (sqlstore/restore.go) for SQLite.
-- Batches travel as one JSON array parameter, unpacked with json_each.
-- Timestamps are unix microseconds.

-- name: DumpNamespaces :many
-- entry_count from namespace_counts: the column plus the change log's
-- entries not yet folded into it (migration 00023).
SELECT n.id, n.name, CAST(json(n.metadata) AS TEXT) AS metadata, n.indexes, n.created_at,
       CAST(c.entry_count AS INTEGER) AS entry_count
FROM namespaces n JOIN namespace_counts c ON c.id = n.id
WHERE n.name > sqlc.arg(after)
ORDER BY n.name
LIMIT sqlc.arg(page_size);

-- name: DumpEntries :many
-- One keyset page of a namespace: the live entries (not expired at now)
-- after after in key order, at
-- most page_size of them, and no more once the JSON of the rows before
-- reaches max_bytes (the first row always comes). The inner query sizes the
-- rows by their JSONB blobs (length() of a blob reads no content) without
-- returning them; running_bytes is the size of the page up to and including
-- the row.
WITH p AS (
    SELECT s.key,
           sum(length(s.value) + length(s.metadata)) OVER (ORDER BY s.key ROWS UNBOUNDED PRECEDING) AS running_bytes,
           length(s.value) + length(s.metadata) AS row_bytes
    FROM entries s
    WHERE s.namespace_id = sqlc.arg(namespace_id) AND s.key > sqlc.arg(after)
      AND (s.expires_at IS NULL OR s.expires_at > CAST(sqlc.arg(now) AS INTEGER))
    ORDER BY s.key
    LIMIT sqlc.arg(page_size)
)
SELECT e.key, CAST(json(e.value) AS TEXT) AS value, CAST(json(e.metadata) AS TEXT) AS metadata,
       e.version, e.created_at, e.updated_at, e.created_by, e.updated_by, e.expires_at,
       CAST(p.running_bytes AS INTEGER) AS running_bytes
FROM p
JOIN entries e ON e.namespace_id = sqlc.arg(namespace_id) AND e.key = p.key
WHERE p.running_bytes - p.row_bytes < CAST(sqlc.arg(max_bytes) AS INTEGER)
ORDER BY e.key;

-- name: RestoreNamespaceIDs :many
SELECT id, name
FROM namespaces
WHERE name IN (SELECT j.value FROM json_each(CAST(sqlc.arg(names) AS TEXT)) AS j);

-- name: RestoreExisting :many
-- The stored rows of a batch of [namespace, key] pairs.
SELECT n.name AS namespace, e.key, CAST(json(e.value) AS TEXT) AS value,
       CAST(json(e.metadata) AS TEXT) AS metadata, e.version, e.created_at, e.updated_at,
       e.created_by, e.updated_by, e.expires_at
FROM json_each(CAST(sqlc.arg(pairs) AS TEXT)) AS j
JOIN namespaces n ON n.name = j.value ->> 0
JOIN entries e ON e.namespace_id = n.id AND e.key = j.value ->> 1;

-- name: RestoreInsert :many
-- Writes a batch of records as they are into existing namespaces, skipping
-- the keys that exist, and returns the rows written. Each record is an
-- object {"n","k","v","m","ver","c","u","cb","ub","x"}; cb and ub are
-- omitted for no actor, x (expires_at) for no expiry. Each row written
-- gets a new revision after base, in the order of the batch (revisions
-- are not carried by an export); the changes_put_insert trigger logs it.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
SELECT n.id, j.value ->> '$.k', jsonb(j.value -> '$.v'), jsonb(j.value -> '$.m'), j.value ->> '$.ver',
       j.value ->> '$.c', j.value ->> '$.u', j.value ->> '$.cb', j.value ->> '$.ub', j.value ->> '$.x',
       CAST(sqlc.arg(base) AS INTEGER) + row_number() OVER (ORDER BY j.key),
       CAST(sqlc.arg(base) AS INTEGER) + row_number() OVER (ORDER BY j.key)
FROM json_each(CAST(sqlc.arg(records) AS TEXT)) AS j
JOIN namespaces n ON n.name = j.value ->> '$.n'
WHERE NOT EXISTS (SELECT 1 FROM entries o WHERE o.namespace_id = n.id AND o.key = j.value ->> '$.k')
ON CONFLICT (namespace_id, key) DO NOTHING
RETURNING namespace_id, key;

-- name: RestoreUpdateNamespace :execrows
UPDATE namespaces SET metadata = jsonb(CAST(sqlc.arg(metadata) AS TEXT)), created_at = sqlc.arg(created_at)
WHERE id = sqlc.arg(id);

-- name: RestoreNamespaceIndexes :execrows
UPDATE namespaces SET indexes = CAST(sqlc.arg(indexes) AS TEXT)
WHERE id = sqlc.arg(id);
