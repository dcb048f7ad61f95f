package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// Declared indexes (storage.WithIndexes, Store.CreateIndex). The fields a
// namespace declares are rows of index_fields (migration 00009): a field id
// small within the namespace, the column and the JSON path the dialect
// compiler writes (dialect.IndexPath). Their values are rows of one table
// shared by every namespace, index_entries (namespace, field id, type
// rank, number, string, key), whose primary key is one B-tree in the order
// Query sorts: see dialect/index.go. Triggers on entries keep it on every
// write path (set, batches, deletes, metadata, clear, expiry sweeps,
// restore); a namespace that declared nothing costs them a lookup that
// finds nothing, so a namespace's indexes cost nothing to the writes and
// reads of other namespaces, and a write costs in proportion to its own
// namespace's indexes. No value makes a write fail: PostgreSQL indexes a
// bounded prefix of a string, which queries recheck in full.
//
// Declaring a field records its index_fields row and fills its rows of
// index_entries in one transaction, which holds the namespace's row
// (FOR UPDATE on PostgreSQL, the write lock on SQLite): a concurrent write
// to the namespace either sees the new field (its trigger indexes it) or
// committed before the fill (which reads it). CreateIndex is the
// exception: it records the field under a spelling no query names, fills
// its rows in chunks, each a transaction of its own (a write between two
// chunks is indexed by its trigger, and the fill ignores the rows
// triggers wrote), then renames and declares it (buildIndex in
// createindex.go; on PostgreSQL the triggers index such a field because
// the build sets namespaces.index_building, migration 00032, and each
// chunk locks the entries it reads FOR SHARE). On PostgreSQL inserts and
// deletes lock the namespace row already (their triggers update its
// entry_count; on SQLite the one writer excludes the fill, and an insert
// leaves entry_count to the fold of migration 00023): there the insert
// trigger's update is also the check that the
// namespace exists, migration 00020, where a foreign key checked each row
// before); the update trigger locks it (FOR KEY SHARE) before it reads
// index_fields. Since migration 00024 both PostgreSQL triggers read
// namespaces.indexes from the row they update or lock (its newest version,
// after a wait for CreateIndex) and leave index_fields and index_entries
// alone when it is '[]' and namespaces.index_building is false (migration
// 00032): a namespace has index_fields rows only for fields its
// namespaces.indexes declares (the declaration is written first, in the
// same transaction or an earlier one; reconcileIndexes drops the rows of
// undeclared fields at Open) and, while index_building is set, for the
// fields CreateIndex is building. Dropping a
// field deletes its rows; deleting a namespace deletes all of its own.

// sqliteFill fills index_entries for field id ? of namespace ? from its
// entries; parameters: field id, column, path, path, path, namespace id.
const sqliteFill = `INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
` + sqliteFillRows + `))`

// sqliteFillRange fills the rows of the entries of sqliteFill's namespace
// whose keys are after ?5 and, with upTo, at most ?6, leaving alone the
// rows the triggers wrote already (a chunk of buildIndex, fillIndex).
func sqliteFillRange(upTo bool) string {
	s := `INSERT OR IGNORE INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
` + sqliteFillRows + ` AND key > ?5`
	if upTo {
		s += ` AND key <= ?6`
	}
	return s + `))`
}

// sqliteFillRows selects the index rows of sqliteFill, up to the end of
// its WHERE clause.
const sqliteFillRows = `SELECT namespace_id, ?1,
       CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
              WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
       CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, ?3) AS REAL) ELSE 0 END,
       CASE WHEN t = 'text' THEN json_extract(c, ?3) ELSE '' END,
       key, expires_at, entry_id
FROM (SELECT namespace_id, key, expires_at, entry_id, c, json_type(c, ?3) AS t
      FROM (SELECT namespace_id, key, expires_at, entry_id, CASE ?2 WHEN 1 THEN metadata ELSE value END AS c
            FROM entries WHERE namespace_id = ?4`

// pgFill fills index_entries for field $2 of namespace $1 from its entries.
const pgFill = `INSERT INTO index_entries
SELECT r.* FROM entries e JOIN index_fields f ON f.namespace_id = e.namespace_id
CROSS JOIN LATERAL index_rows(e.namespace_id, e.key, e.value, e.metadata, e.expires_at, f) r
WHERE e.namespace_id = $1 AND f.field_id = $2`

// placeholders rewrites the "?" placeholders of stmt for the store's
// dialect.
func (x *ops) placeholders(stmt string) string {
	out, err := x.compiler().PlaceholderFormat().ReplacePlaceholders(stmt)
	if err != nil { // cannot happen: the statements are constants
		panic(err)
	}
	return out
}

// indexFields reads the declared fields of namespace nsID recorded in
// index_fields, by spelling.
func (x *ops) indexFields(ctx context.Context, q querier, nsID int64) (map[string]int64, error) {
	out := map[string]int64{}
	err := q.queryRows(ctx, x.placeholders("SELECT field, field_id FROM index_fields WHERE namespace_id = ?"), []any{nsID},
		func(r rowScanner) error {
			var f string
			var id int64
			err := r.Scan(&f, &id)
			out[f] = id
			return err
		})
	return out, err
}

