-- Nothing on PostgreSQL: on SQLite, 00030 makes the declared-index
-- triggers compute each declared field's JSON type and value once per row
-- (PostgreSQL's index_rows function computes each once already). The
-- number is taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
