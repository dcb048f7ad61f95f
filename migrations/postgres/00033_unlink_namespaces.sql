-- Nothing on PostgreSQL (00034 does it there): on SQLite, 00033 adds the table unlinked and
-- drops entries' foreign key to namespaces, so that Clear and a recursive
-- DeleteNamespace unlink a namespace's entries in one short transaction
-- and a background purge deletes them in chunks. PostgreSQL's Clear and
-- DeleteNamespace still delete in their statement (its
-- namespaces_entries_check, migration 00020, would have to change too).
-- The number is taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
