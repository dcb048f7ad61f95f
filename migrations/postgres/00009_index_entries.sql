-- Declared indexes live in one table shared by every namespace, instead of
-- one partial index on entries per (namespace, declared field): a partial
-- index is maintained (its WHERE evaluated) by every write to entries and
-- considered by every plan, so a store whose namespaces declared many
-- indexes slowed every write and read of every namespace.
--
-- index_fields lists each namespace's declared fields: a small id per
-- namespace, the column (0 value, 1 metadata) and the path the dialect
-- compiler writes for the field: a text[] for #> when that reads exactly
-- the field, else a strict SQL/JSON path (array indexes), filled by
-- sqlstore/indexes.go. index_entries holds one row per (entry, declared
-- field) of an indexed namespace: the type rank, the number (0 when not a
-- number), the first 256 characters of the string (the empty string when
-- not a string: a B-tree entry is limited to about 2.7 kB, so a long string
-- never fails a write; queries recheck the full string) and the key, in one
-- B-tree ordered as Query sorts. Statement-level triggers keep it from the
-- transition tables, joined to index_fields: a namespace that declared
-- nothing costs one join that finds no row.
--
-- Up drops the partial indexes of versions 6-8 (entries_ns<id>_<hash>) and
-- their extended statistics; the engine fills index_entries from
-- namespaces.indexes when it opens the store. Down drops the tables,
-- triggers and functions; an engine of versions 6-8 builds its partial
-- indexes from namespaces.indexes at open.

-- +goose Up
CREATE TABLE index_fields (
    namespace_id bigint   NOT NULL REFERENCES namespaces (id),
    field_id     integer  NOT NULL,
    field        text     NOT NULL,
    col          smallint NOT NULL,
    tpath        text[]   NOT NULL,
    jpath        jsonpath,
    PRIMARY KEY (namespace_id, field_id),
    UNIQUE (namespace_id, field)
);

CREATE TABLE index_entries (
    ix_ns    bigint           NOT NULL,
    ix_field integer          NOT NULL,
    ix_rank  smallint         NOT NULL,
    ix_num   double precision NOT NULL,
    ix_str   text COLLATE "C" NOT NULL,
    ix_key   text COLLATE "C" NOT NULL,
    PRIMARY KEY (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key)
);

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

-- The rows are computed once each (a LATERAL call, not (f(...)).*, which
-- calls f once per column), inserted in one statement, and deleted one by
-- one by their primary key: a set-based delete joined to the transition
-- table could be planned as a scan of index_entries.
-- +goose StatementBegin
CREATE FUNCTION entries_index_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO index_entries
    SELECT r.* FROM new_rows n JOIN index_fields f ON f.namespace_id = n.namespace_id
    CROSS JOIN LATERAL index_rows(n.namespace_id, n.key, n.value, n.metadata, f) r;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION entries_index_delete() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- An update locks the namespaces of its rows (FOR KEY SHARE) before it reads
-- index_fields, as an insert (its foreign key) and a delete (entry_count)
-- already do: CreateIndex holds the namespace row (FOR UPDATE) while it
-- records the field and fills index_entries, so a write either sees the
-- field or is seen by the fill.
-- +goose StatementBegin
CREATE FUNCTION entries_index_update() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER entries_index_insert AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION entries_index_insert();

CREATE TRIGGER entries_index_delete AFTER DELETE ON entries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION entries_index_delete();

CREATE TRIGGER entries_index_update AFTER UPDATE ON entries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION entries_index_update();

-- +goose StatementBegin
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexname FROM pg_indexes
             WHERE schemaname = current_schema() AND tablename = 'entries' AND starts_with(indexname, 'entries_ns')
    LOOP
        EXECUTE format('DROP INDEX %I', r.indexname);
    END LOOP;
    FOR r IN SELECT stxname FROM pg_statistic_ext
             WHERE stxnamespace = current_schema()::regnamespace AND starts_with(stxname, 'entries_ns')
    LOOP
        EXECUTE format('DROP STATISTICS %I', r.stxname);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER entries_index_update ON entries;
DROP TRIGGER entries_index_delete ON entries;
DROP TRIGGER entries_index_insert ON entries;
DROP FUNCTION entries_index_update();
DROP FUNCTION entries_index_delete();
DROP FUNCTION entries_index_insert();
DROP FUNCTION index_rows(bigint, text, jsonb, jsonb, index_fields);
DROP TABLE index_entries;
DROP TABLE index_fields;
