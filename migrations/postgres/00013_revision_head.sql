-- SQLite's 00013 derives the current revision from the change log, as
-- PostgreSQL has since 00010 (storage_current_revision): nothing changes
-- here. The file keeps both dialects at the same schema version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
