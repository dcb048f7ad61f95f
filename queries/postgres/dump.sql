-- Export (sqlstore/export.go) and Restore (sqlstore/restore.go) for
-- PostgreSQL. Batches travel as parallel arrays read by unnest.

-- name: DumpNamespaces :many
SELECT id, name, metadata, indexes, created_at, entry_count
FROM namespaces
WHERE name > @after
ORDER BY name
LIMIT @page_size;

-- name: DumpEntries :many
-- One keyset page of a namespace: the live entries (not expired at @now)
-- after @after in key order, at
-- most @page_size of them, and no more once the JSON text of the rows
-- before reaches @max_bytes (the first row always comes). The inner query
-- sizes the rows without returning them; running_bytes is the JSON text
-- size of the page up to and including the row.
SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at, e.created_by, e.updated_by,
       e.expires_at, p.running_bytes
FROM (
    SELECT s.key,
           CAST(sum(octet_length(s.value::text) + octet_length(s.metadata::text))
                OVER (ORDER BY s.key ROWS UNBOUNDED PRECEDING) AS bigint) AS running_bytes,
           CAST(octet_length(s.value::text) + octet_length(s.metadata::text) AS bigint) AS row_bytes
    FROM entries s
    WHERE s.namespace_id = @namespace_id AND s.key > @after
      AND (s.expires_at IS NULL OR s.expires_at > @now::timestamptz)
    ORDER BY s.key
    LIMIT @page_size
) p
JOIN entries e ON e.namespace_id = @namespace_id AND e.key = p.key
WHERE p.running_bytes - p.row_bytes < @max_bytes::bigint
ORDER BY e.key;

-- name: RestoreNamespaceIDs :many
SELECT id, name
FROM namespaces
WHERE name = ANY(@names::text[]);

-- name: RestoreExisting :many
-- The stored rows of a batch of (namespace, key) pairs.
SELECT n.name AS namespace, e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at,
       e.created_by, e.updated_by, e.expires_at
FROM ROWS FROM (unnest(@namespaces::text[]), unnest(@keys::text[])) AS j (ns, key)
JOIN namespaces n ON n.name = j.ns
JOIN entries e ON e.namespace_id = n.id AND e.key = j.key;

-- name: RestoreInsert :many
-- Writes a batch of records as they are into existing namespaces, skipping
-- the keys that exist, and returns the rows written. An empty actor is
-- none; an expiry is unix microseconds, 0 for none. Each row written is a
-- change of its own: it gets a new revision (revisions are not carried by
-- an export), in the order of the batch, and a put in the change log. The
-- engine runs it under the revision lock (sqlstore/revlock.go).
WITH i AS (
    SELECT n.id AS namespace_id, n.name AS namespace, j.key, j.value, j.metadata, j.version, j.created_at, j.updated_at,
           j.created_by, j.updated_by, j.expires, row_number() OVER (ORDER BY j.ord) AS ord
    FROM ROWS FROM (unnest(@namespaces::text[]), unnest(@keys::text[]), unnest(@vals::jsonb[]),
                    unnest(@metadatas::jsonb[]), unnest(@versions::bigint[]),
                    unnest(@created_ats::timestamptz[]), unnest(@updated_ats::timestamptz[]),
                    unnest(@created_bys::text[]), unnest(@updated_bys::text[]), unnest(@expires::bigint[]))
         WITH ORDINALITY AS j (ns, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires, ord)
    JOIN namespaces n ON n.name = j.ns
    WHERE NOT EXISTS (SELECT 1 FROM entries o WHERE o.namespace_id = n.id AND o.key = j.key)
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM i
), up AS (
    INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
    SELECT i.namespace_id, i.key, i.value, i.metadata, i.version, i.created_at, i.updated_at,
           NULLIF(i.created_by, ''), NULLIF(i.updated_by, ''),
           'epoch'::timestamptz + NULLIF(i.expires, 0) / 1000000 * interval '1 second' + NULLIF(i.expires, 0) % 1000000 * interval '1 microsecond', c.current + i.ord, c.current + i.ord
    FROM i, c
    ON CONFLICT (namespace_id, key) DO NOTHING
    RETURNING namespace_id, key, revision, created_at, expires_at
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    SELECT up.revision, 'put', i.namespace, i.key, i.value, i.metadata, i.version, NULL, i.updated_at,
           up.created_at, up.expires_at
    FROM up JOIN i ON i.namespace_id = up.namespace_id AND i.key = up.key
)
SELECT up.namespace_id, up.key FROM up WHERE @now::timestamptz IS NOT NULL;

-- name: RestoreUpdateNamespace :execrows
UPDATE namespaces SET metadata = @metadata, created_at = @created_at
WHERE id = @id;

-- name: RestoreNamespaceIndexes :execrows
UPDATE namespaces SET indexes = @indexes
WHERE id = @id;

-- name: ForceCustomPlans :exec
-- Until the end of the transaction, plan every statement for its
-- parameters: a generic plan made while the table was small joins a batch to
-- entries by a nested loop over a sequential scan, which makes a large
-- restore quadratic.
SELECT set_config('plan_cache_mode', 'force_custom_plan', true);
