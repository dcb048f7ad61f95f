-- entries.prev_revision: the previous revision of an overwritten entry,
-- kept by the upsert of a single Set (PostgreSQL).
--
-- A Set over a live entry logs its change with the entry's previous
-- revision (changes.prev_revision, the previous revision of a watch
-- event). Up to version 21 the upsert (UpsertEntry) read it with a probe
-- of its own: a CTE joining namespaces and entries by the statement's
-- snapshot, about a tenth of an overwrite's server CPU. PostgreSQL 15's
-- RETURNING sees only the new row, so the upsert's update path now copies
-- the row's revision into prev_revision as it overwrites it (from the row
-- it has locked, NULL when that row had expired: the Set then creates the
-- entry anew) and returns it; a new entry has NULL.
--
-- Only UpsertEntry writes the column and only its RETURNING reads it: in
-- a row last written by any other statement (a batch, a conditional
-- write, a metadata change, a restore) it is stale and means nothing.
--
-- A nullable column without a default: adding it rewrites nothing. Down
-- drops it.

-- +goose Up
ALTER TABLE entries ADD COLUMN prev_revision bigint;

-- +goose Down
ALTER TABLE entries DROP COLUMN prev_revision;
