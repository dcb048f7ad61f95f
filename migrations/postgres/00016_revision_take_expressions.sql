-- storage_take_revisions (00010) without its six SQL statements.
--
-- Every write takes its revisions through storage_take_revisions, in the
-- statement that writes. Its body ran each step as a statement through
-- PL/pgSQL's executor: the lock (PERFORM), two reads of sequences (SELECT
-- last_value FROM ...), up to three setval (PERFORM), about 50-100 us of
-- server CPU per call, a fifth to a quarter of a single Set's
-- (bench/results/2026-12-02-pg-write-path.md). The same steps as
-- assignments are simple expressions, which PL/pgSQL evaluates without
-- the executor; pg_sequence_last_value reads a sequence's last value as
-- SELECT last_value did (NULL before the first setval: 0, the start of
-- these sequences). 20,000 takes in one transaction: 964-2016 ms before,
-- 113-186 ms after. The algorithm, the lock and the results are those of
-- 00010. Down restores 00010's body.

-- +goose Up
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION storage_take_revisions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
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
