-- The index triggers of PostgreSQL (migration 00009) without the call of
-- index_rows per (row, declared field): a SQL function called from a
-- LATERAL join is not inlined, and its executor was most of the trigger's
-- time (a SetMany of 1000 entries with two declared fields ran 3.6 times
-- the time of the same upsert on a table with two expression indexes). The
-- index rows are computed by the same expressions written in the
-- statement. An update writes only the index rows that change: the old
-- rows that the new ones do not repeat are deleted, the new rows that the
-- old ones do not hold are inserted, in one statement (an update that
-- leaves the declared fields as they were writes none); the delete joins
-- by the whole primary key, from the few rows of the transition table.
-- A delete deletes with the same join instead of one DELETE per row.
-- index_rows stays (CreateIndex and Open fill index_entries with it).
-- Down restores the functions of 00009. (SQLite's row triggers of 00009
-- stay as they are.)

-- +goose Up
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
           n.key COLLATE "C" AS ix_key
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

-- The namespaces of the rows are locked (FOR KEY SHARE) first, as in 00009:
-- CreateIndex holds the namespace's row while it records a field and fills
-- its rows.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM namespaces WHERE id IN (SELECT DISTINCT namespace_id FROM new_rows) FOR KEY SHARE;
    WITH o AS MATERIALIZED (SELECT o.namespace_id AS ix_ns, f.field_id AS ix_field,
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
                                    ELSE jsonb_path_query_first(CASE f.col WHEN 1 THEN o.metadata ELSE o.value END, f.jpath, '{}', true) END AS v) v),
         n AS MATERIALIZED (SELECT n.namespace_id AS ix_ns, f.field_id AS ix_field,
           (CASE jsonb_typeof(v.v) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN v.v = 'true'::jsonb THEN 3 ELSE 2 END
                WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint AS ix_rank,
           CASE WHEN jsonb_typeof(v.v) <> 'number' OR v.v IS NULL THEN 0::float8
                WHEN abs(v.v::numeric) >= 1.797693134862315807937289714053e308 THEN sign(v.v::numeric)::float8 * 'Infinity'::float8
                WHEN abs(v.v::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                ELSE v.v::numeric::float8 END AS ix_num,
           CASE WHEN jsonb_typeof(v.v) = 'string' THEN left(v.v #>> '{}', 256) ELSE '' END COLLATE "C" AS ix_str,
           n.key COLLATE "C" AS ix_key
    FROM new_rows n JOIN index_fields f ON f.namespace_id = n.namespace_id
    CROSS JOIN LATERAL (SELECT CASE WHEN f.jpath IS NULL THEN (CASE f.col WHEN 1 THEN n.metadata ELSE n.value END) #> f.tpath
                                    ELSE jsonb_path_query_first(CASE f.col WHEN 1 THEN n.metadata ELSE n.value END, f.jpath, '{}', true) END AS v) v),
         gone AS (DELETE FROM index_entries i USING (SELECT * FROM o EXCEPT ALL SELECT * FROM n) x
                  WHERE i.ix_ns = x.ix_ns AND i.ix_field = x.ix_field AND i.ix_rank = x.ix_rank AND i.ix_num = x.ix_num
                    AND i.ix_str = x.ix_str AND i.ix_key = x.ix_key)
    INSERT INTO index_entries SELECT * FROM n EXCEPT ALL SELECT * FROM o;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO index_entries
    SELECT r.* FROM new_rows n JOIN index_fields f ON f.namespace_id = n.namespace_id
    CROSS JOIN LATERAL index_rows(n.namespace_id, n.key, n.value, n.metadata, f) r;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r index_entries;
BEGIN
    FOR r IN SELECT x.* FROM old_rows o JOIN index_fields f ON f.namespace_id = o.namespace_id
             CROSS JOIN LATERAL index_rows(o.namespace_id, o.key, o.value, o.metadata, f) x
    LOOP
        DELETE FROM index_entries WHERE ix_ns = r.ix_ns AND ix_field = r.ix_field AND ix_rank = r.ix_rank
            AND ix_num = r.ix_num AND ix_str = r.ix_str AND ix_key = r.ix_key;
    END LOOP;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r index_entries;
BEGIN
    PERFORM 1 FROM namespaces WHERE id IN (SELECT DISTINCT namespace_id FROM new_rows) FOR KEY SHARE;
    FOR r IN SELECT x.* FROM old_rows o JOIN index_fields f ON f.namespace_id = o.namespace_id
             CROSS JOIN LATERAL index_rows(o.namespace_id, o.key, o.value, o.metadata, f) x
    LOOP
        DELETE FROM index_entries WHERE ix_ns = r.ix_ns AND ix_field = r.ix_field AND ix_rank = r.ix_rank
            AND ix_num = r.ix_num AND ix_str = r.ix_str AND ix_key = r.ix_key;
    END LOOP;
    INSERT INTO index_entries
    SELECT x.* FROM new_rows n JOIN index_fields f ON f.namespace_id = n.namespace_id
    CROSS JOIN LATERAL index_rows(n.namespace_id, n.key, n.value, n.metadata, f) x;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
