-- An update that leaves an entry's indexed values as they were leaves its
-- index_entries rows alone (SQLite).
--
-- Up to version 18 the update trigger of 00014 deleted every index row of
-- the entry's old value and inserted those of the new one at every update
-- of value, metadata or expiry: an overwrite that changed no indexed field
-- still deleted and re-inserted the same rows, and wrote a page of
-- index_entries to the WAL at each commit (a Set overwriting one of 1000
-- keys with its own value, one declared index: 13.4 KB written per Set
-- against 9.2 KB with the index triggers dropped, and a fifth of its CPU;
-- bench/results/2026-12-02-sqlset.md).
--
-- entries_index_update now fires only when some declared field's row may
-- change: its JSON type or value differs between OLD and NEW (or the key
-- or namespace does); its body is 00014's. A field's row is a function of
-- its type and value, so when none differs no row changes; when one
-- differs and its row does not (1 and 1.0, two arrays), the rows are
-- deleted and inserted again, as before. An expiry that changes while the
-- rows stay is copied into them by entries_index_expiry (ix_exp). Down
-- restores the trigger of 00014.

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
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS c
                    FROM index_fields WHERE namespace_id = OLD.namespace_id)));
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key, NEW.expires_at
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_expiry AFTER UPDATE OF expires_at ON entries
WHEN OLD.expires_at IS NOT NEW.expires_at AND EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = NEW.namespace_id)
BEGIN
    UPDATE index_entries SET ix_exp = NEW.expires_at
    WHERE ix_exp IS NOT NEW.expires_at AND (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id)));
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER entries_index_expiry;
DROP TRIGGER entries_index_update;

-- +goose StatementBegin
CREATE TRIGGER entries_index_update AFTER UPDATE OF value, metadata, expires_at ON entries
WHEN EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = NEW.namespace_id)
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
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key, NEW.expires_at
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id));
END;
-- +goose StatementEnd
