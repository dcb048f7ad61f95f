-- index_entries carries each entry's expiry (ix_exp, a copy of
-- entries.expires_at, included in the primary key's B-tree), so that a
-- statement the declared index answers whole (a Count whose filter the
-- index answers exactly) reads index_entries alone: before, it joined every
-- matching row back to entries only to leave out expired ones (a filtered
-- Count of 1000 rows made 1000 lookups in entries). index_rows (used by
-- CreateIndex and Open to fill the table) takes the expiry; the insert
-- trigger copies it; the update trigger also updates ix_exp in place
-- where the declared fields are unchanged and the expiry changed. The
-- delete trigger of 00011 deletes by the primary key and stays. Down
-- restores 00009's index_rows and 00011's triggers.

-- +goose Up
DROP FUNCTION index_rows(bigint, text, jsonb, jsonb, index_fields);
ALTER TABLE index_entries ADD COLUMN ix_exp timestamptz;
UPDATE index_entries i SET ix_exp = e.expires_at FROM entries e
WHERE e.namespace_id = i.ix_ns AND e.key = i.ix_key AND e.expires_at IS NOT NULL;
ALTER TABLE index_entries DROP CONSTRAINT index_entries_pkey,
    ADD PRIMARY KEY (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) INCLUDE (ix_exp);

-- +goose StatementBegin
CREATE FUNCTION index_rows(rows_ns bigint, rows_key text, rows_value jsonb, rows_metadata jsonb, rows_exp timestamptz, f index_fields)
RETURNS index_entries LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT rows_ns, f.field_id,
           (CASE jsonb_typeof(v) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN v = 'true'::jsonb THEN 3 ELSE 2 END
                WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint,
           CASE WHEN jsonb_typeof(v) <> 'number' OR v IS NULL THEN 0::float8
                WHEN abs(v::numeric) >= 1.797693134862315807937289714053e308 THEN sign(v::numeric)::float8 * 'Infinity'::float8
                WHEN abs(v::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                ELSE v::numeric::float8 END,
           CASE WHEN jsonb_typeof(v) = 'string' THEN left(v #>> '{}', 256) ELSE '' END,
           rows_key, rows_exp
    FROM (SELECT CASE WHEN f.jpath IS NULL THEN c #> f.tpath ELSE jsonb_path_query_first(c, f.jpath, '{}', true) END AS v
          FROM (SELECT CASE f.col WHEN 1 THEN rows_metadata ELSE rows_value END AS c) c) v
$$;
-- +goose StatementEnd

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
           o.key COLLATE "C" AS ix_key, o.expires_at AS ix_exp
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
           n.key COLLATE "C" AS ix_key, n.expires_at AS ix_exp
    FROM new_rows n JOIN index_fields f ON f.namespace_id = n.namespace_id
    CROSS JOIN LATERAL (SELECT CASE WHEN f.jpath IS NULL THEN (CASE f.col WHEN 1 THEN n.metadata ELSE n.value END) #> f.tpath
                                    ELSE jsonb_path_query_first(CASE f.col WHEN 1 THEN n.metadata ELSE n.value END, f.jpath, '{}', true) END AS v) v),
         gone AS (DELETE FROM index_entries i
                  USING (SELECT ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key FROM o
                         EXCEPT ALL SELECT ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key FROM n) x
                  WHERE i.ix_ns = x.ix_ns AND i.ix_field = x.ix_field AND i.ix_rank = x.ix_rank AND i.ix_num = x.ix_num
                    AND i.ix_str = x.ix_str AND i.ix_key = x.ix_key),
         expiry AS (UPDATE index_entries i SET ix_exp = n.ix_exp
                    FROM n JOIN o USING (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key)
                    WHERE i.ix_ns = n.ix_ns AND i.ix_field = n.ix_field AND i.ix_rank = n.ix_rank AND i.ix_num = n.ix_num
                      AND i.ix_str = n.ix_str AND i.ix_key = n.ix_key AND n.ix_exp IS DISTINCT FROM o.ix_exp)
    INSERT INTO index_entries
    SELECT n.* FROM n WHERE NOT EXISTS (SELECT 1 FROM o WHERE o.ix_ns = n.ix_ns AND o.ix_field = n.ix_field AND o.ix_rank = n.ix_rank
                                                        AND o.ix_num = n.ix_num AND o.ix_str = n.ix_str AND o.ix_key = n.ix_key);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION index_rows(bigint, text, jsonb, jsonb, timestamptz, index_fields);
ALTER TABLE index_entries DROP CONSTRAINT index_entries_pkey;
ALTER TABLE index_entries DROP COLUMN ix_exp;
ALTER TABLE index_entries ADD PRIMARY KEY (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key);

-- +goose StatementBegin
CREATE FUNCTION index_rows(rows_ns bigint, rows_key text, rows_value jsonb, rows_metadata jsonb, f index_fields)
RETURNS index_entries LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT rows_ns, f.field_id,
           (CASE jsonb_typeof(v) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN v = 'true'::jsonb THEN 3 ELSE 2 END
                WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint,
           CASE WHEN jsonb_typeof(v) <> 'number' OR v IS NULL THEN 0::float8
                WHEN abs(v::numeric) >= 1.797693134862315807937289714053e308 THEN sign(v::numeric)::float8 * 'Infinity'::float8
                WHEN abs(v::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                ELSE v::numeric::float8 END,
           CASE WHEN jsonb_typeof(v) = 'string' THEN left(v #>> '{}', 256) ELSE '' END,
           rows_key
    FROM (SELECT CASE WHEN f.jpath IS NULL THEN c #> f.tpath ELSE jsonb_path_query_first(c, f.jpath, '{}', true) END AS v
          FROM (SELECT CASE f.col WHEN 1 THEN rows_metadata ELSE rows_value END AS c) c) v
$$;
-- +goose StatementEnd

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
