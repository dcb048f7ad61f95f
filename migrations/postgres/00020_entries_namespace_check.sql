-- The insert trigger of entries checks the namespace instead of a foreign
-- key (PostgreSQL).
--
-- Up to version 19 entries.namespace_id referenced namespaces(id): every
-- row inserted into entries ran the foreign key's check, a query of its
-- own that locks the namespace row (FOR KEY SHARE), one per row. The
-- insert trigger (00017) then updates the same row (entry_count) once per
-- statement, which locks it more strongly. The check was the larger part
-- of a batch of new keys: server CPU per SetMany of 1000 new keys, one
-- connection, interleaved rounds at load ~20, 29.3 ms with the foreign key
-- against 20.6 without in a namespace without indexes, 36.1 against 31.7
-- with one; a Set of a new key ~12% less
-- (bench/results/2026-12-02-pg-write-path-3.md).
--
-- Now the insert trigger compares the namespaces its entry_count update
-- found with those of the inserted rows and raises foreign_key_violation
-- (23503, what the foreign key raised: the engine reads it as a write that
-- raced the deletion of its namespace) when one is missing. The update
-- waits for, then re-reads, a namespace row a concurrent transaction holds
-- (DeleteNamespace, Clear and CreateIndex lock it FOR UPDATE), as the
-- check did. A row trigger on namespaces raises the same error when a
-- deleted namespace still has entries (the foreign key's NO ACTION); the
-- engine deletes them first. The engine never changes an entry's
-- namespace_id. Down restores the foreign key (validating the rows) and
-- 00017's insert trigger.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    want bigint;
    got  bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL; -- the update path of an INSERT ... ON CONFLICT
    END IF;
    WITH d AS (SELECT namespace_id, count(*) AS c FROM new_rows GROUP BY namespace_id),
         u AS (UPDATE namespaces n SET entry_count = n.entry_count + d.c FROM d WHERE n.id = d.namespace_id RETURNING 1)
    SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM u) INTO want, got;
    IF got < want THEN
        RAISE foreign_key_violation USING MESSAGE = 'insert into entries: namespace not found',
            TABLE = 'entries', CONSTRAINT = 'entries_namespace_id_fkey';
    END IF;
    INSERT INTO index_entries
    SELECT n.namespace_id AS ix_ns, f.field_id AS ix_field,
           (CASE jsonb_typeof(v.v) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN v.v = 'true'::jsonb THEN 3 ELSE 2 END
                WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint AS ix_rank,
           CASE WHEN jsonb_typeof(v.v) <> 'number' OR v.v IS NULL THEN 0::float8
                WHEN abs(v.v::numeric) >= 1.797693134862315807937289714053e308 THEN sign(v.v::numeric)::float8 * 'Infinity'::float8
                WHEN abs(v.v::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                ELSE v.v::numeric::float8 END AS ix_num,
           CASE WHEN jsonb_typeof(v.v) = 'string' THEN left(v.v #>> '{}', 256) ELSE '' END COLLATE "C" AS ix_str,
           n.key COLLATE "C" AS ix_key, n.expires_at AS ix_exp
    FROM new_rows n JOIN index_fields f ON f.namespace_id = n.namespace_id
    CROSS JOIN LATERAL (SELECT CASE WHEN f.jpath IS NULL THEN (CASE f.col WHEN 1 THEN n.metadata ELSE n.value END) #> f.tpath
                                    ELSE jsonb_path_query_first(CASE f.col WHEN 1 THEN n.metadata ELSE n.value END, f.jpath, '{}', true) END AS v) v;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION namespaces_entries_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM entries WHERE namespace_id = OLD.id) THEN
        RAISE foreign_key_violation USING MESSAGE = 'delete from namespaces: the namespace still has entries',
            TABLE = 'namespaces', CONSTRAINT = 'entries_namespace_id_fkey';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER namespaces_entries_check AFTER DELETE ON namespaces
    FOR EACH ROW EXECUTE FUNCTION namespaces_entries_check();

ALTER TABLE entries DROP CONSTRAINT entries_namespace_id_fkey;

-- +goose Down
ALTER TABLE entries ADD CONSTRAINT entries_namespace_id_fkey FOREIGN KEY (namespace_id) REFERENCES namespaces (id);

DROP TRIGGER namespaces_entries_check ON namespaces;
DROP FUNCTION namespaces_entries_check();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL; -- the update path of an INSERT ... ON CONFLICT
    END IF;
    UPDATE namespaces n SET entry_count = n.entry_count + d.c
    FROM (SELECT namespace_id, count(*) AS c FROM new_rows GROUP BY namespace_id) d
    WHERE n.id = d.namespace_id;
    INSERT INTO index_entries
    SELECT n.namespace_id AS ix_ns, f.field_id AS ix_field,
           (CASE jsonb_typeof(v.v) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN v.v = 'true'::jsonb THEN 3 ELSE 2 END
                WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint AS ix_rank,
           CASE WHEN jsonb_typeof(v.v) <> 'number' OR v.v IS NULL THEN 0::float8
                WHEN abs(v.v::numeric) >= 1.797693134862315807937289714053e308 THEN sign(v.v::numeric)::float8 * 'Infinity'::float8
                WHEN abs(v.v::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                ELSE v.v::numeric::float8 END AS ix_num,
           CASE WHEN jsonb_typeof(v.v) = 'string' THEN left(v.v #>> '{}', 256) ELSE '' END COLLATE "C" AS ix_str,
           n.key COLLATE "C" AS ix_key, n.expires_at AS ix_exp
    FROM new_rows n JOIN index_fields f ON f.namespace_id = n.namespace_id
    CROSS JOIN LATERAL (SELECT CASE WHEN f.jpath IS NULL THEN (CASE f.col WHEN 1 THEN n.metadata ELSE n.value END) #> f.tpath
                                    ELSE jsonb_path_query_first(CASE f.col WHEN 1 THEN n.metadata ELSE n.value END, f.jpath, '{}', true) END AS v) v;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
