-- Fixed-shape entry statements for PostgreSQL. Writes select the namespace id
-- by name: when the namespace is missing they affect no row and return none,
-- which the engine reads as "create the namespace, then retry".
--
-- Expiry: expires_at is NULL or a time. Every statement sees only live rows,
-- those with expires_at NULL or after @now, the engine's clock (never the
-- database's now()); a write to an expired row treats the key as missing
-- (version from 1, new created_at, metadata {} unless given, create-only
-- succeeds).
--
-- Revisions (migrations/postgres/00007_revisions.sql and
-- 00010_revision_sequence.sql): every write runs right after SELECT
-- pg_advisory_xact_lock (the engine pipelines the two,
-- sqlstore/revlock.go), so under read committed each statement's snapshot
-- is taken under the lock and sees every earlier revision. A write counts
-- the rows it will change, takes that many revisions from the sequence
-- (c: storage_take_revisions, none for none), gives them to its rows in
-- order and writes their changes rows (ch), all in the one statement. The
-- sequence is not subject to snapshots: a repeatable-read transaction
-- conflicts only over the rows it writes (and its namespace's entry_count
-- when it creates keys). A key's previous revision is NULL when the write
-- created it (create_revision = revision), whatever an older snapshot
-- shows of the key.

-- The point reads find the namespace's id by a scalar subquery (an
-- InitPlan run once, then one primary-key probe on entries) rather than a
-- join: the generic plan of the join scanned namespaces and then probed
-- entries, about 5 us more server CPU per call at 100k entries
-- (bench/results/2026-12-02-pg-write-path.md).

-- name: GetEntry :one
SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at, e.expires_at, e.revision, e.create_revision
FROM entries e
WHERE e.namespace_id = (SELECT n.id FROM namespaces n WHERE n.name = @namespace)
  AND e.key = @key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz);

-- name: HasEntry :one
SELECT EXISTS (
    SELECT 1 FROM entries e
    WHERE e.namespace_id = (SELECT n.id FROM namespaces n WHERE n.name = @namespace)
      AND e.key = @key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz)
) AS found;

-- name: GetEntryVersion :one
SELECT e.version, e.revision
FROM entries e
WHERE e.namespace_id = (SELECT n.id FROM namespaces n WHERE n.name = @namespace)
  AND e.key = @key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz);

-- name: UpsertEntry :one
-- A nil metadata keeps the stored metadata ('{}' for a new or expired
-- entry); keep_ttl keeps the stored expiry (none for a new or expired
-- entry), else the entry gets expires_at. The update path keeps the
-- revision it overwrites in prev_revision (NULL for an expired row), which
-- the change log takes as the previous revision (migration 00022). The
-- namespace is looked up once: c has its row, or none when it does not
-- exist (then no revision is taken and nothing is written).
WITH c AS (
    SELECT n.id, storage_take_revisions(1) AS current FROM namespaces n WHERE n.name = @namespace
), up AS (
    INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
    SELECT c.id, @key, @value, COALESCE(sqlc.narg(metadata)::jsonb, '{}'::jsonb), 1, @now, @now,
           sqlc.narg(actor)::text, sqlc.narg(actor)::text, sqlc.narg(expires_at)::timestamptz, c.current + 1, c.current + 1
    FROM c
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
                          ELSE EXCLUDED.expires_at END,
        revision   = EXCLUDED.revision,
        create_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                               THEN entries.create_revision ELSE EXCLUDED.create_revision END,
        prev_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                             THEN entries.revision END
    RETURNING key, value, metadata, version, revision, create_revision, prev_revision, created_at, expires_at
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    SELECT up.revision, 'put', @namespace, up.key, up.value, up.metadata, up.version,
           up.prev_revision, @now, up.created_at, up.expires_at
    FROM up
)
SELECT up.version, up.revision, up.create_revision FROM up;

