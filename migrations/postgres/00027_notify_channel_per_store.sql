-- The change feed's wake-ups are the store's own: a write in one store no
-- longer wakes the watchers of every other store of the database.
--
-- Every commit that adds to the change log sends a notification (changes_notify,
-- a deferred trigger, 00008 and 00024) that wakes the watchers, which then
-- read the log. Up to version 26 its channel was one name, storage_changes,
-- in every schema: a write in one store (tenant, test schema) woke every
-- watcher of every store of the database, and each read its own log for
-- nothing. The channel is now storage_changes_<oid of the store's
-- storage_revision sequence> (unique in the database while the store
-- exists, as the revision lock's key of 00026; notifications are per
-- database). storage_notify_channel() gives it; the engine reads it once
-- when it opens the store and LISTENs on it.
--
-- As with 00026, processes of an older build must not watch the store once
-- this is applied (they would listen on the old channel and wake only by
-- their poll); the engine refuses a schema at another version than its own.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION storage_notify_channel() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT 'storage_changes_' || 'storage_revision'::regclass::oid::text
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    done text; -- pg_notify's result (void), unused
BEGIN
    done := pg_notify(storage_notify_channel(), '')::text;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    done text; -- pg_notify's result (void), unused
BEGIN
    done := pg_notify('storage_changes', '')::text;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP FUNCTION storage_notify_channel();
