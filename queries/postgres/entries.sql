-- Fixed-shape entry statements for PostgreSQL. Writes select the namespace id
-- by name: when the namespace is missing they affect no row and return none,
-- which the engine reads as "create the namespace, then retry".

-- name: GetEntry :one
SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = @namespace AND e.key = @key;

-- name: HasEntry :one
SELECT EXISTS (
    SELECT 1 FROM entries e
    JOIN namespaces n ON n.id = e.namespace_id
    WHERE n.name = @namespace AND e.key = @key
) AS found;

-- name: GetEntryVersion :one
SELECT e.version
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = @namespace AND e.key = @key;

-- name: UpsertEntry :one
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, @key, @value, COALESCE(sqlc.narg(metadata)::jsonb, '{}'::jsonb), 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text
FROM namespaces n
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = EXCLUDED.value,
    metadata   = COALESCE(sqlc.narg(metadata)::jsonb, entries.metadata),
    version    = entries.version + 1,
    updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by
RETURNING version;

-- name: InsertEntry :one
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, @key, @value, COALESCE(sqlc.narg(metadata)::jsonb, '{}'::jsonb), 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text
FROM namespaces n
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO NOTHING
RETURNING version;

-- name: UpdateEntryIfVersion :one
UPDATE entries e SET
    value      = @value,
    metadata   = COALESCE(sqlc.narg(metadata)::jsonb, e.metadata),
    version    = e.version + 1,
    updated_at = @now,
    updated_by = sqlc.narg(actor)::text
FROM namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = @key
  AND e.version = @expected_version
RETURNING e.version;

-- name: DeleteEntry :execrows
DELETE FROM entries e
USING namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = @key;

-- name: DeleteEntryIfVersion :execrows
DELETE FROM entries e
USING namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = @key
  AND e.version = @expected_version;

-- name: GetMetadata :one
SELECT e.metadata, e.version, e.created_at, e.updated_at, e.created_by, e.updated_by
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = @namespace AND e.key = @key;

-- name: ReplaceMetadata :one
UPDATE entries e SET
    metadata   = @metadata,
    version    = e.version + 1,
    updated_at = @now,
    updated_by = sqlc.narg(actor)::text
FROM namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = @key
  AND (sqlc.narg(expected_version)::bigint IS NULL OR e.version = sqlc.narg(expected_version)::bigint)
RETURNING e.version;

-- name: ClearNamespace :execrows
DELETE FROM entries e
USING namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace;

-- name: ClearAll :execrows
DELETE FROM entries;

-- Batches: one statement whatever the number of keys.

-- name: GetEntries :many
SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = @namespace AND e.key = ANY(@keys::text[]);

-- name: UpsertEntries :many
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, i.key, i.value, i.metadata, 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text
FROM namespaces n,
     ROWS FROM (unnest(@keys::text[]), unnest(@vals::jsonb[]), unnest(@metadatas::jsonb[])) AS i (key, value, metadata)
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = EXCLUDED.value,
    metadata   = EXCLUDED.metadata,
    version    = entries.version + 1,
    updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by
RETURNING key, version;

-- name: UpsertEntriesKeepMetadata :many
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, i.key, i.value, '{}'::jsonb, 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text
FROM namespaces n,
     ROWS FROM (unnest(@keys::text[]), unnest(@vals::jsonb[])) AS i (key, value)
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = EXCLUDED.value,
    version    = entries.version + 1,
    updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by
RETURNING key, version;

-- name: InsertEntries :many
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, i.key, i.value, i.metadata, 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text
FROM namespaces n,
     ROWS FROM (unnest(@keys::text[]), unnest(@vals::jsonb[]), unnest(@metadatas::jsonb[])) AS i (key, value, metadata)
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO NOTHING
RETURNING key, version;

-- name: DeleteEntries :many
DELETE FROM entries e
USING namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = ANY(@keys::text[])
RETURNING e.key;