-- name: InsertEntry :one
-- Create-only: an expired row under the key is replaced as if missing.
-- Only a key with no live row takes a revision.
WITH i AS (
    SELECT n.id AS namespace_id FROM namespaces n
    WHERE n.name = @namespace
      AND NOT EXISTS (SELECT 1 FROM entries o WHERE o.namespace_id = n.id AND o.key = @key
                        AND (o.expires_at IS NULL OR o.expires_at > @now::timestamptz))
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM i
), up AS (
    INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
    SELECT i.namespace_id, @key, @value, COALESCE(sqlc.narg(metadata)::jsonb, '{}'::jsonb), 1, @now, @now,
           sqlc.narg(actor)::text, sqlc.narg(actor)::text, sqlc.narg(expires_at)::timestamptz, c.current + 1, c.current + 1
    FROM i, c
    ON CONFLICT (namespace_id, key) DO UPDATE SET
        value      = EXCLUDED.value,
        metadata   = EXCLUDED.metadata,
        version    = 1,
        created_at = EXCLUDED.created_at,
        created_by = EXCLUDED.created_by,
        updated_at = EXCLUDED.updated_at,
        updated_by = EXCLUDED.updated_by,
        expires_at = EXCLUDED.expires_at,
        revision   = EXCLUDED.revision,
        create_revision = EXCLUDED.create_revision
    WHERE entries.expires_at <= EXCLUDED.updated_at
    RETURNING key, value, metadata, version, revision, create_revision, created_at, expires_at
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    SELECT up.revision, 'put', @namespace, up.key, up.value, up.metadata, up.version, NULL, @now, up.created_at, up.expires_at
    FROM up
)
SELECT up.version, up.revision, up.create_revision FROM up;

-- name: UpdateEntryIf :one
-- Writes value only over a live entry, and only at version
-- expected_version and revision expected_revision where they are not 0
-- (IfVersion, IfRevision; both 0: MustExist).
WITH old AS (
    SELECT o.namespace_id, o.key, o.revision FROM entries o JOIN namespaces n ON n.id = o.namespace_id
    WHERE n.name = @namespace AND o.key = @key AND (o.expires_at IS NULL OR o.expires_at > @now::timestamptz)
      AND (@expected_version::bigint = 0 OR o.version = @expected_version::bigint)
      AND (@expected_revision::bigint = 0 OR o.revision = @expected_revision::bigint)
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM old
), up AS (
    UPDATE entries e SET
        value      = @value,
        metadata   = COALESCE(sqlc.narg(metadata)::jsonb, e.metadata),
        version    = e.version + 1,
        updated_at = @now,
        updated_by = sqlc.narg(actor)::text,
        expires_at = CASE WHEN @keep_ttl::boolean THEN e.expires_at ELSE sqlc.narg(expires_at)::timestamptz END,
        revision   = c.current + 1
    FROM old, c
    WHERE e.namespace_id = old.namespace_id AND e.key = old.key AND e.revision = old.revision
    RETURNING e.key, e.value, e.metadata, e.version, e.revision, e.create_revision, e.created_at, e.expires_at,
              old.revision AS prev_revision
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    SELECT up.revision, 'put', @namespace, up.key, up.value, up.metadata, up.version, up.prev_revision, @now, up.created_at, up.expires_at
    FROM up
)
SELECT up.version, up.revision, up.create_revision FROM up;

-- name: DeleteEntryIf :one
-- Deletes a live entry, only at version expected_version and revision
-- expected_revision where they are not 0.
WITH d AS (
    DELETE FROM entries e
    USING namespaces n
    WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = @key
      AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz)
      AND (@expected_version::bigint = 0 OR e.version = @expected_version::bigint)
      AND (@expected_revision::bigint = 0 OR e.revision = @expected_revision::bigint)
    RETURNING e.key, e.version, e.revision
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM d
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, version, prev_revision, created_at)
    SELECT c.current + 1, 'delete', @namespace, d.key, d.version, d.revision, @now
    FROM d, c
)
SELECT (c.current + 1)::bigint AS revision, d.version FROM d, c;

-- name: GetMetadata :one
SELECT e.metadata, e.version, e.created_at, e.updated_at, e.created_by, e.updated_by, e.expires_at, e.revision, e.create_revision
FROM entries e
WHERE e.namespace_id = (SELECT n.id FROM namespaces n WHERE n.name = @namespace)
  AND e.key = @key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz);

-- name: ReplaceMetadata :one
WITH old AS (
    SELECT o.namespace_id, o.key, o.revision FROM entries o JOIN namespaces n ON n.id = o.namespace_id
    WHERE n.name = @namespace AND o.key = @key AND (o.expires_at IS NULL OR o.expires_at > @now::timestamptz)
      AND (@expected_version::bigint = 0 OR o.version = @expected_version::bigint)
      AND (@expected_revision::bigint = 0 OR o.revision = @expected_revision::bigint)
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM old
), up AS (
    UPDATE entries e SET
        metadata   = @metadata,
        version    = e.version + 1,
        updated_at = @now,
        updated_by = sqlc.narg(actor)::text,
        revision   = c.current + 1
    FROM old, c
    WHERE e.namespace_id = old.namespace_id AND e.key = old.key AND e.revision = old.revision
    RETURNING e.key, e.metadata, e.version, e.revision, e.create_revision, e.created_at, e.expires_at,
              old.revision AS prev_revision
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    SELECT up.revision, 'metadata', @namespace, up.key, up.metadata, up.version, up.prev_revision, @now, up.created_at, up.expires_at
    FROM up
)
SELECT up.version, up.revision, up.create_revision FROM up;

