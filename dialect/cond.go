package dialect

import "github.com/mycelia-kernel/storage/driver"

// Cond is a condition of a WHERE clause: SQL text with "?" placeholders
// (Compiler.PlaceholderFormat converts them) and its arguments, as ToSql
// returns them. Its method set is the one squirrel's builders take, so the
// engine composes conditions with them, but this package's API does not
// name squirrel: the query builder is the engine's choice, not the
// dialect's.
type Cond interface {
	ToSql() (sql string, args []any, err error)
}

// Placeholders rewrites the "?" placeholders of a statement into the
// dialect's own (PostgreSQL: $1, $2, …).
type Placeholders interface {
	ReplacePlaceholders(sql string) (string, error)
}

// IndexScan returns the conditions on index_entries that filter e implies
// for path field f, as one Cond (nil when there are none), and how
// selective they are (ScanNone to ScanPoint). Only the leaves that every
// match must satisfy count (those of e itself, or of its and nodes): each
// condition is implied by the filter, so adding them to a statement that
// also applies the filter changes no answer.
func (c *Compiler) IndexScan(e driver.Expr, f driver.Field) (Cond, int) {
	conds, scan := c.indexScan(e, f)
	if len(conds) == 0 {
		return nil, scan
	}
	return conds, scan
}
