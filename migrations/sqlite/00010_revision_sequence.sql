-- PostgreSQL's 00010 gives revisions from a sequence, so that repeatable-read
-- and serializable transactions do not conflict over a counter row. SQLite
-- has one writer at a time and keeps its revision_counter: nothing changes
-- here. The file keeps both dialects at the same schema version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
