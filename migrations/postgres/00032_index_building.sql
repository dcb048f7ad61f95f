-- A field whose index is being built is indexed by the write triggers
-- (PostgreSQL).
--
-- CreateIndex on PostgreSQL filled a field's rows of index_entries in the
-- transaction that declared it, which held the store's revision lock from
-- its first statement to its commit: 4.8 s at 100k entries, during which
-- every other namespace's writes waited. It now builds the index as it
-- does on SQLite (sqlstore/createindex.go): the field is recorded in
-- index_fields under a spelling no query names ('$building:' and the
-- field), its rows are filled in chunks, each a transaction of its own
-- that holds no lock another namespace's writes need, and the field is
-- renamed and declared at the end. Writes to the namespace meanwhile must
-- be indexed for the field by their triggers, which since 00024 leave
-- index_entries alone when the namespace declares nothing
-- (namespaces.indexes is '[]'): namespaces.index_building, true from the
-- transaction that records a field being built to the one that renames
-- or deletes the last such field of the namespace, makes them index the
-- namespace's recorded fields as when it declares one. The flag is read
-- where 00024 reads namespaces.indexes: from the newest version of the
-- row the insert trigger updates and the update trigger locks (FOR KEY
-- SHARE), which the transactions that change it hold FOR UPDATE. A
-- namespace's flag may stay true with no field being built (after a
-- crash, until Open's reconciliation clears it): the triggers then look
-- for fields and find what the namespace declares, no more. Down drops
-- the column and restores 00024's bodies.

-- +goose Up
ALTER TABLE namespaces ADD COLUMN index_building boolean NOT NULL DEFAULT false;

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
               RETURNING n.indexes <> '[]'::jsonb OR n.index_building AS indexed)
    SELECT (SELECT count(*) FROM d), count(*), COALESCE(bool_or(u.indexed), false) INTO want, got, indexed FROM u;
    IF got < want THEN
        RAISE foreign_key_violation USING MESSAGE = 'insert into entries: namespace not found',
            TABLE = 'entries', CONSTRAINT = 'entries_namespace_id_fkey';
    END IF;
    IF NOT indexed THEN
        RETURN NULL; -- no field declared or being built in the newest version of any of the namespaces' rows
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
    SELECT n.indexes <> '[]'::jsonb OR n.index_building INTO indexed FROM namespaces n WHERE n.id = NEW.namespace_id FOR KEY SHARE;
    IF NOT indexed THEN
        RETURN NULL; -- no field declared or being built in the newest version of the namespace's row
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

-- +goose Down
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

ALTER TABLE namespaces DROP COLUMN index_building;
