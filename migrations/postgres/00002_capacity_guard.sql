-- A one-row table that every write of a store opened with a capacity
-- updates, after taking the capacity advisory lock. In repeatable-read and
-- serializable transactions the update makes two transactions that both add
-- entries conflict (SQLSTATE 40001), so neither can pass the capacity on a
-- stale snapshot; RunInTx retries the loser.

-- +goose Up
CREATE TABLE capacity_guard (
    id     integer PRIMARY KEY CHECK (id = 1),
    writes bigint  NOT NULL
);
INSERT INTO capacity_guard (id, writes) VALUES (1, 0);

-- +goose Down
DROP TABLE capacity_guard;
