-- Revisions and the change log.
--
-- Every committed change gets a revision from one store-wide sequence,
-- kept in revision_counter (the last revision given). Revisions are given
-- under a transaction-scoped advisory lock (pg_advisory_xact_lock, key
-- 0x6d7963656c696102, works through a pooler in transaction mode), held
-- until the transaction ends, so revisions become visible in commit order:
-- a reader that sees revision r never later sees a new revision below r.
-- The engine takes the lock in the statement before each write (pipelined
-- with it: no extra round trip) and reads the counter FOR UPDATE, so a
-- repeatable-read or serializable transaction whose snapshot predates
-- another writer's commit fails with a serialization failure (40001)
-- instead of reusing a revision.
--
-- entries.revision is the revision of the entry's last change,
-- create_revision that of its creation; namespaces.revision that of the
-- namespace's creation (or its last metadata change by an import).
--
-- changes holds one row per change (kind: put, delete, expire, clear,
-- namespace_create, namespace_delete, namespace_metadata, metadata), with
-- the namespace by name, the key (NULL for namespace-level events), the
-- value (puts only), the entry's metadata and version, and the key's
-- previous revision (NULL when the key did not exist, or had expired).
-- The engine's entry statements write their rows (sqlstore); the triggers
-- below write the namespace events.
--
-- Existing rows get revisions in the order (namespace, key): namespaces
-- first, then entries; the change log starts empty.

-- +goose Up
CREATE TABLE revision_counter (
    id      integer PRIMARY KEY CHECK (id = 1),
    current bigint  NOT NULL
);

CREATE TABLE changes (
    revision      bigint PRIMARY KEY,
    kind          text   NOT NULL CHECK (kind IN ('put', 'delete', 'expire', 'clear', 'namespace_create',
                                                  'namespace_delete', 'namespace_metadata', 'metadata')),
    namespace     text   COLLATE "C" NOT NULL,
    key           text   COLLATE "C",
    value         jsonb,
    metadata      jsonb,
    version       bigint,
    prev_revision bigint,
    created_at    timestamptz NOT NULL
);

ALTER TABLE entries ADD COLUMN revision bigint NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN create_revision bigint NOT NULL DEFAULT 0;
ALTER TABLE namespaces ADD COLUMN revision bigint NOT NULL DEFAULT 0;

UPDATE namespaces SET revision = r.n
FROM (SELECT id, row_number() OVER (ORDER BY name) AS n FROM namespaces) AS r
WHERE namespaces.id = r.id;

UPDATE entries SET revision = r.n, create_revision = r.n
FROM (SELECT e.namespace_id, e.key,
             (SELECT count(*) FROM namespaces) + row_number() OVER (ORDER BY n.name, e.key) AS n
      FROM entries e JOIN namespaces n ON n.id = e.namespace_id) AS r
WHERE entries.namespace_id = r.namespace_id AND entries.key = r.key;

ALTER TABLE entries ALTER COLUMN revision DROP DEFAULT;
ALTER TABLE entries ALTER COLUMN create_revision DROP DEFAULT;

INSERT INTO revision_counter (id, current)
VALUES (1, (SELECT count(*) FROM namespaces) + (SELECT count(*) FROM entries));

-- +goose StatementBegin
CREATE FUNCTION storage_next_revision() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7888445509577826562);
    UPDATE revision_counter SET current = current + 1 WHERE id = 1 RETURNING current INTO r;
    RETURN r;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION changes_namespace() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    r := storage_next_revision();
    IF TG_OP = 'INSERT' THEN
        INSERT INTO changes (revision, kind, namespace, metadata, created_at)
        VALUES (r, 'namespace_create', NEW.name, NEW.metadata, NEW.created_at);
        UPDATE namespaces SET revision = r WHERE id = NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO changes (revision, kind, namespace, prev_revision, created_at)
        VALUES (r, 'namespace_delete', OLD.name, OLD.revision, clock_timestamp());
    ELSE
        INSERT INTO changes (revision, kind, namespace, metadata, prev_revision, created_at)
        VALUES (r, 'namespace_metadata', NEW.name, NEW.metadata, OLD.revision, clock_timestamp());
        UPDATE namespaces SET revision = r WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER changes_namespace_insert AFTER INSERT ON namespaces
    FOR EACH ROW EXECUTE FUNCTION changes_namespace();
CREATE TRIGGER changes_namespace_delete AFTER DELETE ON namespaces
    FOR EACH ROW EXECUTE FUNCTION changes_namespace();
CREATE TRIGGER changes_namespace_metadata AFTER UPDATE OF metadata ON namespaces
    FOR EACH ROW EXECUTE FUNCTION changes_namespace();

-- +goose Down
DROP TRIGGER changes_namespace_metadata ON namespaces;
DROP TRIGGER changes_namespace_delete ON namespaces;
DROP TRIGGER changes_namespace_insert ON namespaces;
DROP FUNCTION changes_namespace();
DROP FUNCTION storage_next_revision();
ALTER TABLE namespaces DROP COLUMN revision;
ALTER TABLE entries DROP COLUMN create_revision;
ALTER TABLE entries DROP COLUMN revision;
DROP TABLE changes;
DROP TABLE revision_counter;
