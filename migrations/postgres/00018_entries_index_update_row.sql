-- The index update trigger of entries per row, with a WHEN clause, instead
-- of per statement (PostgreSQL).
--
-- Up to version 17 every UPDATE of entries (the update path of each
-- upsert: Set over an existing key, SetMany, metadata, expiry changes)
-- fired the statement trigger entries_index_update, with the old and new
-- rows as transition tables, in every namespace, indexed or not. Its
-- firing alone cost ~180 us of server CPU per Set and its body ~150 us
-- (bench/results/2026-12-02-pg-write-path.md), more than the whole of a
-- raw upsert. Now:
--   * it fires per row, and only for a row whose value, metadata or expiry
--     changed (the WHEN clause is evaluated when the row is written: a row
--     that fails it queues no trigger event at all);
--   * it locks the namespace row (FOR KEY SHARE, as before: CreateIndex
--     holds the row FOR UPDATE while it records a field and fills its
--     rows, and updates it) and then reads the namespace's declared fields:
--     none, it returns;
--   * per declared field it takes the field's value from the old and the
--     new row; equal (jsonb equality), the index row is the same and only
--     its copy of the expiry (ix_exp) is updated where the expiry changed;
--     else the old index row is deleted by its primary key and the new one
--     inserted. (Two different values can make the same index row, a long
--     string's prefix or a number below the smallest double: the delete
--     then the insert of the same row is still exact.)
-- Server CPU per Set (an overwrite), one connection, 9 interleaved
-- rounds at load ~20: a namespace without indexes 425 -> 312 us, with one
-- index 562 -> 412 (bench/results/2026-12-02-pg-write-path-2.md). A
-- statement that overwrites many rows pays the per-row firing: a SetMany
-- overwriting ~1000 keys costs 13-30% more server CPU than with the
-- statement trigger.
-- The insert and delete triggers (00017) stay per statement. Down restores
-- 00014's statement trigger.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    f index_fields;
    vo jsonb;
    vn jsonb;
    o_rank smallint;
    o_num float8;
    o_str text;
BEGIN
    PERFORM 1 FROM namespaces WHERE id = NEW.namespace_id FOR KEY SHARE;
    FOR f IN SELECT * FROM index_fields WHERE namespace_id = NEW.namespace_id LOOP
        IF f.jpath IS NULL THEN
            vo := (CASE f.col WHEN 1 THEN OLD.metadata ELSE OLD.value END) #> f.tpath;
            vn := (CASE f.col WHEN 1 THEN NEW.metadata ELSE NEW.value END) #> f.tpath;
        ELSE
            vo := jsonb_path_query_first(CASE f.col WHEN 1 THEN OLD.metadata ELSE OLD.value END, f.jpath, '{}', true);
            vn := jsonb_path_query_first(CASE f.col WHEN 1 THEN NEW.metadata ELSE NEW.value END, f.jpath, '{}', true);
        END IF;
        CONTINUE WHEN vo IS NOT DISTINCT FROM vn AND OLD.expires_at IS NOT DISTINCT FROM NEW.expires_at;
        o_rank := (CASE jsonb_typeof(vo) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN vo = 'true'::jsonb THEN 3 ELSE 2 END
                       WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint;
        o_num := CASE WHEN jsonb_typeof(vo) <> 'number' OR vo IS NULL THEN 0::float8
                      WHEN abs(vo::numeric) >= 1.797693134862315807937289714053e308 THEN sign(vo::numeric)::float8 * 'Infinity'::float8
                      WHEN abs(vo::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                      ELSE vo::numeric::float8 END;
        o_str := CASE WHEN jsonb_typeof(vo) = 'string' THEN left(vo #>> '{}', 256) ELSE '' END;
        IF vo IS NOT DISTINCT FROM vn THEN
            UPDATE index_entries SET ix_exp = NEW.expires_at
            WHERE ix_ns = OLD.namespace_id AND ix_field = f.field_id AND ix_rank = o_rank AND ix_num = o_num
              AND ix_str = o_str AND ix_key = OLD.key;
            CONTINUE;
        END IF;
        DELETE FROM index_entries
        WHERE ix_ns = OLD.namespace_id AND ix_field = f.field_id AND ix_rank = o_rank AND ix_num = o_num
          AND ix_str = o_str AND ix_key = OLD.key;
        INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp)
        VALUES (NEW.namespace_id, f.field_id,
                (CASE jsonb_typeof(vn) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN vn = 'true'::jsonb THEN 3 ELSE 2 END
                     WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint,
                CASE WHEN jsonb_typeof(vn) <> 'number' OR vn IS NULL THEN 0::float8
                     WHEN abs(vn::numeric) >= 1.797693134862315807937289714053e308 THEN sign(vn::numeric)::float8 * 'Infinity'::float8
                     WHEN abs(vn::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                     ELSE vn::numeric::float8 END,
                CASE WHEN jsonb_typeof(vn) = 'string' THEN left(vn #>> '{}', 256) ELSE '' END,
                NEW.key, NEW.expires_at);
    END LOOP;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TRIGGER entries_index_update ON entries;
CREATE TRIGGER entries_index_update AFTER UPDATE ON entries FOR EACH ROW
    WHEN (OLD.value IS DISTINCT FROM NEW.value OR OLD.metadata IS DISTINCT FROM NEW.metadata
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
    EXECUTE FUNCTION entries_index_update();

-- +goose Down
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

DROP TRIGGER entries_index_update ON entries;
CREATE TRIGGER entries_index_update AFTER UPDATE ON entries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION entries_index_update();
