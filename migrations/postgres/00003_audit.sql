-- Audit fields: the actor (a principal's PKR) of the write that created an
-- entry and of its latest write; NULL when the write named none.

-- +goose Up
ALTER TABLE entries ADD COLUMN created_by text;
ALTER TABLE entries ADD COLUMN updated_by text;

-- +goose Down
ALTER TABLE entries DROP COLUMN updated_by;
ALTER TABLE entries DROP COLUMN created_by;
