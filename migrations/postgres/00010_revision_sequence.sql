-- Revisions from a sequence (sqlstore/revlock.go).
--
-- Up to version 9 a write read the row revision_counter FOR UPDATE and
-- moved it, so a repeatable-read or serializable transaction failed with a
-- serialization failure (40001) whenever any other writer had committed
-- after its snapshot, whatever the keys. A sequence is not subject to
-- snapshots: storage_take_revisions(n) takes the next n revisions from
-- storage_revision, under the revision lock (pg_advisory_xact_lock, key
-- 0x6d7963656c696102, held until the transaction ends), so revisions still
-- become visible in commit order. It takes none when n is 0 (a write that
-- changes nothing consumes no revision), and returns the revision before
-- the first one taken.
--
-- The store's current revision is the highest committed one: the last row
-- of the change log, or compacted_through when compaction emptied it
-- (every revision given is logged in the transaction that takes it). A
-- transaction that took revisions and then rolled back leaves them unused:
-- revisions are increasing, in commit order, but not always consecutive.
--
-- storage_next_revision() (the namespace triggers) takes one.

-- +goose Up
CREATE SEQUENCE storage_revision AS bigint MINVALUE 0 START 0;
SELECT setval('storage_revision', (SELECT current FROM revision_counter WHERE id = 1), true);

-- +goose StatementBegin
CREATE FUNCTION storage_take_revisions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    IF n <= 0 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(7888445509577826562);
    r := nextval('storage_revision');
    IF n > 1 THEN
        PERFORM setval('storage_revision', r + n - 1);
    END IF;
    RETURN r - 1;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION storage_next_revision() RETURNS bigint LANGUAGE sql AS $$
    SELECT storage_take_revisions(1) + 1
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION storage_current_revision() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT GREATEST((SELECT compacted_through FROM change_log_state WHERE id = 1),
                    (SELECT max(revision) FROM changes))
$$;
-- +goose StatementEnd

DROP TABLE revision_counter;

-- +goose Down
CREATE TABLE revision_counter (
    id      integer PRIMARY KEY CHECK (id = 1),
    current bigint  NOT NULL
);
INSERT INTO revision_counter (id, current) VALUES (1, (SELECT last_value FROM storage_revision));

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION storage_next_revision() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7888445509577826562);
    UPDATE revision_counter SET current = current + 1 WHERE id = 1 RETURNING current INTO r;
    RETURN r;
END
$$;
-- +goose StatementEnd

DROP FUNCTION storage_current_revision();
DROP FUNCTION storage_take_revisions(bigint);
DROP SEQUENCE storage_revision;
