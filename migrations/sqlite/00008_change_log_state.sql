-- The change log's retention (sqlstore/compact.go, sqlstore/watch.go).
--
-- change_log_state.compacted_through is the highest revision that is not
-- in the change log: the log is complete after it. Compaction deletes the
-- oldest changes and raises it in the same transaction. It starts at the
-- store's revision when the log was created, since the revisions given to
-- what existed before are in no log.
--
-- changes_key serves History and reads at a past revision: a key's
-- changes in revision order.

-- +goose Up
CREATE TABLE change_log_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    compacted_through INTEGER NOT NULL
);

INSERT INTO change_log_state (id, compacted_through)
VALUES (1, COALESCE((SELECT min(revision) - 1 FROM changes), (SELECT current FROM revision_counter WHERE id = 1)));

CREATE INDEX changes_key ON changes (namespace, key, revision);

-- +goose Down
DROP INDEX changes_key;
DROP TABLE change_log_state;
