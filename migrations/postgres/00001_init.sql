-- The base schema: namespaces and their entries.
-- Keys and names compare byte-wise (COLLATE "C") so prefix scans ride the
-- primary key. entry_count is kept by statement-level triggers so that Status
-- never counts rows.

-- +goose Up
CREATE TABLE namespaces (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text COLLATE "C" NOT NULL UNIQUE,
    owner       text,
    metadata    jsonb NOT NULL,
    entry_count bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL
);

INSERT INTO namespaces (name, metadata, created_at) VALUES ('default', '{}', now());

CREATE TABLE entries (
    namespace_id bigint NOT NULL REFERENCES namespaces (id),
    key          text COLLATE "C" NOT NULL,
    value        jsonb NOT NULL,
    metadata     jsonb NOT NULL,
    version      bigint NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (namespace_id, key)
);

-- +goose StatementBegin
CREATE FUNCTION entries_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE namespaces n SET entry_count = n.entry_count + d.c
    FROM (SELECT namespace_id, count(*) AS c FROM new_rows GROUP BY namespace_id) d
    WHERE n.id = d.namespace_id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION entries_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE namespaces n SET entry_count = n.entry_count - d.c
    FROM (SELECT namespace_id, count(*) AS c FROM old_rows GROUP BY namespace_id) d
    WHERE n.id = d.namespace_id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER entries_count_insert AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION entries_count_insert();

CREATE TRIGGER entries_count_delete AFTER DELETE ON entries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION entries_count_delete();

-- +goose Down
DROP TRIGGER entries_count_delete ON entries;
DROP TRIGGER entries_count_insert ON entries;
DROP FUNCTION entries_count_delete();
DROP FUNCTION entries_count_insert();
DROP TABLE entries;
DROP TABLE namespaces;