// addIndexFields records the fields of namespace nsID that index_fields
// lacks and fills their rows of index_entries, with q, in the caller's
// transaction, which holds the namespace's row. Idempotent.
func (x *ops) addIndexFields(ctx context.Context, q querier, nsID int64, fields []driver.Field) error {
	have, err := x.indexFields(ctx, q, nsID)
	if err != nil {
		return err
	}
	c := x.compiler()
	pg := x.s.eng.dialect().Name() == dialect.Postgres
	for _, f := range fields {
		if _, ok := have[f.Text]; ok {
			continue
		}
		// A field id is never reused (migration 00028): one past the
		// largest the namespace ever gave, so that a cached id of a
		// dropped index selects no rows (nsInfo).
		var id int64
		if err := q.queryRows(ctx, x.placeholders("UPDATE namespaces SET field_seq = field_seq + 1 WHERE id = ? RETURNING field_seq"),
			[]any{nsID}, func(r rowScanner) error { return r.Scan(&id) }); err != nil {
			return err
		}
		have[f.Text] = id
		p := c.IndexPath(f)
		if pg {
			if _, err := q.exec(ctx, `INSERT INTO index_fields (namespace_id, field_id, field, col, tpath, jpath) VALUES ($1, $2, $3, $4, $5, CAST(CAST($6 AS text) AS jsonpath))`,
				nsID, id, f.Text, p.Col, p.TPath, p.JPath); err != nil {
				return err
			}
			if _, err := q.exec(ctx, pgFill, nsID, id); err != nil {
				return err
			}
			continue
		}
		if _, err := q.exec(ctx, `INSERT INTO index_fields (namespace_id, field_id, field, col, path) VALUES (?, ?, ?, ?, ?)`,
			nsID, id, f.Text, p.Col, p.Path); err != nil {
			return err
		}
		if _, err := q.exec(ctx, sqliteFill, id, p.Col, p.Path, nsID); err != nil {
			return err
		}
	}
	return nil
}

// dropIndexField forgets field (its spelling) of namespace nsID and
// deletes its rows of index_entries, with q, in the caller's transaction.
func (x *ops) dropIndexField(ctx context.Context, q querier, nsID int64, field string) error {
	have, err := x.indexFields(ctx, q, nsID)
	if err != nil {
		return err
	}
	id, ok := have[field]
	if !ok {
		return nil
	}
	// The record first: on PostgreSQL it waits for a chunk of a build of
	// the field that holds it (fillIndex), whose rows the next statement
	// then sees.
	if _, err := q.exec(ctx, x.placeholders("DELETE FROM index_fields WHERE namespace_id = ? AND field_id = ?"), nsID, id); err != nil {
		return err
	}
	_, err = q.exec(ctx, x.placeholders("DELETE FROM index_entries WHERE ix_ns = ? AND ix_field = ?"), nsID, id)
	return err
}

// dropNamespaceIndexes forgets every declared field of namespace nsID and
// deletes its rows of index_entries (before its entries are deleted, whose
// triggers then have nothing to do).
func (x *ops) dropNamespaceIndexes(ctx context.Context, q querier, nsID int64) error {
	// The records first, as in dropIndexField.
	if _, err := q.exec(ctx, x.placeholders("DELETE FROM index_fields WHERE namespace_id = ?"), nsID); err != nil {
		return err
	}
	_, err := q.exec(ctx, x.placeholders("DELETE FROM index_entries WHERE ix_ns = ?"), nsID)
	return err
}

// reconcileHook, when set (tests), runs in reconcileIndexes between its
// first read of the declarations and the namespaces' transactions.
var reconcileHook func()

