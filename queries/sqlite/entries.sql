-- Fixed-shape entry statements for SQLite. Values and metadata are JSONB
-- blobs: jsonb() in, json() out. Timestamps are unix microseconds. Writes
-- select the namespace id by name: when the namespace is missing they affect
-- no row and return none, which the engine reads as "create the namespace,
-- then retry".

-- name: GetEntry :one
SELECT e.key, CAST(json(e.value) AS TEXT) AS value, CAST(json(e.metadata) AS TEXT) AS metadata,
       e.version, e.created_at, e.updated_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key);

-- name: HasEntry :one
SELECT EXISTS (
    SELECT 1 FROM entries e
    JOIN namespaces n ON n.id = e.namespace_id
    WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key)
) AS found;

-- name: GetEntryVersion :one
SELECT e.version
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key);

-- name: UpsertEntry :one
-- A nil metadata keeps the stored metadata ('{}' for a new entry). sqlc's
-- SQLite parser skips the ON CONFLICT clause, so a parameter there would reach
-- SQLite unrewritten: the choice is made in the SELECT instead, from the row
-- the conflict updates (same statement, single writer: the same row).
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, sqlc.arg(key), jsonb(CAST(sqlc.arg(value) AS TEXT)),
       COALESCE(jsonb(CAST(sqlc.narg(metadata) AS TEXT)),
                (SELECT o.metadata FROM entries o WHERE o.namespace_id = n.id AND o.key = sqlc.arg(key)),
                jsonb('{}')),
       1, sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT)
FROM namespaces n
WHERE n.name = sqlc.arg(namespace)
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = excluded.metadata,
    version    = entries.version + 1,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by
RETURNING version;

-- name: InsertEntry :one
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, sqlc.arg(key), jsonb(CAST(sqlc.arg(value) AS TEXT)), jsonb(COALESCE(CAST(sqlc.narg(metadata) AS TEXT), '{}')), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT)
FROM namespaces n
WHERE n.name = sqlc.arg(namespace)
ON CONFLICT (namespace_id, key) DO NOTHING
RETURNING version;

-- name: UpdateEntryIfVersion :one
UPDATE entries SET
    value      = jsonb(CAST(sqlc.arg(value) AS TEXT)),
    metadata   = CASE WHEN CAST(sqlc.narg(metadata) AS TEXT) IS NULL THEN metadata ELSE jsonb(CAST(sqlc.narg(metadata) AS TEXT)) END,
    version    = version + 1,
    updated_at = sqlc.arg(now),
    updated_by = CAST(sqlc.narg(actor) AS TEXT)
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND version = sqlc.arg(expected_version)
RETURNING version;

-- name: DeleteEntry :execrows
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key);

-- name: DeleteEntryIfVersion :execrows
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND version = sqlc.arg(expected_version);

-- name: GetMetadata :one
SELECT CAST(json(e.metadata) AS TEXT) AS metadata, e.version, e.created_at, e.updated_at, e.created_by, e.updated_by
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key);

-- name: ReplaceMetadata :one
UPDATE entries SET
    metadata   = jsonb(CAST(sqlc.arg(metadata) AS TEXT)),
    version    = version + 1,
    updated_at = sqlc.arg(now),
    updated_by = CAST(sqlc.narg(actor) AS TEXT)
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND (CAST(sqlc.narg(expected_version) AS INTEGER) IS NULL OR version = CAST(sqlc.narg(expected_version) AS INTEGER))
RETURNING version;

-- name: ClearNamespace :execrows
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace));

-- name: ClearAll :execrows
DELETE FROM entries;

-- Batches: one statement whatever the number of keys. The keys (and items)
-- travel as one JSON array parameter, unpacked with json_each.

-- name: GetEntries :many
SELECT e.key, CAST(json(e.value) AS TEXT) AS value, CAST(json(e.metadata) AS TEXT) AS metadata,
       e.version, e.created_at, e.updated_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace)
  AND e.key IN (SELECT j.value FROM json_each(CAST(sqlc.arg(keys) AS TEXT)) AS j);

-- name: UpsertEntries :many
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, i.value ->> '$[0]', jsonb(i.value -> '$[1]'), jsonb(i.value -> '$[2]'), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT)
FROM namespaces n, json_each(CAST(sqlc.arg(items) AS TEXT)) AS i
WHERE n.name = sqlc.arg(namespace)
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = excluded.metadata,
    version    = entries.version + 1,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by
RETURNING key, version;

-- name: UpsertEntriesKeepMetadata :many
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, i.value ->> '$[0]', jsonb(i.value -> '$[1]'), jsonb('{}'), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT)
FROM namespaces n, json_each(CAST(sqlc.arg(items) AS TEXT)) AS i
WHERE n.name = sqlc.arg(namespace)
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    version    = entries.version + 1,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by
RETURNING key, version;

-- name: InsertEntries :many
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, i.value ->> '$[0]', jsonb(i.value -> '$[1]'), jsonb(i.value -> '$[2]'), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT)
FROM namespaces n, json_each(CAST(sqlc.arg(items) AS TEXT)) AS i
WHERE n.name = sqlc.arg(namespace)
ON CONFLICT (namespace_id, key) DO NOTHING
RETURNING key, version;

-- name: DeleteEntries :many
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key IN (SELECT j.value FROM json_each(CAST(sqlc.arg(keys) AS TEXT)) AS j)
RETURNING key;
