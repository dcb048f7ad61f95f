package sqlstore

import (
	"context"
	"math"
	"strconv"
	"time"

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
// Query probes: it counts, up to K (driveRows), the rows of the filter
// field's index that the filter's conditions on that field select (the
// rows the filter-driven statement would read, expired ones included),
// with one index range read of at most K rows.
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

// K follows the namespace's size. For a page of 20 and m matches not
// correlated with the sort, the walk of the sort field's index reads about
// 21·N/m index rows (N the namespace's entries) and the filter-driven
// statement sorts m rows: the two cost the same near m = sqrt(21·N), about
// 1,450 matches at 100k entries and 4,600 at 1M (bench/results/
// 2026-12-02-eqsort.md, 2026-12-02-idx1m.md). driveRows takes N from the
// namespace's entry_count (which counts expired rows not yet swept, and on
// SQLite lags by fewer than 32 revisions: an estimate is all K needs),
// read at most once per nsRowsTTL per namespace, and returns sqrt(21·N)
// rounded to the nearest step 1000·2^(j/2) (1000, 1414, 2000, 2828, 4000,
// ...), so that few probe statements are cached per shape, with:
//
//   - a floor of driveRowsMin = 1000, the fixed K before: below it both
//     statements read at most a few thousand rows, and small namespaces
//     keep their plans;
//   - a ceiling of driveRowsMax = 16000 (reached near 12M entries): it
//     bounds what a probe reads on every call of a dense filter and what
//     the filter-driven statement sorts.

// filterDriveRows, when above 0, is K for every namespace (tests force it);
// 0: K follows the namespace's size (driveRows).
var filterDriveRows = 0

const (
	driveRowsMin = 1000
	driveRowsMax = 16000
	// nsRowsTTL is how long driveRows keeps a namespace's entry count.
	nsRowsTTL = 10 * time.Second
)

// nsRows is a namespace's entry count as driveRows read it, and when.
type nsRows struct {
	n  int64
	at time.Time
}

// driveK is K for a namespace of n entries: sqrt(21·n) in steps of
// 1000·2^(j/2), within [driveRowsMin, driveRowsMax].
func driveK(n int64) int {
	m := math.Sqrt(21 * float64(max(n, 0)))
	if m <= driveRowsMin {
		return driveRowsMin
	}
	j := math.Round(2 * math.Log2(m/driveRowsMin))
	return min(int(math.Round(driveRowsMin*math.Pow(2, j/2))), driveRowsMax)
}

// driveRows is the probe's K for namespace nsi: filterDriveRows when set,
// else driveK of its entry count, read from its namespaces row (outside any
// transaction: inside one the cached count serves, or the floor) and kept
// for nsRowsTTL.
func (x *ops) driveRows(ctx context.Context, nsi nsInfo) (int, error) {
	if filterDriveRows > 0 {
		return filterDriveRows, nil
	}
	v, ok := x.s.nsRows.get(nsi.id, nsRowsMax)
	if ok && time.Since(v.at) < nsRowsTTL {
		return driveK(v.n), nil
	}
	if _, direct := x.sc.(storeScope); !direct {
		if ok {
			return driveK(v.n), nil
		}
		return driveRowsMin, nil
	}
	q, args, err := sq.Select("entry_count").From("namespaces").Where(sq.Eq{"id": nsi.id}).
		PlaceholderFormat(x.compiler().PlaceholderFormat()).ToSql()
	if err != nil {
		return 0, err
	}
	var n int64
	if err := x.s.eng.reader().queryRows(ctx, q, args, func(r rowScanner) error { return r.Scan(&n) }); err != nil {
		return 0, err
	}
	x.s.nsRows.put(nsi.id, nsRows{n: n, at: time.Now()}, nsRowsMax)
	return driveK(n), nil
}

// nsRowsMax bounds how many namespaces' counts a generation of
// Store.nsRows keeps (genMap). A store that queries many namespaces, or
// creates, queries and deletes them for hours (PostgreSQL never reuses an
// id), would otherwise keep one count per namespace it ever queried; a
// count not used for a generation is dropped and read again when needed
// (one primary-key read).
var nsRowsMax int64 = 4096

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
	if !sortDeclared(o, nsi) {
		return nil
	}
	kRows := driveRowsMin // without a limit there is no count
	if o.Limit >= 0 {
		var err error
		if kRows, err = x.driveRows(ctx, nsi); err != nil {
			return err
		}
	}
	q, args, err := x.probeQuery(k, *p, o, nsi, kRows)
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
	p.byFilter = rows < int64(kRows)
	return nil
}

// probeQuery returns decideDrive's probe with K = kRows for Query's call o
// on nsi, whose statement key so far is k, through the query cache: ""
// when there is nothing to probe (see probeStatement), or the sort's first
// field is not a declared one.
func (x *ops) probeQuery(k *stmtKey, p queryPrep, o driver.CallOptions, nsi nsInfo, kRows int) (string, []any, error) {
	if !sortDeclared(o, nsi) {
		return "", nil, nil
	}
	n := len(k.b)
	defer func() { k.b = k.b[:n] }()
	k.b = append(k.b, 'P')
	k.b = strconv.AppendInt(k.b, int64(kRows), 10)
	q, args, _, err := x.cached(k, func(c *dialect.Compiler) (string, []any, []sortCol, error) {
		q, args, err := probeStatement(c, p.e, o.SortFields[0], nsi, kRows)
		return q, args, nil, err
	})
	return q, args, err
}

// probeStatement writes the probe of the declared field that filter e
// restricts most other than the sort field sort (filterIndex): the count
// of at most kRows rows of its index that e's conditions on it select. q
// is "" when e restricts no such field, or pins sort to one value (the
// sort field's index then reads the matches only, in order).
func probeStatement(c *dialect.Compiler, e driver.Expr, sort driver.Field, nsi nsInfo, kRows int) (q string, args []any, err error) {
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
	b = b.Limit(uint64(kRows))
	return sq.Select("count(*)").FromSelect(b, "probe").PlaceholderFormat(c.PlaceholderFormat()).ToSql()
}

// sortDeclared reports whether the first sort field of o is a field that
// nsi declares.
func sortDeclared(o driver.CallOptions, nsi nsInfo) bool {
	if len(o.SortFields) == 0 || !isPath(o.SortFields[0]) {
		return false
	}
	_, ok := nsi.fields[o.SortFields[0].Text]
	return ok
}
