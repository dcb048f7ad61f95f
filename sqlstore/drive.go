package sqlstore

import (
	"context"
	"strconv"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// A filter on one declared field and a sort on another (issue 13: "eq on
// one field + sort on another declared field").
//
// Driven by the sort field's index, a statement reads the index in the
// sort's order and tests each row against the filter until the page is
// full: fast when matches are dense, a walk of the whole index when they
// are few (Eq("city", x) sorted by age with no or a few matches: 1.2-2.6 s
// at 100k entries). Driven by the filter field's index, it reads the
// matches only and sorts them: fast when they are few, a sort of all of
// them when they are many. Neither is right for every distribution, so
// Query probes: it counts, up to filterDriveRows (K), the rows of the
// filter field's index that the filter's conditions on that field select
// (the rows the filter-driven statement would read, expired ones
// included), with one index range read of at most K rows.
//
//   - Fewer than K: the filter field drives, and the statement sorts at
//     most K-1 rows (a few milliseconds at most).
//   - K or more: the sort field drives. Matches are then at least K of the
//     field's rows, so for data not correlated against the sort the walk
//     reads about (offset+limit+1)·N/K index rows to fill the page (N the
//     namespace's rows with the sort field); data whose matches all sort
//     last still walks far (a composite index would be needed).
//   - Without a limit every match is returned: the filter field drives
//     (it reads only the matches), with no probe.
//
// The probe is evaluated on every call (its statement is cached like
// Query's, its outcome never is), and the outcome is part of the key of
// Query's cached statement. The cursor page, the group of ties read again
// (buildTieQuery) and the offset all follow the same decision, recorded
// in queryPrep.byFilter.

// filterDriveRows is K above.
var filterDriveRows = 1000

// decideDrive sets p.byFilter for Query's call o on namespace nsi, whose
// statement key so far is k (the call's shape and values): whether a
// declared field the filter restricts, other than the sort's first field
// (which is declared), drives the statement instead, as the probe above
// decides. It runs once per call; buildTieQuery reuses the outcome.
func (x *ops) decideDrive(ctx context.Context, k *stmtKey, p *queryPrep, o driver.CallOptions, nsi nsInfo) error {
	if p.decided {
		return nil
	}
	p.decided = true
	q, args, err := x.probeQuery(k, *p, o, nsi)
	if err != nil || q == "" {
		return err
	}
	if o.Limit < 0 {
		p.byFilter = true
		return nil
	}
	var rows int64
	if err := x.sc.reader().queryRows(ctx, q, args, func(r rowScanner) error { return r.Scan(&rows) }); err != nil {
		return err
	}
	p.byFilter = rows < int64(filterDriveRows)
	return nil
}

// probeQuery returns decideDrive's probe for Query's call o on nsi, whose
// statement key so far is k, through the query cache: "" when there is
// nothing to probe (see probeStatement), or the sort's first field is not
// a declared one.
func (x *ops) probeQuery(k *stmtKey, p queryPrep, o driver.CallOptions, nsi nsInfo) (string, []any, error) {
	if len(o.SortFields) == 0 || !isPath(o.SortFields[0]) {
		return "", nil, nil
	}
	if _, ok := nsi.fields[o.SortFields[0].Text]; !ok {
		return "", nil, nil
	}
	n := len(k.b)
	defer func() { k.b = k.b[:n] }()
	k.b = append(k.b, 'P')
	k.b = strconv.AppendInt(k.b, int64(filterDriveRows), 10)
	q, args, _, err := x.cached(k, func(c *dialect.Compiler) (string, []any, []sortCol, error) {
		q, args, err := probeStatement(c, p.e, o.SortFields[0], nsi)
		return q, args, nil, err
	})
	return q, args, err
}

// probeStatement writes the probe of the declared field that filter e
// restricts most other than the sort field sort (filterIndex): the count
// of at most filterDriveRows rows of its index that e's conditions on it
// select. q is "" when e restricts no such field, or pins sort to one
// value (the sort field's index then reads the matches only, in order).
func probeStatement(c *dialect.Compiler, e driver.Expr, sort driver.Field, nsi nsInfo) (q string, args []any, err error) {
	if _, scan := c.IndexScan(e, sort); scan == dialect.ScanPoint {
		return "", nil, nil
	}
	d, ok := filterIndex(c, e, nsi, sort.Text)
	if !ok {
		return "", nil, nil
	}
	a := dialect.IndexAlias + "."
	b := d.indexFrom(sq.Select("1"), nsi.id).
		Where(sq.Expr(a + "ix_ns = " + strconv.FormatInt(nsi.id, 10) + " AND " + a + "ix_field = " + strconv.FormatInt(d.fid, 10)))
	if d.conds != nil {
		b = b.Where(d.conds)
	}
	b = b.Limit(uint64(filterDriveRows))
	return sq.Select("count(*)").FromSelect(b, "probe").PlaceholderFormat(c.PlaceholderFormat()).ToSql()
}
