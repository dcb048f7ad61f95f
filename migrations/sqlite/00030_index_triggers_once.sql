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
-- - entries_index_update fires only when the key and namespace are the
--   same, the value or metadata differs (a blob comparison: an overwrite
--   with the same value touches nothing), and some declared field's
--   element differs as JSON text (OLD -> path and NEW -> path, one call
--   each). Equal texts are the same JSON type and value, so every update
--   that changes an index row passes (not so with jsonb_extract or
--   json_extract, whose SQL values make true and 1, null and a missing
--   field equal); texts that differ with the same index row (1 and 1.0)
--   are left to the body's test.
-- - Its body is one UPDATE ... FROM a derived table of the fields whose
--   type or value differ (00029's test), each with its rank, number and
--   string before and after, computed from OLD's and NEW's type and value
--   in a subquery with LIMIT -1 OFFSET 0, which SQLite does not flatten:
--   four JSON calls a field, once. The row of OLD's values gets NEW's,
--   with NEW's expiry and entry id, as 00029's DELETE and INSERT left it.
--   Every (entry, declared field) has its row (a missing field has rank
--   0), so the row to update exists.
-- - An update that changes the key or the namespace (no statement of the
--   engine does) goes to entries_index_move, whose WHEN clause is 00029's
--   for that case and whose body is 00029's DELETE and INSERT of every
--   field's row, with each type computed once.
--
-- The insert trigger is unchanged: the same rewrite of it (json_type once
-- a field, not three times) made no difference measurable on SetMany of
-- 1000 new keys, where the JSON functions are about 4% of the CPU
-- (bench/results/2026-12-04-sqfield.md).
--
-- The rows written are those of 00029 (TestIndexRowsThroughUpdates
-- compares them with rows computed from the entries after each kind of
-- write). Down restores 00029's entries_index_update and drops
-- entries_index_move.

-- +goose Up
DROP TRIGGER entries_index_update;

-- +goose StatementBegin
CREATE TRIGGER entries_index_update AFTER UPDATE OF value, metadata, expires_at ON entries
WHEN OLD.key IS NEW.key AND OLD.namespace_id IS NEW.namespace_id
 AND (OLD.value IS NOT NEW.value OR OLD.metadata IS NOT NEW.metadata)
 AND EXISTS (SELECT 1 FROM index_fields
             WHERE namespace_id = NEW.namespace_id
               AND (CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END) -> path
                   IS NOT (CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END) -> path)
BEGIN
    UPDATE index_entries SET ix_rank = d.nrank, ix_num = d.nnum, ix_str = d.nstr, ix_exp = NEW.expires_at, ix_entry = NEW.entry_id
    FROM (SELECT field_id,
                 CASE ot WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                         WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END AS orank,
                 CASE WHEN ot IN ('integer', 'real') THEN CAST(ov AS REAL) ELSE 0 END AS onum,
                 CASE WHEN ot = 'text' THEN ov ELSE '' END AS ostr,
                 CASE nt WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                         WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END AS nrank,
                 CASE WHEN nt IN ('integer', 'real') THEN CAST(nv AS REAL) ELSE 0 END AS nnum,
                 CASE WHEN nt = 'text' THEN nv ELSE '' END AS nstr
          FROM (SELECT field_id, json_type(o, path) AS ot, json_extract(o, path) AS ov,
                       json_type(n, path) AS nt, json_extract(n, path) AS nv
                FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS o,
                             CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS n
                      FROM index_fields WHERE namespace_id = NEW.namespace_id)
                LIMIT -1 OFFSET 0)
          WHERE ot IS NOT nt OR ov IS NOT nv) AS d
    WHERE ix_ns = NEW.namespace_id AND ix_field = d.field_id AND ix_rank = d.orank AND ix_num = d.onum
      AND ix_str = d.ostr AND ix_key = NEW.key;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_move AFTER UPDATE OF value, metadata, expires_at ON entries
WHEN (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id)
 AND EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = NEW.namespace_id)
BEGIN
    DELETE FROM index_entries WHERE (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT OLD.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               OLD.key
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS c
                    FROM index_fields WHERE namespace_id = OLD.namespace_id)
              LIMIT -1 OFFSET 0));
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key, NEW.expires_at, NEW.entry_id
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id)
              LIMIT -1 OFFSET 0);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER entries_index_move;
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
