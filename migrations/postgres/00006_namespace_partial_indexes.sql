-- Declared indexes become one partial index per (namespace, declared field),
-- named entries_ns<id>_<hash> (sqlstore/indexes.go), instead of indexes on
-- the whole entries table shared by every namespace that declared a field
-- (entries_ix_<hash>), which also held other namespaces' rows and failed
-- their writes of strings over about 2.7 kB.
--
-- Up drops the shared indexes. The new ones are written from the dialect
-- compiler's expressions, which SQL cannot compute, so the engine builds
-- them when it opens the store: from namespaces.indexes, concurrently.
-- Down drops the per-namespace indexes (and the engine's extended
-- statistics on their expressions); an engine of schema version 5
-- builds its shared indexes when a namespace is next created with them
-- (answers never depend on an index).

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexname FROM pg_indexes
             WHERE schemaname = current_schema() AND tablename = 'entries' AND starts_with(indexname, 'entries_ix_')
    LOOP
        EXECUTE format('DROP INDEX %I', r.indexname);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
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
