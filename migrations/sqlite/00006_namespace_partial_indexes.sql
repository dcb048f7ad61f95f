-- Declared indexes become one partial index per (namespace, declared field),
-- named entries_ns<id>_<hash> (sqlstore/indexes.go), instead of indexes on
-- the whole entries table shared by every namespace that declared a field
-- (entries_ix_<hash>).
--
-- SQLite's SQL cannot drop an index whose name it must first look up, nor
-- compute the new indexes' expressions (the dialect compiler writes them),
-- so this version is a marker: the engine, when it opens a store, drops the
-- shared entries_ix_* indexes and builds the per-namespace ones from
-- namespaces.indexes. Down removes the marker; an engine of version 5
-- ignores the per-namespace indexes (answers never depend on an index) and
-- builds its shared ones when a namespace is next created with them.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
