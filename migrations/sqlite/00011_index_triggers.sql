-- PostgreSQL's 00011 rewrites its statement-level index triggers. SQLite's
-- row triggers of 00009 stay as they are: nothing changes here. The file
-- keeps both dialects at the same schema version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
