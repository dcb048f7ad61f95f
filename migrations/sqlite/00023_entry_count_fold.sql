-- An insert no longer writes its namespace's row (entry_count): the count
-- of the log's new entries is folded into it every 32 revisions.
--
-- Up to version 21 the trigger entries_count_insert moved the namespace's
-- entry_count at every insert into entries: the namespaces page was one
-- more page in the WAL at every commit that created a key (5.6 pages per
-- Set of a new key against the hand-written baseline's 3.6, issue 14), and
-- an UPDATE per row of a batch. A put that inserts the entry's row already
-- writes a change row (changes_put_insert), on the log's last page, which
-- the commit writes anyway; that row now says so (new_entry = 1), and
-- entry_count counts the entries the log's rows after
-- change_log_state.counted_through do not:
--
--     exact count of namespace n = n.entry_count + the rows of changes
--         after counted_through with new_entry = 1 and namespace = n.name
--
-- (namespace_counts, a view of it; the statements that read a count use
-- it). The log's rows are written in revision order, so "after
-- counted_through" is a range of its rowid b-tree of fewer than 32 rows
-- (or of the rows since the store's last fold, when revisions jump).
-- Deletes still move entry_count at once (entries_count_delete): a
-- deleted entry the fold has not counted yet takes entry_count below the
-- number of rows, and the pending row makes it up.
--
-- A fold moves counted_through forward (to the log's last revision), and
-- the trigger change_log_state_count adds the rows it passes to their
-- namespaces' entry_count. It runs:
--   - when a change row's revision is a multiple of 32
--     (changes_count_fold): one namespaces page and the state's page per
--     32 revisions instead of a namespaces page per inserting commit;
--   - before compaction deletes a pending row (changes_count_compact);
--   - when a namespace is deleted (namespaces_count_fold): its pending
--     rows are dropped with it, and a namespace created later under the
--     same name does not count them.
--
-- Existing counts are exact: counted_through starts at the store's
-- current revision and the rows logged so far have no new_entry.
--
-- Down folds what is pending and restores entries_count_insert.

-- +goose Up
ALTER TABLE changes ADD COLUMN new_entry INTEGER;
ALTER TABLE change_log_state ADD COLUMN counted_through INTEGER NOT NULL DEFAULT 0;
UPDATE change_log_state SET counted_through = (SELECT current FROM revision_counter WHERE id = 1) WHERE id = 1;

CREATE VIEW namespace_counts AS
SELECT n.id, n.name,
       n.entry_count + (SELECT count(*) FROM changes c
                        WHERE c.revision > (SELECT counted_through FROM change_log_state WHERE id = 1)
                          AND c.new_entry = 1 AND c.namespace = n.name) AS entry_count
FROM namespaces n;

DROP TRIGGER entries_count_insert;
DROP TRIGGER changes_put_insert;

-- +goose StatementBegin
CREATE TRIGGER changes_put_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at, new_entry)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version, NULL, NEW.updated_at, NEW.created_at, NEW.expires_at, 1);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER change_log_state_count AFTER UPDATE OF counted_through ON change_log_state
BEGIN
    UPDATE namespaces SET entry_count = entry_count + (
        SELECT count(*) FROM changes c
        WHERE c.revision > OLD.counted_through AND c.revision <= NEW.counted_through
          AND c.new_entry = 1 AND c.namespace = namespaces.name)
    WHERE name IN (SELECT c.namespace FROM changes c
                   WHERE c.revision > OLD.counted_through AND c.revision <= NEW.counted_through AND c.new_entry = 1);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_count_fold AFTER INSERT ON changes
WHEN NEW.revision % 32 = 0
BEGIN
    UPDATE change_log_state SET counted_through = NEW.revision WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_count_compact BEFORE DELETE ON changes
WHEN OLD.new_entry = 1 AND OLD.revision > (SELECT counted_through FROM change_log_state WHERE id = 1)
BEGIN
    UPDATE change_log_state SET counted_through = (SELECT max(revision) FROM changes) WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER namespaces_count_fold AFTER DELETE ON namespaces
BEGIN
    UPDATE change_log_state SET counted_through = max(counted_through, COALESCE((SELECT max(revision) FROM changes), 0))
    WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
UPDATE change_log_state SET counted_through = max(counted_through, COALESCE((SELECT max(revision) FROM changes), 0))
WHERE id = 1;
DROP TRIGGER namespaces_count_fold;
DROP TRIGGER changes_count_compact;
DROP TRIGGER changes_count_fold;
DROP TRIGGER change_log_state_count;
DROP VIEW namespace_counts;
DROP TRIGGER changes_put_insert;

-- +goose StatementBegin
CREATE TRIGGER changes_put_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version, NULL, NEW.updated_at, NEW.created_at, NEW.expires_at);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_count_insert AFTER INSERT ON entries
BEGIN
    UPDATE namespaces SET entry_count = entry_count + 1 WHERE id = NEW.namespace_id;
END;
-- +goose StatementEnd

ALTER TABLE changes DROP COLUMN new_entry;
ALTER TABLE change_log_state DROP COLUMN counted_through;
