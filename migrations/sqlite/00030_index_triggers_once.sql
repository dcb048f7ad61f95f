-- The declared-index update trigger computes each declared field's JSON
-- type and value of OLD and NEW once per row (SQLite).
--
-- Up to 00029, entries_index_update called json_type and json_extract on
-- the same value and path again for each use: its WHEN clause tested each
-- field's OLD and NEW type and value (four calls), then its DELETE and its
-- INSERT each tested them again and computed the rank, number and string
-- (SQLite flattens the subquery that names json_type(c, path) "t" into
-- the outer SELECT, so each mention of t was a call of its own). Now:
--
-- - entries_index_update fires when the key or namespace changes, as
--   before, or when the value or metadata differs (a blob comparison: an
--   overwrite with the same value touches nothing) and some declared
--   field's element differs as JSON text (OLD -> path and NEW -> path,
--   one call each, where 00029 made four). Equal texts are the same JSON
--   type and value, so every update that changes an index row passes (not
--   so with jsonb_extract or json_extract, whose SQL values make true and
--   1, null and a missing field equal); texts that differ with the same
--   index row (1 and 1.0) are left to the body's test.
-- - Its DELETE and INSERT each read a subquery with LIMIT -1 OFFSET 0,
--   which SQLite does not flatten, that computes each field's type and
--   value of OLD and NEW once (four JSON calls a field); the rank, number
--   and string, and 00029's test of which fields changed, read them.
--
-- An UPDATE ... FROM of the changed rows, computing them once for both,
-- measured the same within the noise, and sqlc's SQLite grammar does not
-- parse UPDATE ... FROM.
--
-- The insert trigger is unchanged: the same rewrite of it (json_type once
-- a field, not three times) made no difference measurable on SetMany of
-- 1000 new keys, where the JSON functions are about 4% of the CPU
-- (bench/results/2026-12-04-sqfield.md).
--
-- The rows written are those of 00029 (TestIndexRowsThroughUpdates
-- compares them with rows computed from the entries after each kind of
-- write). Down restores 00029's entries_index_update.

-- +goose Up
DROP TRIGGER entries_index_update;

-- +goose StatementBegin
CREATE TRIGGER entries_index_update AFTER UPDATE OF value, metadata, expires_at ON entries
WHEN (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
      OR OLD.value IS NOT NEW.value OR OLD.metadata IS NOT NEW.metadata)
 AND EXISTS (SELECT 1 FROM index_fields
             WHERE namespace_id = NEW.namespace_id
               AND (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
                    OR (CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END) -> path
                       IS NOT (CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END) -> path))
BEGIN
    DELETE FROM index_entries WHERE (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT OLD.namespace_id, field_id,
               CASE ot WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                       WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN ot IN ('integer', 'real') THEN CAST(ov AS REAL) ELSE 0 END,
               CASE WHEN ot = 'text' THEN ov ELSE '' END,
               OLD.key
        FROM (SELECT field_id, json_type(o, path) AS ot, json_extract(o, path) AS ov,
                     json_type(n, path) AS nt, json_extract(n, path) AS nv
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS o,
                           CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS n
                    FROM index_fields WHERE namespace_id = OLD.namespace_id)
              LIMIT -1 OFFSET 0)
        WHERE (OLD.key IS NOT NEW.key) OR (OLD.namespace_id IS NOT NEW.namespace_id) OR (ot IS NOT nt) OR (ov IS NOT nv));
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
        SELECT NEW.namespace_id, field_id,
               CASE nt WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                       WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN nt IN ('integer', 'real') THEN CAST(nv AS REAL) ELSE 0 END,
               CASE WHEN nt = 'text' THEN nv ELSE '' END,
               NEW.key, NEW.expires_at, NEW.entry_id
        FROM (SELECT field_id, json_type(o, path) AS ot, json_extract(o, path) AS ov,
                     json_type(n, path) AS nt, json_extract(n, path) AS nv
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS o,
                           CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS n
                    FROM index_fields WHERE namespace_id = NEW.namespace_id)
              LIMIT -1 OFFSET 0)
        WHERE (OLD.key IS NOT NEW.key) OR (OLD.namespace_id IS NOT NEW.namespace_id) OR (nt IS NOT ot) OR (nv IS NOT ov);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER entries_index_update;

-- +goose StatementBegin
CREATE TRIGGER entries_index_update AFTER UPDATE OF value, metadata, expires_at ON entries
WHEN EXISTS (SELECT 1 FROM index_fields
             WHERE namespace_id = NEW.namespace_id
               AND (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
                    OR json_type(CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END, path)
                       IS NOT json_type(CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END, path)
                    OR json_extract(CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END, path)
                       IS NOT json_extract(CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END, path)))
BEGIN
    DELETE FROM index_entries WHERE (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT OLD.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               OLD.key
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS c,
                           CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS n
                    FROM index_fields WHERE namespace_id = OLD.namespace_id)
              WHERE OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
                 OR json_type(c, path) IS NOT json_type(n, path) OR json_extract(c, path) IS NOT json_extract(n, path)));
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key, NEW.expires_at, NEW.entry_id
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c,
                           CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS o
                    FROM index_fields WHERE namespace_id = NEW.namespace_id)
              WHERE OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
                 OR json_type(c, path) IS NOT json_type(o, path) OR json_extract(c, path) IS NOT json_extract(o, path));
END;
-- +goose StatementEnd
