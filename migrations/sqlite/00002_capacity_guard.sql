-- The PostgreSQL schema's capacity guard, kept here so both dialects share
-- schema versions. SQLite needs no guard: one writer at a time, and every
-- write transaction sees the latest data.

-- +goose Up
CREATE TABLE capacity_guard (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    writes INTEGER NOT NULL
);
INSERT INTO capacity_guard (id, writes) VALUES (1, 0);

-- +goose Down
DROP TABLE capacity_guard;
