-- One statement trigger per event on entries instead of two (PostgreSQL).
--
-- Up to version 16 an INSERT into entries fired entries_count_insert
-- (00001: the namespace's entry_count) and then entries_index_insert
-- (00014: index_entries), and a DELETE fired entries_count_delete and
-- entries_index_delete (00011); an INSERT ... ON CONFLICT fires its insert
-- triggers even when every row took the update path, with an empty
-- transition table. Each firing of a PL/pgSQL statement trigger cost
-- about 35 us of server CPU whatever its body did (disabling both insert
-- triggers saved ~75 us of a Set's ~425; an early RETURN in their bodies
-- saved ~5: bench/results/2026-12-02-pg-write-path.md). The index
-- triggers now keep entry_count first, as the count triggers did (they
-- fired first, by name), and return at once when the transition table is
-- empty; the count triggers and their functions are dropped. Down restores
-- them and the index functions of 00014 and 00011.

-- +goose Up
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
        RETURN NULL;
    END IF;
    UPDATE namespaces n SET entry_count = n.entry_count - d.c
    FROM (SELECT namespace_id, count(*) AS c FROM old_rows GROUP BY namespace_id) d
    WHERE n.id = d.namespace_id;
    DELETE FROM index_entries i USING (SELECT o.namespace_id AS ix_ns, f.field_id AS ix_field,
           (CASE jsonb_typeof(v.v) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN v.v = 'true'::jsonb THEN 3 ELSE 2 END
                WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint AS ix_rank,
           CASE WHEN jsonb_typeof(v.v) <> 'number' OR v.v IS NULL THEN 0::float8
                WHEN abs(v.v::numeric) >= 1.797693134862315807937289714053e308 THEN sign(v.v::numeric)::float8 * 'Infinity'::float8
                WHEN abs(v.v::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                ELSE v.v::numeric::float8 END AS ix_num,
           CASE WHEN jsonb_typeof(v.v) = 'string' THEN left(v.v #>> '{}', 256) ELSE '' END COLLATE "C" AS ix_str,
           o.key COLLATE "C" AS ix_key
    FROM old_rows o JOIN index_fields f ON f.namespace_id = o.namespace_id
    CROSS JOIN LATERAL (SELECT CASE WHEN f.jpath IS NULL THEN (CASE f.col WHEN 1 THEN o.metadata ELSE o.value END) #> f.tpath
                                    ELSE jsonb_path_query_first(CASE f.col WHEN 1 THEN o.metadata ELSE o.value END, f.jpath, '{}', true) END AS v) v) x
    WHERE i.ix_ns = x.ix_ns AND i.ix_field = x.ix_field AND i.ix_rank = x.ix_rank AND i.ix_num = x.ix_num
      AND i.ix_str = x.ix_str AND i.ix_key = x.ix_key;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TRIGGER entries_count_insert ON entries;
DROP TRIGGER entries_count_delete ON entries;
DROP FUNCTION entries_count_insert();
DROP FUNCTION entries_count_delete();

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
CREATE OR REPLACE FUNCTION entries_index_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM index_entries i USING (SELECT o.namespace_id AS ix_ns, f.field_id AS ix_field,
           (CASE jsonb_typeof(v.v) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN v.v = 'true'::jsonb THEN 3 ELSE 2 END
                WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint AS ix_rank,
           CASE WHEN jsonb_typeof(v.v) <> 'number' OR v.v IS NULL THEN 0::float8
                WHEN abs(v.v::numeric) >= 1.797693134862315807937289714053e308 THEN sign(v.v::numeric)::float8 * 'Infinity'::float8
                WHEN abs(v.v::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                ELSE v.v::numeric::float8 END AS ix_num,
           CASE WHEN jsonb_typeof(v.v) = 'string' THEN left(v.v #>> '{}', 256) ELSE '' END COLLATE "C" AS ix_str,
           o.key COLLATE "C" AS ix_key
    FROM old_rows o JOIN index_fields f ON f.namespace_id = o.namespace_id
    CROSS JOIN LATERAL (SELECT CASE WHEN f.jpath IS NULL THEN (CASE f.col WHEN 1 THEN o.metadata ELSE o.value END) #> f.tpath
                                    ELSE jsonb_path_query_first(CASE f.col WHEN 1 THEN o.metadata ELSE o.value END, f.jpath, '{}', true) END AS v) v) x
    WHERE i.ix_ns = x.ix_ns AND i.ix_field = x.ix_field AND i.ix_rank = x.ix_rank AND i.ix_num = x.ix_num
      AND i.ix_str = x.ix_str AND i.ix_key = x.ix_key;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

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
