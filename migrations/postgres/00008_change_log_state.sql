-- The change log's retention and wake-ups (sqlstore/compact.go,
-- sqlstore/watch.go, sqlstore/feed.go).
--
-- change_log_state.compacted_through is the highest revision that is not
-- in the change log: the log is complete after it. Compaction deletes the
-- oldest changes and raises it in the same transaction. It starts at the
-- store's revision when the log was created, since the revisions given to
-- what existed before are in no log.
--
-- changes_key serves History and reads at a past revision: a key's
-- changes in revision order.
--
-- changes_notify sends a notification on the channel storage_changes from
-- every transaction that adds to the log (PostgreSQL delivers it at
-- commit, once per transaction): it only wakes watchers, which then read
-- the log.

-- +goose Up
CREATE TABLE change_log_state (
    id                integer PRIMARY KEY CHECK (id = 1),
    compacted_through bigint  NOT NULL
);

INSERT INTO change_log_state (id, compacted_through)
VALUES (1, COALESCE((SELECT min(revision) - 1 FROM changes), (SELECT current FROM revision_counter WHERE id = 1)));

CREATE INDEX changes_key ON changes (namespace, key, revision);

-- +goose StatementBegin
CREATE FUNCTION changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('storage_changes', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH STATEMENT EXECUTE FUNCTION changes_notify();

-- +goose Down
DROP TRIGGER changes_notify ON changes;
DROP FUNCTION changes_notify();
DROP INDEX changes_key;
DROP TABLE change_log_state;
