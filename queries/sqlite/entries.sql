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

-- name: GetEntry :one
SELECT e.key, CAST(json(e.value) AS TEXT) AS value, CAST(json(e.metadata) AS TEXT) AS metadata,
       e.version, e.created_at, e.updated_at, e.expires_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key)
  AND (e.expires_at IS NULL OR e.expires_at > CAST(sqlc.arg(now) AS INTEGER));

-- name: HasEntry :one
SELECT EXISTS (
    SELECT 1 FROM entries e
    JOIN namespaces n ON n.id = e.namespace_id
    WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key)
      AND (e.expires_at IS NULL OR e.expires_at > CAST(sqlc.arg(now) AS INTEGER))
) AS found;

-- name: GetEntryVersion :one
SELECT e.version
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
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
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
            ELSE CAST(sqlc.narg(expires_at) AS INTEGER) END
FROM namespaces n
WHERE n.name = sqlc.arg(namespace)
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
    expires_at = excluded.expires_at
RETURNING version;

-- name: InsertEntry :one
-- Create-only: an expired row under the key is replaced as if missing.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT n.id, sqlc.arg(key), jsonb(CAST(sqlc.arg(value) AS TEXT)), jsonb(COALESCE(CAST(sqlc.narg(metadata) AS TEXT), '{}')), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(expires_at) AS INTEGER)
FROM namespaces n
WHERE n.name = sqlc.arg(namespace)
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = excluded.metadata,
    version    = 1,
    created_at = excluded.created_at,
    created_by = excluded.created_by,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    expires_at = excluded.expires_at
WHERE entries.expires_at IS NOT NULL AND entries.expires_at <= excluded.updated_at
RETURNING version;

-- name: UpdateEntryIfVersion :one
UPDATE entries SET
    value      = jsonb(CAST(sqlc.arg(value) AS TEXT)),
    metadata   = CASE WHEN CAST(sqlc.narg(metadata) AS TEXT) IS NULL THEN metadata ELSE jsonb(CAST(sqlc.narg(metadata) AS TEXT)) END,
    version    = version + 1,
    updated_at = sqlc.arg(now),
    updated_by = CAST(sqlc.narg(actor) AS TEXT),
    expires_at = CASE WHEN CAST(sqlc.arg(keep_ttl) AS INTEGER) <> 0 THEN expires_at ELSE CAST(sqlc.narg(expires_at) AS INTEGER) END
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND version = sqlc.arg(expected_version)
  AND (expires_at IS NULL OR expires_at > CAST(sqlc.arg(now) AS INTEGER))
RETURNING version;

-- name: DeleteEntry :execrows
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND (expires_at IS NULL OR expires_at > CAST(sqlc.arg(now) AS INTEGER));

-- name: DeleteEntryIfVersion :execrows
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND version = sqlc.arg(expected_version)
  AND (expires_at IS NULL OR expires_at > CAST(sqlc.arg(now) AS INTEGER));

-- name: GetMetadata :one
SELECT CAST(json(e.metadata) AS TEXT) AS metadata, e.version, e.created_at, e.updated_at, e.created_by, e.updated_by, e.expires_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace) AND e.key = sqlc.arg(key)
  AND (e.expires_at IS NULL OR e.expires_at > CAST(sqlc.arg(now) AS INTEGER));

-- name: ReplaceMetadata :one
UPDATE entries SET
    metadata   = jsonb(CAST(sqlc.arg(metadata) AS TEXT)),
    version    = version + 1,
    updated_at = sqlc.arg(now),
    updated_by = CAST(sqlc.narg(actor) AS TEXT)
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key = sqlc.arg(key)
  AND (CAST(sqlc.narg(expected_version) AS INTEGER) IS NULL OR version = CAST(sqlc.narg(expected_version) AS INTEGER))
  AND (expires_at IS NULL OR expires_at > CAST(sqlc.arg(now) AS INTEGER))
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
       e.version, e.created_at, e.updated_at, e.expires_at
FROM entries e
JOIN namespaces n ON n.id = e.namespace_id
WHERE n.name = sqlc.arg(namespace)
  AND e.key IN (SELECT j.value FROM json_each(CAST(sqlc.arg(keys) AS TEXT)) AS j)
  AND (e.expires_at IS NULL OR e.expires_at > CAST(sqlc.arg(now) AS INTEGER));

-- Items are [key, value, metadata, expires_at or null, keep_ttl 0|1].

-- name: UpsertEntries :many
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT n.id, i.value ->> '$[0]', jsonb(i.value -> '$[1]'), jsonb(i.value -> '$[2]'), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT),
       CASE WHEN i.value ->> '$[4]' <> 0
            THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = i.value ->> '$[0]'
                    AND (o.expires_at IS NULL OR o.expires_at > CAST(sqlc.arg(now) AS INTEGER)))
            ELSE i.value ->> '$[3]' END
FROM namespaces n, json_each(CAST(sqlc.arg(items) AS TEXT)) AS i
WHERE n.name = sqlc.arg(namespace)
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
    expires_at = excluded.expires_at
RETURNING key, version;

-- name: UpsertEntriesKeepMetadata :many
-- An expired row's metadata is not kept: it becomes '{}'.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT n.id, i.value ->> '$[0]', jsonb(i.value -> '$[1]'), jsonb('{}'), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT),
       CASE WHEN i.value ->> '$[4]' <> 0
            THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = i.value ->> '$[0]'
                    AND (o.expires_at IS NULL OR o.expires_at > CAST(sqlc.arg(now) AS INTEGER)))
            ELSE i.value ->> '$[3]' END
FROM namespaces n, json_each(CAST(sqlc.arg(items) AS TEXT)) AS i
WHERE n.name = sqlc.arg(namespace)
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
    expires_at = excluded.expires_at
RETURNING key, version;

-- name: InsertEntries :many
-- Create-only: an expired row under a key is replaced as if missing.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at)
SELECT n.id, i.value ->> '$[0]', jsonb(i.value -> '$[1]'), jsonb(i.value -> '$[2]'), 1,
       sqlc.arg(now), sqlc.arg(now),
       CAST(sqlc.narg(actor) AS TEXT), CAST(sqlc.narg(actor) AS TEXT), i.value ->> '$[3]'
FROM namespaces n, json_each(CAST(sqlc.arg(items) AS TEXT)) AS i
WHERE n.name = sqlc.arg(namespace)
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = excluded.metadata,
    version    = 1,
    created_at = excluded.created_at,
    created_by = excluded.created_by,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    expires_at = excluded.expires_at
WHERE entries.expires_at IS NOT NULL AND entries.expires_at <= excluded.updated_at
RETURNING key, version;

-- name: DeleteEntries :many
DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = sqlc.arg(namespace))
  AND key IN (SELECT j.value FROM json_each(CAST(sqlc.arg(keys) AS TEXT)) AS j)
  AND (expires_at IS NULL OR expires_at > CAST(sqlc.arg(now) AS INTEGER))
RETURNING key;
