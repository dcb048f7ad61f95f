-- A key's changes are found along their prev_revision chains instead of
-- by the per-key index changes_key (00008). That index took one insert at
-- a random position of a b-tree as large as the log on every put: a Set
-- wrote about 3.5 WAL pages instead of 1 (14.5 KB against 4.3 KB without
-- the log), and the change log cost more than half of the write path's
-- throughput (issue 17: target 0.8x). A put's row already links to the
-- change it replaces (prev_revision), as do metadata changes, deletes and
-- expiries; what the links cannot reach from the live entry is found by
-- two small structures written only when a key's life ends:
--
--   - changes_ends, a partial index of the delete and expire rows (they
--     are written by the engine, one per key removed);
--   - change_ends, the last revision of each life that ended otherwise or
--     at all: every DELETE from entries (a delete, an expiry swept, a
--     clear, a namespace delete, an import replacing a key) records the
--     revision the entry had, and a put over an entry whose expiry had
--     passed (a new life: its row has no prev_revision) records the old
--     life's last revision. Compaction removes the rows it leaves behind
--     (by revision, the table's first column).
--
-- The changes of key k in namespace n are then the rows reached from
-- entries' revision of k, from change_ends (n, k) and from changes_ends
-- (n, k), following prev_revision (sqlstore/history.go, keyChainSQL).
-- changes_scope indexes the namespace-wide rows (clears, namespace
-- events: key NULL, rare) that a read at a past revision also needs.
--
-- change_ends is filled from the log kept so far: a key's row (put or
-- metadata change) that no later row of the key links to ended its life
-- (or is the live entry's, which the chain also starts from).
--
-- Down restores changes_key and drops the rest.

-- +goose Up
CREATE TABLE change_ends (
    namespace TEXT    NOT NULL,
    key       TEXT    NOT NULL,
    revision  INTEGER NOT NULL,
    PRIMARY KEY (revision, namespace, key)
) WITHOUT ROWID;
CREATE INDEX change_ends_key ON change_ends (namespace, key);

CREATE INDEX changes_prev_tmp ON changes (prev_revision) WHERE prev_revision IS NOT NULL;

INSERT OR IGNORE INTO change_ends (namespace, key, revision)
SELECT c.namespace, c.key, c.revision FROM changes c
WHERE c.key IS NOT NULL AND c.kind IN ('put', 'metadata')
  AND NOT EXISTS (SELECT 1 FROM changes d
                  WHERE d.prev_revision = c.revision AND d.namespace = c.namespace AND d.key = c.key);

DROP INDEX changes_prev_tmp;
DROP INDEX changes_key;

CREATE INDEX changes_ends ON changes (namespace, key, revision) WHERE kind IN ('delete', 'expire');
CREATE INDEX changes_scope ON changes (namespace, revision) WHERE key IS NULL;

-- +goose StatementBegin
CREATE TRIGGER change_ends_delete AFTER DELETE ON entries
BEGIN
    INSERT OR IGNORE INTO change_ends (namespace, key, revision)
    SELECT name, OLD.key, OLD.revision FROM namespaces WHERE id = OLD.namespace_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER change_ends_overwrite AFTER UPDATE OF value ON entries
WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at <= NEW.updated_at
BEGIN
    INSERT OR IGNORE INTO change_ends (namespace, key, revision)
    SELECT name, OLD.key, OLD.revision FROM namespaces WHERE id = OLD.namespace_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER change_ends_overwrite;
DROP TRIGGER change_ends_delete;
DROP INDEX changes_scope;
DROP INDEX changes_ends;
DROP TABLE change_ends;
CREATE INDEX changes_key ON changes (namespace, key, revision);
