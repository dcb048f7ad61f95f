package sqlstore

import (
	"strconv"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// indexOnly reports whether a Count driven by d can read index_entries
// alone: the index answers the whole filter exactly (no residual to
// apply to the entries' JSON). index_entries carries each entry's key and
// expiry (ix_exp, migration 00014), which is all else Count needs.
func (d indexDrive) indexOnly(c *dialect.Compiler, e driver.Expr) bool {
	return d.residual(c, e, true).Kind == driver.ExprAll
}

// countStatement writes the Count of the entries of namespace nsID (named
// ns) that d's conditions select, live at now and in o's key ranges, from
// index_entries alone (see indexOnly). Namespace and field ids are never
// reused (migration 00028), so stale cached ids select no rows (nsInfo;
// with namespaceLive, for an unlinked namespace's rows, and fieldLive, for
// the rows of a field being dropped).
func (d indexDrive) countStatement(c *dialect.Compiler, nsID int64, now time.Time, o driver.CallOptions) (string, []any, error) {
	a := dialect.IndexAlias + "."
	// An unlinked namespace's index rows keep its old id until purged
	// (namespaceCond).
	ids := sq.And{sq.Expr(a + "ix_ns = " + strconv.FormatInt(nsID, 10) + " AND " + a + "ix_field = " + strconv.FormatInt(d.fid, 10)),
		d.liveConds(c, nsID, true)}
	count := func(live bool) sq.SelectBuilder {
		b := d.indexFrom(sq.Select("count(*)"), nsID).Where(ids)
		if live {
			b = b.Where(sq.Expr("("+a+"ix_exp IS NULL OR "+a+"ix_exp > ?)", c.Bind(dialect.TimeInput(now), dialect.XTime)))
		}
		if d.conds != nil {
			b = b.Where(d.conds)
		}
		if r := keyRangesOn(c, a+"ix_key", o); r != nil {
			b = b.Where(r)
		}
		return b
	}
	if c.PlaceholderFormat() == sq.Dollar {
		return count(true).PlaceholderFormat(sq.Dollar).ToSql()
	}
	// SQLite: testing ix_exp on every index row counted cost a third of
	// the count (the record decoded up to that column, the OR evaluated).
	// As List does (listLiveCond), the statement first asks whether any
	// row of the store has expired, once: when none has, it counts the
	// index rows without the test, else with it. The cost never depends on
	// how many expired rows wait for the sweeper: either branch is one
	// range of the index.
	t := c.Bind(dialect.TimeInput(now), dialect.XTime)
	return sq.Select().
		Column(sq.Expr("CASE WHEN NOT EXISTS (SELECT 1 FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?) THEN (?) ELSE (?) END",
			t, count(false), count(true))).
		ToSql()
}
