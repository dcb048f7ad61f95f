-- The entry's creation time and expiry in the change log (History, Get at
-- a past revision, Watch: storage.Event.CreatedAt and ExpiresAt).
--
-- changes.entry_created_at is the entry's created_at after a put or a
-- metadata change (the start of the key's current life; changes.created_at
-- stays the time of the change), changes.expires_at its expires_at then
-- (NULL: none). Both are NULL on the other kinds of change, and on the rows
-- logged before this version: old history reports a zero CreatedAt and
-- ExpiresAt (unknown, not "no expiry").
--
-- The engine's entry statements fill them (queries/postgres).

-- +goose Up
ALTER TABLE changes ADD COLUMN entry_created_at timestamptz,
                    ADD COLUMN expires_at timestamptz;

-- +goose Down
ALTER TABLE changes DROP COLUMN expires_at,
                    DROP COLUMN entry_created_at;