-- name: ClearNamespace :one
-- Unlinks the entries of a namespace when it has any, expired or not
-- (migration 00034, sqlstore/unlink.go), and then logs one clear change:
-- its row moves to a fresh id with its declared fields (not the record of
-- an index being built: that build fails), entry_count 0, and the old id
-- goes into unlinked, for the purger. The foreign key of index_fields is
-- checked at the statement's end, when both have moved. Returns 1 when
-- it unlinked the namespace's entries, 0 when it had none.
WITH o AS (
    SELECT n.id FROM namespaces n
    WHERE n.name = @namespace AND EXISTS (SELECT 1 FROM entries e WHERE e.namespace_id = n.id)
), m AS (
    UPDATE namespaces n SET id = DEFAULT, entry_count = 0, index_building = false
    FROM o WHERE n.id = o.id
    RETURNING n.id AS new_id, o.id AS old_id
), f AS (
    UPDATE index_fields f SET namespace_id = m.new_id
    FROM m WHERE f.namespace_id = m.old_id AND NOT starts_with(f.field, '$building:')
), b AS (
    DELETE FROM index_fields f
    USING m WHERE f.namespace_id = m.old_id AND starts_with(f.field, '$building:')
), u AS (
    INSERT INTO unlinked (id, name, unlinked_at)
    SELECT m.old_id, @namespace, @now FROM m
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM m
), ch AS (
    INSERT INTO changes (revision, kind, namespace, created_at)
    SELECT c.current + 1, 'clear', @namespace, @now FROM c, m
)
SELECT count(*) FROM m;

-- name: ClearAll :one
-- Unlinks the entries of every namespace that has any, expired or not, as
-- ClearNamespace does one's (migration 00034, sqlstore/unlink.go): each
-- such namespace's row moves to a fresh id with its declared fields,
-- entry_count 0, and its old id goes into unlinked, for the purger; then
-- one clear change is logged for each, in name order. Returns how many
-- namespaces it unlinked.
WITH o AS (
    SELECT n.id FROM namespaces n
    WHERE EXISTS (SELECT 1 FROM entries e WHERE e.namespace_id = n.id)
), m AS (
    UPDATE namespaces n SET id = DEFAULT, entry_count = 0, index_building = false
    FROM o WHERE n.id = o.id
    RETURNING n.id AS new_id, o.id AS old_id, n.name
), f AS (
    UPDATE index_fields f SET namespace_id = m.new_id
    FROM m WHERE f.namespace_id = m.old_id AND NOT starts_with(f.field, '$building:')
), b AS (
    DELETE FROM index_fields f
    USING m WHERE f.namespace_id = m.old_id AND starts_with(f.field, '$building:')
), u AS (
    INSERT INTO unlinked (id, name, unlinked_at)
    SELECT m.old_id, m.name, @now FROM m
), cleared AS (
    SELECT m.name, row_number() OVER (ORDER BY m.name) AS ord FROM m
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM m
), ch AS (
    INSERT INTO changes (revision, kind, namespace, created_at)
    SELECT c.current + cleared.ord, 'clear', cleared.name, @now FROM cleared, c
)
SELECT count(*) FROM m;

-- Batches: one statement whatever the number of keys.

-- GetEntries looks each key up in the primary key (the LATERAL subquery,
-- kept apart by OFFSET 0, is a parameterized index scan per key). With
-- e.key = ANY(@keys), PostgreSQL's plan depends on its statistics: on a
-- table loaded since its last ANALYZE it scanned the whole namespace and
-- filtered (40 ms instead of 0.4 for 100 keys of 10,000). A key given
-- twice is read twice; the callers collect rows by key.
-- name: GetEntries :many
SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at, e.expires_at, e.revision, e.create_revision
FROM namespaces n
CROSS JOIN unnest(@keys::text[]) AS k(key)
CROSS JOIN LATERAL (
    SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at, e.expires_at, e.revision, e.create_revision
    FROM entries e
    WHERE e.namespace_id = n.id AND e.key = k.key AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz)
    OFFSET 0
) e
WHERE n.name = @namespace;

