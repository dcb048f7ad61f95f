-- An update that changes one declared field of an entry rewrites that
-- field's index_entries row alone (SQLite).
--
-- Since 00019, entries_index_update fires only when some declared field's
-- row may change, but then its body deleted and inserted the rows of every
-- declared field of the namespace: with two declared fields, an update that
-- moved one of them deleted and re-inserted the other's unchanged row too.
-- SetMany of 1000 stored keys with two declared fields (n and a 200-byte s)
-- where only n moved wrote 1139 WAL frames, against 608 now, for 0.70 of
-- the CPU (bench/results/2026-12-04-sqbatch2.md). PostgreSQL's trigger
-- already skips each unchanged field (00024).
--
-- The WHEN clause is 00019's. The body's DELETE and INSERT now take, of
-- the namespace's fields, those whose JSON type or value differs between
-- OLD and NEW (or all of them when the key or namespace does): the test of
-- the WHEN clause, per field. An unchanged field's row is a function of the
-- same type and value, so it is the row the body would have inserted
-- again; its expiry, if that changed, is copied by entries_index_expiry
-- (ix_exp) as for any row the update leaves. Down restores 00019's body.

-- +goose Up
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
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS c
                    FROM index_fields WHERE namespace_id = OLD.namespace_id)));
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key, NEW.expires_at, NEW.entry_id
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id));
END;
-- +goose StatementEnd
