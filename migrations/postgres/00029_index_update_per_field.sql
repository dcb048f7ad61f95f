-- Nothing on PostgreSQL: on SQLite, 00029 makes the index update trigger
-- rewrite only the rows of the declared fields an update changes, as
-- PostgreSQL's entries_index_update already does (00024). The number is
-- taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