-- Expiries travel as unix microseconds, 0 for none; keeps are the
-- items' keep_ttl flags (the stored expiry is read in the SELECT). The
-- keys of a batch are distinct; the items get consecutive revisions in
-- their order.

-- name: UpsertEntries :many
-- The update path keeps the revision it overwrites in prev_revision (NULL
-- for an expired row), which the change log takes as the previous
-- revision, as UpsertEntry's (migration 00022): a per-item probe of
-- entries for it cost ~10% of the statement's server time
-- (bench/results/2026-12-05-pgwrite.md). An inserted row has NULL.
WITH i AS (
    SELECT n.id AS namespace_id, j.key, j.value, j.metadata, j.expires, j.keep, j.ord,
           CASE WHEN j.keep THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = j.key
              AND o.expires_at > @now::timestamptz) END AS kept_expiry
    FROM namespaces n,
         ROWS FROM (unnest(@keys::text[]), unnest(@vals::jsonb[]), unnest(@metadatas::jsonb[]), unnest(@expires::bigint[]), unnest(@keeps::boolean[]))
         WITH ORDINALITY AS j (key, value, metadata, expires, keep, ord)
    WHERE n.name = @namespace
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM i
), up AS (
    INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
    SELECT i.namespace_id, i.key, i.value, i.metadata, 1, @now, @now,
           sqlc.narg(actor)::text, sqlc.narg(actor)::text,
           CASE WHEN i.keep THEN i.kept_expiry
                ELSE 'epoch'::timestamptz + NULLIF(i.expires, 0) / 1000000 * interval '1 second' + NULLIF(i.expires, 0) % 1000000 * interval '1 microsecond' END,
           c.current + i.ord, c.current + i.ord
    FROM i, c
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
        expires_at = EXCLUDED.expires_at,
        revision   = EXCLUDED.revision,
        create_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                               THEN entries.create_revision ELSE EXCLUDED.create_revision END,
        prev_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                             THEN entries.revision END
    RETURNING key, value, metadata, version, revision, create_revision, prev_revision, created_at, expires_at
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    SELECT up.revision, 'put', @namespace, up.key, up.value, up.metadata, up.version,
           up.prev_revision, @now, up.created_at, up.expires_at
    FROM up
)
SELECT up.key, up.version, up.revision, up.create_revision FROM up;

-- name: UpsertEntriesKeepMetadata :many
-- An expired row's metadata is not kept: it becomes '{}'.
WITH i AS (
    SELECT n.id AS namespace_id, j.key, j.value, j.expires, j.keep, j.ord,
           CASE WHEN j.keep THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = j.key
              AND o.expires_at > @now::timestamptz) END AS kept_expiry
    FROM namespaces n,
         ROWS FROM (unnest(@keys::text[]), unnest(@vals::jsonb[]), unnest(@expires::bigint[]), unnest(@keeps::boolean[]))
         WITH ORDINALITY AS j (key, value, expires, keep, ord)
    WHERE n.name = @namespace
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM i
), up AS (
    INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
    SELECT i.namespace_id, i.key, i.value, '{}'::jsonb, 1, @now, @now,
           sqlc.narg(actor)::text, sqlc.narg(actor)::text,
           CASE WHEN i.keep THEN i.kept_expiry
                ELSE 'epoch'::timestamptz + NULLIF(i.expires, 0) / 1000000 * interval '1 second' + NULLIF(i.expires, 0) % 1000000 * interval '1 microsecond' END,
           c.current + i.ord, c.current + i.ord
    FROM i, c
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
        expires_at = EXCLUDED.expires_at,
        revision   = EXCLUDED.revision,
        create_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                               THEN entries.create_revision ELSE EXCLUDED.create_revision END,
        prev_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                             THEN entries.revision END
    RETURNING key, value, metadata, version, revision, create_revision, prev_revision, created_at, expires_at
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    SELECT up.revision, 'put', @namespace, up.key, up.value, up.metadata, up.version,
           up.prev_revision, @now, up.created_at, up.expires_at
    FROM up
)
SELECT up.key, up.version, up.revision, up.create_revision FROM up;

