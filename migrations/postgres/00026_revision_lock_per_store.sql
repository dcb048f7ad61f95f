-- The revision lock is the store's own: stores in other schemas of the
-- same database no longer wait for each other's writes.
--
-- Every write takes a transaction-scoped advisory lock before it takes
-- revisions and holds it to its commit (sqlstore/revlock.go), so that
-- revisions become visible in commit order. Up to version 25 its key was
-- one constant (7888445509577826562), the same in every schema: two
-- stores in two schemas of one database (tenants, test schemas) wrote one
-- at a time, each waiting for the other's transactions to end. The key is
-- now that constant XOR the oid of the store's storage_revision sequence,
-- unique in the database while the store exists (advisory locks are per
-- database). storage_revision_lock_key() gives it; the engine reads it once
-- when it opens the store and sends it with every write's lock statement,
-- and storage_take_revisions, which takes the lock again in the write's
-- statement, calls it (an inlined SQL function: the planner folds it to a
-- constant in the plan PL/pgSQL caches). 'storage_revision'::regclass
-- resolves through the search_path, like the sequence reads of
-- storage_take_revisions (00016).
--
-- Processes of an older build must not write to the store once this is
-- applied (as with any migration: the engine refuses a schema at another
-- version than its own): they would take the old key in their lock
-- statement, and the new one only inside their write's statement.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION storage_revision_lock_key() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT 7888445509577826562 # 'storage_revision'::regclass::oid::bigint
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION storage_take_revisions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    me    bigint;
    taker bigint;
    r     bigint;
    done  text; -- the results of the lock and of setval, unused
BEGIN
    IF n <= 0 THEN
        RETURN NULL;
    END IF;
    done := pg_advisory_xact_lock(storage_revision_lock_key())::text;
    me := pg_current_xact_id()::text::bigint;
    taker := COALESCE(pg_sequence_last_value('storage_revision_xid'::regclass), 0);
    r := COALESCE(pg_sequence_last_value('storage_revision'::regclass), 0);
    IF taker <> me THEN
        -- This transaction's first revisions. The last taker has ended (it
        -- held the lock until then): its revisions are taken if it
        -- committed, and free again if it rolled back.
        IF taker <> 0 AND pg_xact_status(taker::text::xid8) = 'aborted' THEN
            r := COALESCE(pg_sequence_last_value('storage_revision_base'::regclass), 0);
        END IF;
        done := setval('storage_revision_base', r, true)::text;
        done := setval('storage_revision_xid', me, true)::text;
    END IF;
    done := setval('storage_revision', r + n, true)::text;
    RETURN r;
END
$$;
-- +goose StatementEnd


-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION storage_take_revisions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    me    bigint;
    taker bigint;
    r     bigint;
    done  text; -- the results of the lock and of setval, unused
BEGIN
    IF n <= 0 THEN
        RETURN NULL;
    END IF;
    done := pg_advisory_xact_lock(7888445509577826562)::text;
    me := pg_current_xact_id()::text::bigint;
    taker := COALESCE(pg_sequence_last_value('storage_revision_xid'::regclass), 0);
    r := COALESCE(pg_sequence_last_value('storage_revision'::regclass), 0);
    IF taker <> me THEN
        -- This transaction's first revisions. The last taker has ended (it
        -- held the lock until then): its revisions are taken if it
        -- committed, and free again if it rolled back.
        IF taker <> 0 AND pg_xact_status(taker::text::xid8) = 'aborted' THEN
            r := COALESCE(pg_sequence_last_value('storage_revision_base'::regclass), 0);
        END IF;
        done := setval('storage_revision_base', r, true)::text;
        done := setval('storage_revision_xid', me, true)::text;
    END IF;
    done := setval('storage_revision', r + n, true)::text;
    RETURN r;
END
$$;
-- +goose StatementEnd

DROP FUNCTION storage_revision_lock_key();
