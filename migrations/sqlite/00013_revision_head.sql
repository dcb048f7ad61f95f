-- The store's current revision without a counter row (the write path's
-- cost of the change log, bench/results/2026-12-02-changelog.md).
--
-- Up to version 12 the trigger changes_counter moved revision_counter's
-- row at every insert into changes: one more page in the WAL at every
-- commit, and a nested trigger per row of a batch. Every revision given is
-- logged in the transaction that gives it (00007), so the current revision
-- is the last row of the change log, or compacted_through when compaction
-- emptied it (00008), as on PostgreSQL since 00010. revision_counter
-- becomes a view of that, with the same columns, so the statements that
-- read it (queries/sqlite, the namespace triggers of 00007) are unchanged;
-- max(revision) is one step down the changes table's rowid b-tree.
--
-- Down restores the table, at the view's value, and its trigger.

-- +goose Up
DROP TRIGGER changes_counter;
DROP TABLE revision_counter;

CREATE VIEW revision_counter AS
SELECT 1 AS id, CAST(max(COALESCE((SELECT max(revision) FROM changes), 0),
                         (SELECT compacted_through FROM change_log_state WHERE id = 1)) AS INTEGER) AS "current";

-- +goose Down
DROP VIEW revision_counter;
CREATE TABLE revision_counter (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    current INTEGER NOT NULL
);
INSERT INTO revision_counter (id, current)
VALUES (1, max(COALESCE((SELECT max(revision) FROM changes), 0),
               (SELECT compacted_through FROM change_log_state WHERE id = 1)));

-- +goose StatementBegin
CREATE TRIGGER changes_counter AFTER INSERT ON changes
BEGIN
    UPDATE revision_counter SET current = NEW.revision WHERE id = 1 AND current < NEW.revision;
END;
-- +goose StatementEnd