-- name: InsertEntries :many
-- Create-only: an expired row under a key is replaced as if missing. The
-- keys that exist (live) are left out before revisions are given, so the
-- items written get consecutive revisions.
WITH i AS (
    SELECT n.id AS namespace_id, j.key, j.value, j.metadata, j.expires,
           row_number() OVER (ORDER BY j.ord) AS ord
    FROM namespaces n,
         ROWS FROM (unnest(@keys::text[]), unnest(@vals::jsonb[]), unnest(@metadatas::jsonb[]), unnest(@expires::bigint[]), unnest(@keeps::boolean[]))
         WITH ORDINALITY AS j (key, value, metadata, expires, keep, ord)
    WHERE n.name = @namespace
      AND NOT EXISTS (SELECT 1 FROM entries o WHERE o.namespace_id = n.id AND o.key = j.key
                        AND (o.expires_at IS NULL OR o.expires_at > @now::timestamptz))
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM i
), up AS (
    INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
    SELECT i.namespace_id, i.key, i.value, i.metadata, 1, @now, @now,
           sqlc.narg(actor)::text, sqlc.narg(actor)::text,
           'epoch'::timestamptz + NULLIF(i.expires, 0) / 1000000 * interval '1 second' + NULLIF(i.expires, 0) % 1000000 * interval '1 microsecond', c.current + i.ord, c.current + i.ord
    FROM i, c
    ON CONFLICT (namespace_id, key) DO UPDATE SET
        value      = EXCLUDED.value,
        metadata   = EXCLUDED.metadata,
        version    = 1,
        created_at = EXCLUDED.created_at,
        created_by = EXCLUDED.created_by,
        updated_at = EXCLUDED.updated_at,
        updated_by = EXCLUDED.updated_by,
        expires_at = EXCLUDED.expires_at,
        revision   = EXCLUDED.revision,
        create_revision = EXCLUDED.create_revision
    WHERE entries.expires_at <= EXCLUDED.updated_at
    RETURNING key, value, metadata, version, revision, create_revision, created_at, expires_at
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    SELECT up.revision, 'put', @namespace, up.key, up.value, up.metadata, up.version, NULL, @now, up.created_at, up.expires_at
    FROM up
)
SELECT up.key, up.version, up.revision, up.create_revision FROM up;

-- name: DeleteEntries :many
-- The deleted keys get consecutive revisions in key order.
WITH d AS (
    DELETE FROM entries e
    USING namespaces n
    WHERE n.id = e.namespace_id AND n.name = @namespace AND e.key = ANY(@keys::text[])
      AND (e.expires_at IS NULL OR e.expires_at > @now::timestamptz)
    RETURNING e.key, e.version, e.revision
), c AS (
    SELECT storage_take_revisions(count(*)) AS current FROM d
), r AS (
    SELECT d.key, d.version, d.revision AS prev_revision, (c.current + row_number() OVER (ORDER BY d.key))::bigint AS revision
    FROM d, c
), ch AS (
    INSERT INTO changes (revision, kind, namespace, key, version, prev_revision, created_at)
    SELECT r.revision, 'delete', @namespace, r.key, r.version, r.prev_revision, @now FROM r
)
SELECT r.key, r.version, r.revision FROM r;

-- name: LogChanges :exec
-- Logs changes the statements above do not (the sweeper's expiries): they
-- get the next revisions, in the order given. Keys "" and versions and
-- previous revisions 0 are NULL.
WITH c AS (
    SELECT storage_take_revisions(cardinality(@kinds::text[])) AS current
), i AS (
    SELECT c.current + j.ord AS revision, j.kind, j.ns, NULLIF(j.key, '') AS key,
           NULLIF(j.version, 0) AS version, NULLIF(j.prev, 0) AS prev_revision
    FROM c, ROWS FROM (unnest(@kinds::text[]), unnest(@namespaces::text[]), unnest(@keys::text[]),
                       unnest(@versions::bigint[]), unnest(@prevs::bigint[]))
            WITH ORDINALITY AS j (kind, ns, key, version, prev, ord)
)
INSERT INTO changes (revision, kind, namespace, key, version, prev_revision, created_at)
SELECT i.revision, i.kind, i.ns, i.key, i.version, i.prev_revision, @now FROM i;

-- name: Revisions :one
-- oldest: the first revision after compacted_through, the end of what the
-- log does not hold (migration 00008, sqlstore/compact.go).
-- current: the highest committed revision (migration 00010).
SELECT storage_current_revision()::bigint AS current, (s.compacted_through + 1)::bigint AS oldest
FROM change_log_state s WHERE s.id = 1;