// reconcileIndexes makes index_fields match the namespaces' declarations
// (namespaces.indexes), at Open: after migration 00009 it fills
// index_entries from them, and it drops the physical indexes of schema
// versions before 9 that SQLite's migration could not (entries_ix_*, the
// shared indexes of versions 4-5; entries_ns*, the partial ones of 6-8).
func (x *ops) reconcileIndexes(ctx context.Context) error {
	q := x.s.eng.writer()
	if x.s.eng.dialect().Name() == dialect.SQLite {
		var legacy []string
		err := q.queryRows(ctx, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'entries' AND (name GLOB 'entries_ix_*' OR name GLOB 'entries_ns*')`, nil,
			func(r rowScanner) error {
				var n string
				err := r.Scan(&n)
				legacy = append(legacy, n)
				return err
			})
		if err != nil {
			return err
		}
		for _, n := range legacy {
			if _, err := q.exec(ctx, "DROP INDEX IF EXISTS "+n); err != nil {
				return err
			}
		}
	}
	if x.s.eng.dialect().Name() == dialect.SQLite {
		if err := x.sqliteStatistics(ctx); err != nil {
			return err
		}
	}
	type nsDecl struct {
		name   string
		fields []driver.Field
	}
	var decls []nsDecl
	// recorded counts the namespace's index_fields rows and, on
	// PostgreSQL, its index_building flag (migration 00032), which a build
	// that died leaves set: the namespace is reconciled (syncIndexBuilding).
	recorded := "(SELECT count(*) FROM index_fields f WHERE f.namespace_id = n.id)"
	if x.s.eng.dialect().Name() == dialect.Postgres {
		recorded += " + CASE WHEN n.index_building THEN 1 ELSE 0 END"
	}
	err := q.queryRows(ctx, "SELECT n.name, CAST(n.indexes AS TEXT), "+recorded+" FROM namespaces n", nil, func(r rowScanner) error {
		var d nsDecl
		var text string
		var recorded int64
		if err := r.Scan(&d.name, &text, &recorded); err != nil {
			return err
		}
		texts, err := decodeIndexes([]byte(text))
		if err != nil {
			return err
		}
		if d.fields, err = parseIndexes(texts); err != nil {
			return fmt.Errorf("namespaces.indexes of namespace %q: %w", d.name, err)
		}
		if len(d.fields) > 0 || recorded > 0 {
			decls = append(decls, d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if reconcileHook != nil {
		reconcileHook()
	}
	for _, d := range decls {
		err := x.s.eng.inTx(ctx, func(q querier) error {
			n, err := q.lockNamespace(ctx, d.name)
			if err != nil {
				return err
			}
			// The declaration again, under the lock: another store's
			// CreateIndex or DropIndex may have changed it since the
			// first read (the fields of d are only what it was then).
			cur, err := q.dumpNamespace(ctx, d.name)
			if err != nil {
				return err
			}
			fields, err := parseIndexes(cur.Indexes)
			if err != nil {
				return fmt.Errorf("namespaces.indexes of namespace %q: %w", d.name, err)
			}
			have, err := x.indexFields(ctx, q, n.ID)
			if err != nil {
				return err
			}
			for text := range have {
				if !slices.ContainsFunc(fields, func(f driver.Field) bool { return f.Text == text }) {
					if err := x.dropIndexField(ctx, q, n.ID, text); err != nil {
						return err
					}
				}
			}
			if err := x.addIndexFields(ctx, q, n.ID, fields); err != nil {
				return err
			}
			return x.syncIndexBuilding(ctx, q, n.ID)
		})
		if err != nil && !errors.Is(err, errNoRow) { // a namespace deleted meanwhile
			return err
		}
	}
	return nil
}

// sqliteStatistics adjusts the statistics an ANALYZE (or PRAGMA optimize)
// left in a SQLite file, at Open:
//
//   - It deletes the rows of sqlite_stat4. With STAT4 statistics (the
//     driver's SQLite is built with them) a statement whose bound
//     parameters are compared with indexed columns is prepared again each
//     time it runs with new values, so that the planner can use the
//     samples; every Query, Count and List binds the store's clock and its
//     filter's values that way, and re-preparing them doubled the CPU of
//     an indexed eq Query (TestSQLiteStatistics). The plans the engine
//     needs come from its index shapes and sqlite_stat1 alone
//     (TestIndexesUsed runs with statistics and without).
//   - It marks the statistics of index_entries "noskipscan". When most
//     index rows belong to one namespace, SQLite's planner, seeing that
//     the namespace column does not narrow the index, prefers a skip-scan
//     over it, which loses the index order, and then sorts what a range or
//     a cursor page matches.
//
// It makes every connection reload the statistics; an ANALYZE run later
// brings both back until the next Open.
func (x *ops) sqliteStatistics(ctx context.Context) error {
	q := x.s.eng.writer()
	have := map[string]bool{}
	err := q.queryRows(ctx, "SELECT name FROM sqlite_schema WHERE name IN ('sqlite_stat1', 'sqlite_stat4')", nil, func(r rowScanner) error {
		var name string
		err := r.Scan(&name)
		have[name] = true
		return err
	})
	if err != nil {
		return err
	}
	changed := int64(0)
	if have["sqlite_stat4"] {
		n, err := q.exec(ctx, "DELETE FROM sqlite_stat4")
		if err != nil {
			return err
		}
		changed += n
	}
	if have["sqlite_stat1"] {
		n, err := q.exec(ctx, "UPDATE sqlite_stat1 SET stat = stat || ' noskipscan' WHERE tbl = 'index_entries' AND stat NOT LIKE '%noskipscan%'")
		if err != nil {
			return err
		}
		changed += n
	}
	if changed == 0 {
		return nil
	}
	// A schema change makes every connection reload the schema, and with
	// it the statistics.
	for _, stmt := range []string{"CREATE VIEW IF NOT EXISTS stat_reload AS SELECT 1", "DROP VIEW stat_reload", "ANALYZE sqlite_schema"} {
		if _, err := q.exec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
