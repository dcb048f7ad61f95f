-- Revisions from sequences (sqlstore/revlock.go).
--
-- Up to version 9 a write read the row revision_counter FOR UPDATE and
-- moved it, so a repeatable-read or serializable transaction failed with a
-- serialization failure (40001) whenever any other writer had committed
-- after its snapshot, whatever the keys. Sequences are not subject to
-- snapshots: storage_take_revisions(n) takes the next n revisions under
-- the revision lock (pg_advisory_xact_lock, key 0x6d7963656c696102, held
-- until the transaction ends), so revisions still become visible in commit
-- order. It takes none when n is 0 (a write that changes nothing), and
-- returns the revision before the first one taken.
--
-- Sequences are not transactional either, so the revisions of a
-- transaction that rolls back must be given again: storage_revision is
-- the last revision taken, storage_revision_xid the transaction that took
-- it, storage_revision_base the revision before that transaction's first.
-- A transaction's first take finds the last taker ended (it held the lock
-- until then) and asks pg_xact_status whether it committed: if it rolled
-- back, its revisions are taken again from storage_revision_base. So
-- committed revisions are consecutive, as on SQLite, but for one case: a
-- savepoint rolled back inside a transaction that commits (an Atomic
-- batch that failed inside a transaction, sqlstore) leaves the revisions
-- it took unused. setval, never nextval: nextval logs 32 values ahead,
-- which a crash would skip.
--
-- The store's current revision is the highest committed one: the last row
-- of the change log, or compacted_through when compaction emptied it
-- (every revision given is logged in the transaction that takes it).
--
-- storage_next_revision() (the namespace triggers) takes one.

-- +goose Up
CREATE SEQUENCE storage_revision AS bigint MINVALUE 0 START 0;
CREATE SEQUENCE storage_revision_base AS bigint MINVALUE 0 START 0;
CREATE SEQUENCE storage_revision_xid AS bigint MINVALUE 0 START 0;
SELECT setval('storage_revision', (SELECT current FROM revision_counter WHERE id = 1), true),
       setval('storage_revision_base', (SELECT current FROM revision_counter WHERE id = 1), true),
       setval('storage_revision_xid', 0, true);

-- +goose StatementBegin
CREATE FUNCTION storage_take_revisions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    me    bigint;
    taker bigint;
    r     bigint;
BEGIN
    IF n <= 0 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(7888445509577826562);
    me := pg_current_xact_id()::text::bigint;
    SELECT last_value INTO taker FROM storage_revision_xid;
    SELECT last_value INTO r FROM storage_revision;
    IF taker <> me THEN
        -- This transaction's first revisions. The last taker has ended (it
        -- held the lock until then): its revisions are taken if it
        -- committed, and free again if it rolled back.
        IF taker <> 0 AND pg_xact_status(taker::text::xid8) = 'aborted' THEN
            SELECT last_value INTO r FROM storage_revision_base;
        END IF;
        PERFORM setval('storage_revision_base', r, true);
        PERFORM setval('storage_revision_xid', me, true);
    END IF;
    PERFORM setval('storage_revision', r + n, true);
    RETURN r;
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
INSERT INTO revision_counter (id, current)
SELECT 1, CASE WHEN x.last_value <> 0 AND pg_xact_status(x.last_value::text::xid8) = 'aborted'
               THEN b.last_value ELSE r.last_value END
FROM storage_revision r, storage_revision_base b, storage_revision_xid x;

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
DROP SEQUENCE storage_revision_xid;
DROP SEQUENCE storage_revision_base;
DROP SEQUENCE storage_revision;
