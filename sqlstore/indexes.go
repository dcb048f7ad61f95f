package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// Declared indexes (storage.WithIndexes). For each declared field the
// engine creates one index per expression its filters and sorts write for
// that field: the field's number and its string projections, exactly as
// dialect.Compiler spells them in WHERE and ORDER BY, so the planner matches
// them; and one sort index over the whole ORDER BY of a sort on the field
// (type rank, number, string, key), so that a sorted query with a limit
// reads only the rows it returns instead of sorting the namespace. The index key is (namespace_id, expression): the namespace's own
// entries are one contiguous range of it, so an index serves each namespace
// that declares the field as if it were its own. The physical index is
// shared by every namespace that declares the same field (its name is a
// hash of the expression), and, being a plain index on the table, it also
// holds the (NULL-valued) rows of other namespaces.
//
// On PostgreSQL both are B-tree indexes; the number projection serves eq,
// in, gt/gte/lt/lte and sorts on numbers, the string projection the same on
// strings. No GIN index is built: contains is substring search on strings
// and element equality by double value on arrays, which jsonb's @> (exact
// numeric equality, containment rather than equality) does not express, so
// a GIN index could not be used without changing the answers.
//
// SQLite without statistics (no ANALYZE yet) prefers the primary key, which
// returns rows in the key order Query wants, over an expression index, and
// then reads a whole namespace to find one value. So the engine seeds
// sqlite_stat1 for the indexes it creates (and the primary key) with the
// estimates of a large namespace and a selective field, unless statistics
// already exist; a real ANALYZE replaces them. The seeds are written before
// the CREATE INDEX, whose schema change makes the other connections reload
// the statistics (a connection plans the first statement it runs after the
// change before it has reloaded them); ANALYZE sqlite_schema makes the
// writer reload them.
func (x *ops) createIndexes(ctx context.Context, fields []storage.Field) error {
	ixs := declaredIndexes(x.compiler(), fields)
	q := x.sc.writer()
	if x.s.eng.dialect().Name() == dialect.SQLite {
		if _, err := q.exec(ctx, "ANALYZE sqlite_schema"); err != nil { // creates sqlite_stat1
			return err
		}
		for _, ix := range append([]physicalIndex{{name: "sqlite_autoindex_entries_1", stat: seededStat}}, ixs...) {
			_, err := q.exec(ctx, `INSERT INTO sqlite_stat1 (tbl, idx, stat) SELECT 'entries', ?, ? `+
				`WHERE NOT EXISTS (SELECT 1 FROM sqlite_stat1 WHERE tbl = 'entries' AND idx = ?)`, ix.name, ix.stat, ix.name)
			if err != nil {
				return err
			}
		}
	}
	for _, ix := range ixs {
		if _, err := q.exec(ctx, ix.create); err != nil {
			return err
		}
	}
	if x.s.eng.dialect().Name() == dialect.SQLite {
		// The connection that changed the schema reloads statistics only
		// when told to.
		if _, err := q.exec(ctx, "ANALYZE sqlite_schema"); err != nil {
			return err
		}
	}
	return nil
}

// physicalIndex is one index the engine creates for declared fields.
type physicalIndex struct {
	name   string
	stat   string // the sqlite_stat1 estimate seeded for it
	create string // its CREATE INDEX IF NOT EXISTS statement
}

// declaredIndexes returns the indexes of the declared fields, each once,
// in the order the fields give.
func declaredIndexes(c *dialect.Compiler, fields []storage.Field) []physicalIndex {
	var out []physicalIndex
	add := func(ix physicalIndex) {
		for _, o := range out {
			if o.name == ix.name {
				return
			}
		}
		out = append(out, ix)
	}
	for _, f := range fields {
		for _, expr := range c.IndexExprs(f) {
			name := indexName(expr)
			add(physicalIndex{name: name, stat: seededStat, create: c.CreateIndex(name, expr)})
		}
		if exprs := c.SortIndexExprs(f); exprs != nil {
			name := indexName("sort:" + strings.Join(exprs, ", "))
			add(physicalIndex{name: name, stat: seededSortStat, create: c.CreateSortIndex(name, exprs)})
		}
	}
	return out
}

// seededStat is the sqlite_stat1 estimate seeded for the engine's indexes:
// a million entries, a thousand per namespace, one per indexed value.
const seededStat = "1000000 1000 1"

// seededSortStat is the estimate seeded for a sort index (namespace_id,
// rank, number, string, key): a thousand entries per namespace, a few
// types per field, one entry per value.
const seededSortStat = "1000000 1000 500 1 1 1"

// indexName names the index of an expression: stable, and the same for
// every namespace that declares the field.
func indexName(expr string) string {
	sum := sha256.Sum256([]byte(expr))
	return "entries_ix_" + hex.EncodeToString(sum[:10])
}
