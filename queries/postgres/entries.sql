-- Fixed-shape entry statements for PostgreSQL. Writes select the namespace id
-- by name: when the namespace is missing they affect no row and return none,
-- which the engine reads as "create the namespace, then retry".
--
-- Expiry: expires_at is NULL or a time. Every statement sees only live rows,
-- those with expires_at NULL or after @now, the engine's clock (never the
-- database's now()); a write to an expired row treats the key as missing
-- (version from 1, new created_at, metadata {} unless given, create-only
-- succeeds).

-- name: GetEntry :one
SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at, e.expires_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = @namespace AND e.key = @key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz);

-- name: HasEntry :one
SELECT EXISTS (
    SELECT 1 FROM entries e
    JOIN namespaces n ON n.id = e.namespace_id
    WHERE n.name = @namespace AND e.key = @key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz)
) AS found;

-- name: GetEntryVersion :one
SELECT e.version
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = @namespace AND e.key = @key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz);

-- name: UpsertEntry :one
-- A nil metadata keeps the stored metadata ('{}' for a new or expired
-- entry); keep_ttl keeps the stored expiry (none for a new or expired
-- entry), else the entry gets expires_at.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT n.id, @key, @value, COALESCE(sqlc.narg(metadata)::jsonb, '{}'::jsonb), 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text, sqlc.narg(expires_at)::timestamptz
FROM namespaces n
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = EXCLUDED.value,
    metadata   = COALESCE(sqlc.narg(metadata)::jsonb,
                          CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                               THEN entries.metadata ELSE '{}'::jsonb END),
    version    = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.version + 1 ELSE 1 END,
    created_at = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.created_at ELSE EXCLUDED.created_at END,
    created_by = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.created_by ELSE EXCLUDED.created_by END,
    updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by,
    expires_at = CASE WHEN @keep_ttl::boolean
                      THEN CASE WHEN entries.expires_at > EXCLUDED.updated_at THEN entries.expires_at END
                      ELSE EXCLUDED.expires_at END
RETURNING version;

-- name: InsertEntry :one
-- Create-only: an expired row under the key is replaced as if missing.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT n.id, @key, @value, COALESCE(sqlc.narg(metadata)::jsonb, '{}'::jsonb), 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text, sqlc.narg(expires_at)::timestamptz
FROM namespaces n
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = EXCLUDED.value,
    metadata   = EXCLUDED.metadata,
    version    = 1,
    created_at = EXCLUDED.created_at,
    created_by = EXCLUDED.created_by,
    updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by,
    expires_at = EXCLUDED.expires_at
WHERE entries.expires_at <= EXCLUDED.updated_at
RETURNING version;

-- name: UpdateEntryIfVersion :one
UPDATE entries e SET
    value      = @value,
    metadata   = COALESCE(sqlc.narg(metadata)::jsonb, e.metadata),
    version    = e.version + 1,
    updated_at = @now,
    updated_by = sqlc.narg(actor)::text,
    expires_at = CASE WHEN @keep_ttl::boolean THEN e.expires_at ELSE sqlc.narg(expires_at)::timestamptz END
FROM namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = @key
  AND e.version = @expected_version AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz)
RETURNING e.version;

-- name: DeleteEntry :execrows
DELETE FROM entries e
USING namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = @key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz);

-- name: DeleteEntryIfVersion :execrows
DELETE FROM entries e
USING namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = @key
  AND e.version = @expected_version AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz);

-- name: GetMetadata :one
SELECT e.metadata, e.version, e.created_at, e.updated_at, e.created_by, e.updated_by, e.expires_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = @namespace AND e.key = @key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz);

-- name: ReplaceMetadata :one
UPDATE entries e SET
    metadata   = @metadata,
    version    = e.version + 1,
    updated_at = @now,
    updated_by = sqlc.narg(actor)::text
FROM namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = @key
  AND (sqlc.narg(expected_version)::bigint IS NULL OR e.version = sqlc.narg(expected_version)::bigint)
  AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz)
RETURNING e.version;

-- name: ClearNamespace :execrows
DELETE FROM entries e
USING namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace;

-- name: ClearAll :execrows
DELETE FROM entries;

-- Batches: one statement whatever the number of keys.

-- name: GetEntries :many
SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at, e.expires_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = @namespace AND e.key = ANY(@keys::text[]) AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz);

-- Expiries travel as unix microseconds, 0 for none; keeps are the
-- items' keep_ttl flags (the stored expiry is read in the SELECT).

-- name: UpsertEntries :many
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT n.id, i.key, i.value, i.metadata, 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text,
       CASE WHEN i.keep
            THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = i.key AND o.expires_at > @now::timestamptz)
            ELSE 'epoch'::timestamptz + NULLIF(i.expires, 0) * interval '1 microsecond' END
FROM namespaces n,
     ROWS FROM (unnest(@keys::text[]), unnest(@vals::jsonb[]), unnest(@metadatas::jsonb[]), unnest(@expires::bigint[]), unnest(@keeps::boolean[]))
     AS i (key, value, metadata, expires, keep)
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = EXCLUDED.value,
    metadata   = EXCLUDED.metadata,
    version    = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.version + 1 ELSE 1 END,
    created_at = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.created_at ELSE EXCLUDED.created_at END,
    created_by = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.created_by ELSE EXCLUDED.created_by END,
    updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by,
    expires_at = EXCLUDED.expires_at
RETURNING key, version;

-- name: UpsertEntriesKeepMetadata :many
-- An expired row's metadata is not kept: it becomes '{}'.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT n.id, i.key, i.value, '{}'::jsonb, 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text,
       CASE WHEN i.keep
            THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = i.key AND o.expires_at > @now::timestamptz)
            ELSE 'epoch'::timestamptz + NULLIF(i.expires, 0) * interval '1 microsecond' END
FROM namespaces n,
     ROWS FROM (unnest(@keys::text[]), unnest(@vals::jsonb[]), unnest(@expires::bigint[]), unnest(@keeps::boolean[]))
     AS i (key, value, expires, keep)
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = EXCLUDED.value,
    metadata   = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.metadata ELSE EXCLUDED.metadata END,
    version    = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.version + 1 ELSE 1 END,
    created_at = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.created_at ELSE EXCLUDED.created_at END,
    created_by = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                      THEN entries.created_by ELSE EXCLUDED.created_by END,
    updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by,
    expires_at = EXCLUDED.expires_at
RETURNING key, version;

-- name: InsertEntries :many
-- Create-only: an expired row under a key is replaced as if missing.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT n.id, i.key, i.value, i.metadata, 1, @now, @now,
       sqlc.narg(actor)::text, sqlc.narg(actor)::text,
       'epoch'::timestamptz + NULLIF(i.expires, 0) * interval '1 microsecond'
FROM namespaces n,
     ROWS FROM (unnest(@keys::text[]), unnest(@vals::jsonb[]), unnest(@metadatas::jsonb[]), unnest(@expires::bigint[]), unnest(@keeps::boolean[]))
     AS i (key, value, metadata, expires, keep)
WHERE n.name = @namespace
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = EXCLUDED.value,
    metadata   = EXCLUDED.metadata,
    version    = 1,
    created_at = EXCLUDED.created_at,
    created_by = EXCLUDED.created_by,
    updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by,
    expires_at = EXCLUDED.expires_at
WHERE entries.expires_at <= EXCLUDED.updated_at
RETURNING key, version;

-- name: DeleteEntries :many
DELETE FROM entries e
USING namespaces n
WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = ANY(@keys::text[]) AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz)
RETURNING e.key;
