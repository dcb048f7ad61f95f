-- Fewer statements per firing of the write triggers (PostgreSQL).
--
-- A PL/pgSQL trigger runs each of its SQL statements through the executor,
-- and the plan startup of those statements, not the rows they write, was
-- most of what the insert trigger cost: ~29% of a Set of a new key's server
-- CPU (bench/results/2026-12-02-pgwrite.md). Now:
--   * entries_index_insert's count statement (the entry_count update, which
--     is also the namespace check of 00020) returns whether the namespaces
--     it updated declare a field (namespaces.indexes is not '[]'); when none
--     does, the trigger returns without its INSERT INTO index_entries. The
--     value is read from the row the UPDATE locked, which is the newest
--     version of it after a wait (READ COMMITTED re-reads an updated row):
--     CreateIndex and DropIndex change namespaces.indexes and index_fields
--     in one transaction that holds the row FOR UPDATE, so an insert that
--     waited for a CreateIndex sees its declaration here, and the index
--     insert, a statement of its own, then takes a snapshot that sees its
--     index_fields row. (A read of index_fields inside the count statement
--     would use the statement's older snapshot and miss the field.)
--   * entries_index_update reads the same flag with its FOR KEY SHARE lock
--     of the namespace row (a locking read also returns the newest
--     version) and returns before its read of index_fields when the
--     namespace declares nothing. Where a declared field's value changed
--     it updates the old index row into the new one (inserting it when
--     there was none) instead of a DELETE and an INSERT.
--   * changes_notify calls pg_notify as an assignment, which PL/pgSQL
--     evaluates as a simple expression without the executor (as 00016 did
--     for storage_take_revisions), instead of PERFORM, a query.
-- The triggers rely on namespaces.indexes being '[]' only when the
-- namespace has no index_fields row: the engine writes both in one
-- transaction (CreateIndex, DropIndex, CreateNamespace, restore) and
-- Open's reconciliation drops the index_fields rows of a namespace that
-- declares nothing. Down restores the bodies of 00020, 00018 and 00008.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_index_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    want    bigint;
    got     bigint;
    indexed boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL; -- the update path of an INSERT ... ON CONFLICT
    END IF;
    WITH d AS (SELECT namespace_id, count(*) AS c FROM new_rows GROUP BY namespace_id),
         u AS (UPDATE namespaces n SET entry_count = n.entry_count + d.c FROM d WHERE n.id = d.namespace_id
               RETURNING n.indexes <> '[]'::jsonb AS indexed)
    SELECT (SELECT count(*) FROM d), count(*), COALESCE(bool_or(u.indexed), false) INTO want, got, indexed FROM u;
    IF got < want THEN
        RAISE foreign_key_violation USING MESSAGE = 'insert into entries: namespace not found',
            TABLE = 'entries', CONSTRAINT = 'entries_namespace_id_fkey';
    END IF;
    IF NOT indexed THEN
        RETURN NULL; -- no declared field in the newest version of any of the namespaces' rows
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
CREATE OR REPLACE FUNCTION entries_index_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    f index_fields;
    vo jsonb;
    vn jsonb;
    o_rank smallint;
    o_num float8;
    o_str text;
    n_rank smallint;
    n_num float8;
    n_str text;
    indexed boolean;
BEGIN
    SELECT n.indexes <> '[]'::jsonb INTO indexed FROM namespaces n WHERE n.id = NEW.namespace_id FOR KEY SHARE;
    IF NOT indexed THEN
        RETURN NULL; -- no declared field in the newest version of the namespace's row
    END IF;
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
        n_rank := (CASE jsonb_typeof(vn) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN vn = 'true'::jsonb THEN 3 ELSE 2 END
                       WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint;
        n_num := CASE WHEN jsonb_typeof(vn) <> 'number' OR vn IS NULL THEN 0::float8
                      WHEN abs(vn::numeric) >= 1.797693134862315807937289714053e308 THEN sign(vn::numeric)::float8 * 'Infinity'::float8
                      WHEN abs(vn::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                      ELSE vn::numeric::float8 END;
        n_str := CASE WHEN jsonb_typeof(vn) = 'string' THEN left(vn #>> '{}', 256) ELSE '' END;
        -- The old index row becomes the new one (one statement where there
        -- were a DELETE and an INSERT); inserted when there was none.
        UPDATE index_entries SET ix_ns = NEW.namespace_id, ix_rank = n_rank, ix_num = n_num, ix_str = n_str,
                                 ix_key = NEW.key, ix_exp = NEW.expires_at
        WHERE ix_ns = OLD.namespace_id AND ix_field = f.field_id AND ix_rank = o_rank AND ix_num = o_num
          AND ix_str = o_str AND ix_key = OLD.key;
        IF NOT FOUND THEN
            INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp)
            VALUES (NEW.namespace_id, f.field_id, n_rank, n_num, n_str, NEW.key, NEW.expires_at);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    done text; -- pg_notify's result (void), unused
BEGIN
    done := pg_notify('storage_changes', '')::text;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('storage_changes', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd
