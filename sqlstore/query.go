package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// nsCond restricts a statement to the entries of the namespace named ns
// (a bound parameter). A missing namespace selects no rows.
func nsCond(ns any) sq.Sqlizer {
	return sq.Expr("namespace_id = (SELECT id FROM namespaces WHERE name = ?)", ns)
}

// liveCond restricts a statement to the entries that have not expired at
// now, the engine's clock (bound as a parameter: never the database's).
func liveCond(c *dialect.Compiler, now time.Time) sq.Sqlizer {
	return sq.Expr("(expires_at IS NULL OR expires_at > ?)", c.Bind(dialect.TimeInput(now), dialect.XTime))
}

// listLiveCond is liveCond for List's statement. On SQLite the primary
// key's index holds namespace_id, key and the rowid but not expires_at, so
// liveCond made List read every listed entry's row from the table. This
// form first asks whether any row of the store has expired (a NOT EXISTS
// over the partial index entries_expires_at, which SQLite runs once per
// statement): when none has, the test is true without the entry's row,
// and SQLite never reads it (its seek of the row is deferred until a
// column is needed), so List reads the index alone: 1.9 times less SQLite
// time for a page of 100 keys. When some row has expired, anywhere, each
// listed entry's expires_at is read, as liveCond does: the cost of a page
// never depends on how many expired rows wait for the sweeper (a test of
// the rowid against the list of every expired rowid did, in every
// namespace: TestExpiredElsewhereBounded). A row is expired when its
// expires_at is not NULL and at most now: the complement of liveCond's
// test. It is a CASE, not an OR: SQLite orders an OR's terms itself and
// read expires_at, so the row, before the NOT EXISTS (checkLiveTestBounded).
func listLiveCond(c *dialect.Compiler, now time.Time, sqlite bool) sq.Sqlizer {
	if !sqlite {
		return liveCond(c, now)
	}
	t := c.Bind(dialect.TimeInput(now), dialect.XTime)
	return sq.Expr("CASE WHEN NOT EXISTS (SELECT 1 FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?)"+
		" THEN 1 ELSE expires_at IS NULL OR expires_at > ? END", t, t)
}

// The filter compilers of the dialects (immutable).
var (
	sqliteCompiler   = mustCompiler(dialect.SQLite)
	postgresCompiler = mustCompiler(dialect.Postgres)
)

func mustCompiler(name dialect.Name) *dialect.Compiler {
	c, err := dialect.NewCompiler(name)
	if err != nil {
		panic(err)
	}
	return c
}

// compiler returns the filter compiler of the store's dialect.
func (x *ops) compiler() *dialect.Compiler {
	if x.s.eng.dialect().Name() == dialect.Postgres {
		return postgresCompiler
	}
	return sqliteCompiler
}

// pageLimit applies Limit and Offset: one row more than the limit is read,
// to know whether another page follows. A limit so large that one more
// would not fit a BIGINT reads at most math.MaxInt64 rows, which is the same.
func pageLimit(b sq.SelectBuilder, o driver.CallOptions) sq.SelectBuilder {
	if o.Limit >= 0 {
		b = b.Limit(min(uint64(o.Limit)+1, math.MaxInt64))
	}
	if o.Offset > 0 {
		if o.Limit < 0 {
			b = b.Limit(math.MaxInt64)
		}
		b = b.Offset(uint64(o.Offset))
	}
	return b
}

// listArms is the most key spans List reads as separate arms of one
// UNION ALL; beyond it one statement tests the spans with OR.
var listArms = 64

// List implements storage.Ops. The keys it reads are the spans of the
// primary key that the pattern's literal prefix and InKeyRanges leave (the
// cursor cuts them further). Two or more spans are read as the arms of one
// UNION ALL, each in key order and limited to Offset+Limit+1 keys, so a
// page costs index reads near its size however many keys lie between the
// spans.
func (x *ops) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	const op = "list"
	o, err := x.start(ctx, op, "", driver.KindNamespace|driver.KindPattern|driver.KindLimit|driver.KindOffset|driver.KindCursor|driver.KindKeyRanges|driver.KindMaxBytes, opts)
	if err != nil {
		return storage.ListResult{}, err
	}
	ns := o.Namespace.Name
	res := storage.ListResult{Keys: []string{}}
	q, args, err := x.listQuery(o)
	if err != nil {
		return storage.ListResult{}, x.s.failCtx(ctx, op, ns, "", err)
	}
	if q == "" {
		return res, nil
	}
	// One destination for every row: a variable scanned into inside the
	// callback escapes, and with the argument list of Scan that was two
	// allocations per key (200 of a page of 100's 460).
	keys := make([]string, 0, listCap(o.Limit))
	var k string
	dest := []any{&k}
	b := readBudget(o)
	err = readRows(ctx, x.sc.reader(), b != nil, q, args, func(r rowScanner) error {
		if err := over(b); err != nil {
			return err
		}
		if err := r.Scan(dest...); err != nil {
			return err
		}
		keys = append(keys, k)
		spend(b, len(k))
		return nil
	})
	cut := errors.Is(err, errReadBudget)
	if err != nil && !cut {
		return storage.ListResult{}, x.s.failCtx(ctx, op, ns, "", err)
	}
	if cut && (o.Limit < 0 || len(keys) <= o.Limit) {
		// MaxBytes stopped the page before its end: it ends at its last
		// key read (the rows come in key order).
		res.Cursor = encodeCursor(cursor{Op: op, Hash: listHash(o), Key: keys[len(keys)-1]})
	} else if o.Limit >= 0 && len(keys) > o.Limit {
		keys = keys[:o.Limit]
		if len(keys) > 0 {
			res.Cursor = encodeCursor(cursor{Op: op, Hash: listHash(o), Key: keys[len(keys)-1]})
		}
	}
	res.Keys = keys
	return res, nil
}

// listCap is the capacity to allocate for a page of at most limit keys
// (and the one more that says whether there is a next page): none without
// a limit, and at most 1024, so a large limit does not allocate a page it
// may not fill.
func listCap(limit int) int {
	if limit < 0 {
		return 0
	}
	return min(limit, 1023) + 1
}

// listHash is the fingerprint of List's cursors: the namespace and the
// pattern.
func listHash(o driver.CallOptions) string {
	return fingerprint("list", o.Namespace.Name, o.Pattern, o.Set&driver.KindPattern != 0)
}

// listQuery writes List's statement for o; q is "" when no key can match.
// It is the only place that does, so EXPLAIN tests see exactly what List
// runs. The statement comes from the query cache when it holds one for
// the call's form: the pattern's kind, the spans left (each with which
// bounds it has, and whether the cursor bounds it), limit and offset.
func (x *ops) listQuery(o driver.CallOptions) (q string, args []any, err error) {
	c := x.compiler()
	var after *string
	if o.Cursor != "" {
		cur, err := decodeCursor(o.Cursor, "list", listHash(o))
		if err != nil {
			return "", nil, err
		}
		after = &cur.Key
	}
	spans := []storage.KeyRange{{}}
	if o.Set&driver.KindKeyRanges != 0 {
		spans = o.KeyRanges
	}
	// The pattern: the key equal to a literal, or in the range of its
	// prefix and (unless it is a prefix and one "*") matching it.
	var literal *string
	var match sq.Sqlizer
	if o.Set&driver.KindPattern != 0 {
		p := c.CompilePattern(o.Pattern)
		if p.Literal {
			literal = &p.Prefix
			spans = cutSpans(spans, storage.KeyRange{From: p.Prefix}, func(r storage.KeyRange) bool { return r.Contains(p.Prefix) })
		} else {
			spans = cutSpans(spans, storage.PrefixRange(p.Prefix), nil)
			match = p.Match
		}
	}
	if after != nil {
		// A copy: spans may still be o.KeyRanges, the caller's.
		spans = slices.DeleteFunc(slices.Clone(spans), func(r storage.KeyRange) bool { return r.To != "" && r.To <= *after })
	}
	if len(spans) == 0 {
		return "", nil, nil
	}
	// The pattern's match is "key GLOB ?" or "key LIKE ? …": its text
	// depends on the dialect only, its parameter is bound.
	var matchSQL, matchArg string
	if match != nil {
		var margs []any
		if matchSQL, margs, err = match.ToSql(); err != nil {
			return "", nil, err
		}
		matchArg = margs[0].(string)
	}
	k := getStmtKey()
	defer k.release()
	k.b = append(k.b, 'L')
	k.b = append(k.b, matchSQL...)
	k.b = append(k.b, '0'+b2i(literal != nil), '0'+b2i(after != nil))
	k.in = append(k.in, dialect.StrInput(o.Namespace.Name), dialect.TimeInput(x.s.now()), dialect.StrInput(matchArg))
	if literal != nil {
		k.in = append(k.in, dialect.StrInput(*literal))
	}
	if after != nil {
		k.in = append(k.in, dialect.StrInput(*after))
	}
	k.b = strconv.AppendInt(k.b, int64(len(spans)), 10)
	for _, r := range spans {
		k.b = append(k.b, '0'+b2i(r.From == ""), '0'+b2i(r.To == ""), '0'+b2i(after != nil && *after >= r.From))
		k.in = append(k.in, dialect.StrInput(r.From), dialect.StrInput(r.To))
	}
	k.b = append(k.b, 'L')
	k.b = strconv.AppendInt(k.b, int64(o.Limit), 10)
	k.b = append(k.b, 'O')
	k.b = strconv.AppendInt(k.b, int64(o.Offset), 10)
	sqlite := x.s.eng.dialect().Name() == dialect.SQLite
	q, args, _, err = x.cached(k, func(c *dialect.Compiler) (string, []any, []sortCol, error) {
		base := sq.And{nsCond(c.Bind(k.in[0], dialect.XStr)), listLiveCond(c, k.in[1].S.Time, sqlite)}
		if literal != nil {
			base = append(base, sq.Expr("key = ?", c.Bind(dialect.StrInput(*literal), dialect.XStr)))
		}
		if match != nil {
			base = append(base, sq.Expr(matchSQL, c.Bind(k.in[2], dialect.XStr)))
		}
		q, args, err := listStatement(c, base, spans, after, o)
		if err != nil {
			return "", nil, nil, err
		}
		q, err = c.PlaceholderFormat().ReplacePlaceholders(q)
		return q, args, nil, err
	})
	return q, args, err
}

// cutSpans intersects each span with r, dropping the empty ones and, when
// keep is not nil, the ones keep refuses.
func cutSpans(spans []storage.KeyRange, r storage.KeyRange, keep func(storage.KeyRange) bool) []storage.KeyRange {
	var out []storage.KeyRange
	for _, s := range spans {
		if keep != nil {
			if keep(s) {
				out = append(out, s)
			}
			continue
		}
		s.From = max(s.From, r.From)
		if s.To == "" || (r.To != "" && r.To < s.To) {
			s.To = r.To
		}
		if s.To == "" || s.From < s.To {
			out = append(out, s)
		}
	}
	return out
}

// spanCond is the condition that key lies in s, and after *after when it
// is not nil, its bounds bound by c. It has one lower bound on key, the
// greater: SQLite searches the primary key from only one of two lower
// bounds on a column and tests the other on every row it reads, so a
// cursor far before a span's start read every key between them (issue
// 15, item 5: List over InKeyRanges read all of the keys the caller
// cannot see after its cursor).
func spanCond(c *dialect.Compiler, s storage.KeyRange, after *string) sq.And {
	return spanCondOn(c, "key", s, after)
}

// spanCondOn is spanCond on column col.
func spanCondOn(c *dialect.Compiler, col string, s storage.KeyRange, after *string) sq.And {
	var and sq.And
	switch {
	case after != nil && *after >= s.From:
		and = append(and, sq.Expr(col+" > ?", c.Bind(dialect.StrInput(*after), dialect.XStr)))
	case s.From != "":
		and = append(and, sq.Expr(col+" >= ?", c.Bind(dialect.StrInput(s.From), dialect.XStr)))
	}
	if s.To != "" {
		and = append(and, sq.Expr(col+" < ?", c.Bind(dialect.StrInput(s.To), dialect.XStr)))
	}
	return and
}

// keyRangesCond is the condition of InKeyRanges for Query and Count; nil
// when it was not given.
func keyRangesCond(c *dialect.Compiler, o driver.CallOptions) sq.Sqlizer {
	return keyRangesOn(c, "key", o)
}

// keyRangesOn is keyRangesCond on column col.
func keyRangesOn(c *dialect.Compiler, col string, o driver.CallOptions) sq.Sqlizer {
	if o.Set&driver.KindKeyRanges == 0 {
		return nil
	}
	if len(o.KeyRanges) == 0 {
		return sq.Expr("1 = 0")
	}
	or := sq.Or{}
	for _, s := range o.KeyRanges {
		if and := spanCondOn(c, col, s, nil); len(and) > 0 {
			or = append(or, and)
		} else {
			return nil // every key
		}
	}
	return balancedOr(or)
}

// maxFlatOr is the most terms balancedOr leaves in one flat OR.
const maxFlatOr = 64

// balancedOr is or with its terms nested in a balanced tree of ORs when
// there are more than maxFlatOr: SQLite refuses an expression tree deeper
// than 1000, and "a OR b OR c …" is a chain as deep as it is long, so
// InKeyRanges with its documented maximum of ranges failed there ("SQL
// logic error: Expression tree is too large"). Both planners flatten
// nested ORs: the plan is the same.
func balancedOr(or sq.Or) sq.Sqlizer {
	if len(or) <= maxFlatOr {
		return or
	}
	half := len(or) / 2
	return sq.Or{balancedOr(or[:half]), balancedOr(or[half:])}
}

// listStatement writes List's statement (with ? placeholders) over spans
// (at least one) and after the cursor's key after (nil: none): one SELECT
// testing the spans with OR, or a UNION ALL of one limited arm per span.
func listStatement(c *dialect.Compiler, base sq.And, spans []storage.KeyRange, after *string, o driver.CallOptions) (string, []any, error) {
	if len(spans) == 1 || len(spans) > listArms {
		or := sq.Or{}
		for _, s := range spans {
			or = append(or, spanCond(c, s, after))
		}
		where := balancedOr(or)
		if len(spans) == 1 {
			where = spanCond(c, spans[0], after)
		}
		return pageLimit(sq.Select("key").From("entries").Where(base).Where(where).OrderBy("key"), o).ToSql()
	}
	var sb strings.Builder
	var args []any
	for i, s := range spans {
		arm := sq.Select("key").From("entries").Where(base).Where(spanCond(c, s, after)).OrderBy("key")
		if o.Limit >= 0 {
			arm = arm.Limit(min(uint64(o.Limit)+uint64(o.Offset)+1, math.MaxInt64))
		}
		q, a, err := arm.ToSql()
		if err != nil {
			return "", nil, err
		}
		if i > 0 {
			sb.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&sb, "SELECT key FROM (%s) AS span%d", q, i)
		args = append(args, a...)
	}
	unionTail(&sb, o)
	return sb.String(), args, nil
}

// Count implements storage.Ops.
func (x *ops) Count(ctx context.Context, opts ...storage.Option) (int64, error) {
	const op = "count"
	o, err := x.start(ctx, op, "", driver.KindNamespace|driver.KindFilter|driver.KindKeyRanges, opts)
	if err != nil {
		return 0, err
	}
	ns := o.Namespace.Name
	var n int64
	now := x.s.now()
	// The filter is compiled (and so checked) on the namespace, missing
	// or not: run always runs.
	err = x.withNamespaceID(ctx, ns, func(nsi nsInfo) (bool, error) {
		q, args, err := x.countStatement(o, nsi, now)
		if err != nil {
			return false, err
		}
		err = x.sc.reader().queryRows(ctx, q, args, func(r rowScanner) error { return r.Scan(&n) })
		return n > 0, err
	})
	if err != nil {
		return 0, x.s.failCtx(ctx, op, ns, "", err)
	}
	return n, nil
}

// countStatement writes Count's statement on the namespace nsi, as of now
// (expired entries excluded), through the query cache: from
// index_entries alone when a declared index answers the whole filter
// (indexDrive.countStatement), else from entries, driven by a declared
// index where one helps.
func (x *ops) countStatement(o driver.CallOptions, nsi nsInfo, now time.Time) (string, []any, error) {
	k := x.newStmtKey('C', o.Filter, o, nsi, now)
	defer k.release()
	q, args, _, err := x.cached(k, func(c *dialect.Compiler) (string, []any, []sortCol, error) {
		d, ok := chooseIndex(c, o.Filter, nil, nsi, false)
		if ok && d.indexOnly(c, o.Filter) {
			q, args, err := d.countStatement(c, nsi.id, now, o)
			return q, args, nil, err
		}
		b := sq.Select("count(*)").From("entries")
		if ok {
			b = d.join(c, b, nsi.id)
		}
		where, err := c.Where(d.residual(c, o.Filter, ok))
		if err != nil {
			return "", nil, nil, err
		}
		q, args, err := b.Where(dialect.NamespaceCond(nsi.id)).Where(d.liveConds(c, nsi.id, ok)).Where(liveCond(c, now)).Where(where).Where(keyRangesCond(c, o)).
			PlaceholderFormat(c.PlaceholderFormat()).ToSql()
		return q, args, nil, err
	})
	return q, args, err
}

// sortCol is one field of a Query's sort and its SQL expressions.
type sortCol struct {
	field  driver.Field
	pinned int // the type rank the filter pins the field to, or dialect.NoRank
	exprs  []string
	desc   bool
	// prefixOrder: exprs order the field's strings by the index's
	// prefix of them only, and queryPage orders those that share it
	// (settle).
	prefixOrder bool
}

// buildQuery writes the statement of Query on the namespace nsi, as of now (expired entries excluded): filter, sort, cursor
// position, limit and offset. It and buildTieQuery are the only places
// that do, so EXPLAIN tests see exactly what Query runs.
//
// When reversedTies holds, the statement orders ties by key descending,
// so that a declared index read backwards gives the whole order (an index
// ends in the key ascending: read backwards, ties come in descending key
// order); queryPage puts each group of ties back in ascending key order,
// and reads the group cut by the end of the page with buildTieQuery.
//
// The statement comes from the query cache when it holds one for the
// shape of the call (see querycache.go). When the filter restricts a
// declared field other than the sort's first (declared) field, buildQuery
// first probes which of the two drives the statement (decideDrive in
// drive.go) and records the outcome in p, for buildTieQuery.
func (x *ops) buildQuery(ctx context.Context, p *queryPrep, o driver.CallOptions, nsi nsInfo, now time.Time) (q string, args []any, sorts []sortCol, err error) {
	k := x.newStmtKey('Q', p.e, o, nsi, now)
	defer k.release()
	k.query(x.compiler(), *p, o)
	if err := x.decideDrive(ctx, k, p, o, nsi); err != nil {
		return "", nil, nil, err
	}
	k.b = append(k.b, 'D', '0'+b2i(p.byFilter))
	arms := queryArms(*p, o)
	if arms != nil {
		// Which spans the cursor left, and which of them it bounds.
		k.b = append(k.b, 'A')
		for _, a := range arms {
			k.b = strconv.AppendInt(k.b, int64(a.span), 10)
			k.b = append(k.b, '0'+b2i(a.cursor), ',')
		}
	}
	return x.cached(k, func(c *dialect.Compiler) (string, []any, []sortCol, error) {
		if arms != nil {
			return queryUnion(c, *p, o, nsi, now, arms)
		}
		b, order, sorts, _, err := querySelect(c, *p, o, nsi, now)
		if err != nil {
			return "", nil, nil, err
		}
		q, args, err := pageLimit(b.OrderBy(order...), o).ToSql()
		return q, args, sorts, err
	})
}

// queryArm is one arm of a key-ordered Query over InKeyRanges: the span
// of o.KeyRanges it reads, and whether the cursor bounds it (the cursor's
// key is at or after the span's start) or not (the span starts after it).
type queryArm struct {
	span   int
	cursor bool
}

// queryArms returns the arms of Query's statement when it reads the spans
// of InKeyRanges as a UNION ALL, as List does (issue 15, item 5, for
// Query): a query in key order (no sort) over 2 to listArms spans that
// the cursor leaves. With the spans tested by OR beside the cursor's
// bound, both databases search the primary key from the cursor and test
// every key up to the next span, the keys the caller cannot see included
// (alice's page past 100,000 of bob's keys: 250-320 ms on SQLite, 140 ms
// on PostgreSQL, against 1.5 and 12 ms for an admin). Nil otherwise.
func queryArms(p queryPrep, o driver.CallOptions) []queryArm {
	if len(o.SortFields) != 0 || o.Set&driver.KindKeyRanges == 0 || len(o.KeyRanges) < 2 || len(o.KeyRanges) > listArms {
		return nil
	}
	var arms []queryArm
	for i, r := range o.KeyRanges {
		if p.cur != nil && r.To != "" && r.To <= p.cur.Key {
			continue // wholly before the cursor
		}
		arms = append(arms, queryArm{span: i, cursor: p.cur != nil && p.cur.Key >= r.From})
	}
	if len(arms) < 2 {
		return nil
	}
	return arms
}

// queryUnion writes Query's statement over arms: one SELECT per span, in
// key order and limited to Offset+Limit+1 rows, each with one lower bound
// on key (the cursor's where it bounds the span, else the span's start,
// see spanCond), under one ORDER BY and limit.
func queryUnion(c *dialect.Compiler, p queryPrep, o driver.CallOptions, nsi nsInfo, now time.Time, arms []queryArm) (string, []any, []sortCol, error) {
	var sb strings.Builder
	var args []any
	var sorts []sortCol
	for i, a := range arms {
		pa, oa := p, o
		r := o.KeyRanges[a.span]
		if a.cursor {
			r.From = "" // the cursor's bound is the arm's lower bound
		} else {
			pa.cur = nil
		}
		oa.KeyRanges = []storage.KeyRange{r}
		b, order, s, _, err := querySelect(c, pa, oa, nsi, now)
		if err != nil {
			return "", nil, nil, err
		}
		sorts = s
		b = b.OrderBy(order...).PlaceholderFormat(sq.Question)
		if o.Limit >= 0 {
			b = b.Limit(min(uint64(o.Limit)+uint64(o.Offset)+1, math.MaxInt64))
		}
		q, a2, err := b.ToSql()
		if err != nil {
			return "", nil, nil, err
		}
		if i > 0 {
			sb.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&sb, "SELECT * FROM (%s) AS span%d", q, i)
		args = append(args, a2...)
	}
	unionTail(&sb, o)
	q, err := c.PlaceholderFormat().ReplacePlaceholders(sb.String())
	return q, args, sorts, err
}

// unionTail ends a UNION ALL of arms in key order: the order, and the
// page's limit (one more row, to know whether a page follows) and offset.
func unionTail(sb *strings.Builder, o driver.CallOptions) {
	sb.WriteString(" ORDER BY key")
	if o.Limit >= 0 {
		fmt.Fprintf(sb, " LIMIT %d", min(uint64(o.Limit)+1, math.MaxInt64))
	}
	if o.Offset > 0 {
		if o.Limit < 0 {
			fmt.Fprintf(sb, " LIMIT %d", int64(math.MaxInt64))
		}
		fmt.Fprintf(sb, " OFFSET %d", o.Offset)
	}
}

// queryPrep is what Query knows of its call before it reads the
// namespace: the compiled filter, and the cursor given to After (nil when
// none) with the fingerprint it was checked against.
type queryPrep struct {
	e    driver.Expr
	cur  *cursor
	hash string // "" until needed (queryHash)
	// decided is set once buildQuery has probed (decideDrive in
	// drive.go), and byFilter is its outcome: a declared field of the
	// filter drives the statement, not the sort's first field.
	decided, byFilter bool
	// pastGroup: the statement's position is past the cursor's whole
	// group of ties (its sort values), not past its key
	// (cursorGroupPage).
	pastGroup bool
	// short, when not nil, is set when a statement of the page after its
	// first one read fewer rows than the first said it would (settle's
	// group of ties, cursorGroupPage's groups after the cursor's): it ran
	// after the first, and the namespace's ids it was written with may
	// have gone stale in between (another store deleted the namespace or
	// dropped the index). Query then reads the ids again as it does when
	// a page finds nothing (withNamespaceID).
	short *bool
}

// prepareQuery compiles Query's filter f and reads its cursor.
func prepareQuery(f storage.Filter, o driver.CallOptions) (queryPrep, error) {
	var p queryPrep
	var err error
	if p.e, err = f.Compile(); err != nil {
		return p, err
	}
	if o.Cursor == "" {
		return p, nil
	}
	if p.hash, err = queryHash(f, o); err != nil {
		return p, err
	}
	cur, err := decodeCursor(o.Cursor, "query", p.hash)
	if err == nil && len(cur.Vals) != len(o.SortFields) {
		err = driver.Invalidf(storage.ErrInvalidOption, "After: malformed cursor")
	}
	if err != nil {
		return p, err
	}
	p.cur = &cur
	return p, nil
}

// queryHash is the fingerprint of Query's cursors: the namespace, the
// filter and the sort.
func queryHash(f storage.Filter, o driver.CallOptions) (string, error) {
	if b, ok := appendQueryHashInput(make([]byte, 0, 256), f, o); ok {
		return hashBytes(b), nil
	}
	return queryHashJSON(f, o)
}

// queryHashJSON is queryHash through encoding/json, for every filter.
func queryHashJSON(f storage.Filter, o driver.CallOptions) (string, error) {
	fj, err := json.Marshal(f)
	if err != nil {
		return "", driver.Invalidf(storage.ErrInvalidFilter, "%v", err)
	}
	return fingerprint("query", o.Namespace.Name, json.RawMessage(fj), o.Sort), nil
}

// reversedTies reports whether Query reads ties in descending key order
// and reverses them (see buildQuery): a sort whose fields are all
// descending, none of them the key, on a page with a limit and no offset
// (an offset counts rows in the final order).
func reversedTies(o driver.CallOptions) bool {
	if len(o.SortFields) == 0 || o.Limit < 0 || o.Offset > 0 {
		return false
	}
	for i, f := range o.SortFields {
		if !o.Sort[i].Desc || f.Root == driver.RootKey {
			return false
		}
	}
	return true
}

// buildTieQuery writes the statement that reads the first n entries, in
// the sort's order, of the group (see settle) of the row whose sort values
// are vals (a row of buildQuery's result): the same filter and cursor
// position, and an equality on every sort expression, which on a declared
// index is a seek on every column before the key, giving the group's
// rows in key order. When that row's string shares the index's prefix
// (prefixOrder), the group is every string with that prefix: the seek
// leaves out the whole string, which orders the group (a sort of the
// group's rows only) before the key.
func (x *ops) buildTieQuery(p queryPrep, o driver.CallOptions, nsi nsInfo, now time.Time, vals []sortValue, n int) (string, []any, error) {
	c := x.compiler()
	b, _, sorts, sel, err := querySelect(c, p, o, nsi, now)
	if err != nil {
		return "", nil, err
	}
	var order []string
	for i, sc := range sorts {
		v := vals[i]
		switch sc.field.Root {
		case driver.RootValue, driver.RootMetadata:
			num, _ := v.num()
			str := ""
			if v.Str != nil {
				str = *v.Str
			}
			if sc.prefixOrder && v.Rank == dialect.RankString && c.SharesPrefix(str) {
				dir := " ASC"
				if sc.desc {
					dir = " DESC"
				}
				order = append(order, c.IndexTieBreak(sc.field, sc.pinned)+dir)
			} else {
				b = b.Where(c.PathGroup(sc.field, v.Rank, num, str))
			}
			if i == 0 && sel.bySort {
				b = b.Where(c.IndexGroup(v.Rank, num, str))
			}
		case driver.RootVersion:
			b = b.Where(sq.Expr("version = ?", v.Int))
		case driver.RootCreatedAt, driver.RootUpdatedAt:
			b = b.Where(sq.Expr(sc.exprs[0]+" = ?", c.TimeParam(time.UnixMicro(v.Int).UTC())))
		}
	}
	if atCursor(c, p, sorts, vals) {
		// The group is the cursor's: the rows after it are those after its
		// key. The keyset says so too, but beside its other arms under an
		// OR (on PostgreSQL with the whole string, read from the entry),
		// which no index positions on: the statement read the group from
		// its start and, on PostgreSQL, joined every tie before the
		// cursor to entries (issue 13). Implied by the keyset and the
		// group's equalities, this bound changes no answer and makes the
		// seek on the group start at the cursor's key.
		b = b.Where(sq.Expr(sel.keyCol+" > ?", c.Bind(dialect.StrInput(p.cur.Key), dialect.XStr)))
	}
	return b.OrderBy(append(order, sel.keyCol+" ASC")...).Limit(uint64(n)).ToSql()
}

// atCursor reports whether the group that buildTieQuery reads for the
// sort values vals is the group of p's cursor, ordered by key alone: the
// cursor's values equal vals on every sort field (by the rules the SQL
// compares them with: the type rank, then the number or the whole string),
// no sort field is the key, and the group is not the strings that share
// the index's prefix (prefixOrder), which the whole string orders before
// the key. False when unsure: the bound is then left to the keyset.
func atCursor(c *dialect.Compiler, p queryPrep, sorts []sortCol, vals []sortValue) bool {
	if p.cur == nil || len(p.cur.Vals) != len(sorts) || len(vals) != len(sorts) {
		return false
	}
	for i, sc := range sorts {
		a, b := p.cur.Vals[i], vals[i]
		switch sc.field.Root {
		case driver.RootValue, driver.RootMetadata:
			if a.Rank != b.Rank {
				return false
			}
			switch a.Rank {
			case dialect.RankNumber:
				x, errA := a.num()
				y, errB := b.num()
				if errA != nil || errB != nil || x != y {
					return false
				}
			case dialect.RankString:
				if a.Str == nil || b.Str == nil || *a.Str != *b.Str {
					return false
				}
				if sc.prefixOrder && c.SharesPrefix(*a.Str) {
					return false
				}
			}
		case driver.RootVersion, driver.RootCreatedAt, driver.RootUpdatedAt:
			if a.Int != b.Int {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// selection is what querySelect chose: whether a declared index gives the
// order of the first sort field, and the key column of the order (the
// index's when it gives the key order).
type selection struct {
	bySort bool
	keyCol string
}

// querySelect writes, with compiler c, Query's SELECT without ORDER BY
// and LIMIT (see buildQuery), and the ORDER BY terms. Every value it binds
// is an Input that stmtKey.query records.
func querySelect(c *dialect.Compiler, p queryPrep, o driver.CallOptions, nsi nsInfo, now time.Time) (b sq.SelectBuilder, order []string, sorts []sortCol, sel selection, err error) {
	e := p.e
	d, driven := chooseIndex(c, e, o.SortFields, nsi, p.byFilter)
	where, err := c.Where(d.residual(c, e, driven))
	if err != nil {
		return b, nil, nil, sel, err
	}

	cols := c.EntryColumns()
	dir := func(desc bool) string {
		if desc {
			return " DESC"
		}
		return " ASC"
	}
	bySort := driven && d.sort // the index gives the order of the first sort field
	// The index gives the key order after the sort's first field, or
	// wholly when the filter pins it to one point.
	keyCol := "key"
	if bySort || (driven && d.point) {
		keyCol = dialect.IndexKey
	}
	sorts = make([]sortCol, len(o.SortFields))
	keyed := false
	for i, fld := range o.SortFields {
		pinned := dialect.PinnedRank(e, fld)
		sc := sortCol{field: fld, pinned: pinned, exprs: c.OrderExprs(fld, pinned), desc: o.Sort[i].Desc}
		if i == 0 && bySort {
			sc.exprs = c.IndexOrder(fld, pinned)
			if tb := c.IndexTieBreak(fld, pinned); tb != "" {
				// The whole string orders the strings that share the
				// index's prefix. In the ORDER BY it is a term no index
				// gives, and PostgreSQL without statistics sorted every
				// matching row for it (a generic plan on a fresh table:
				// 17-21 times raw SQL for a startsWith sorted on the
				// field): the statement orders by the index's columns,
				// and queryPage orders each group of strings that share
				// a prefix (settle). A sort of more fields, or with an
				// offset (which counts rows in the whole order), keeps
				// the term.
				if len(o.SortFields) == 1 && o.Offset == 0 {
					sc.prefixOrder = true
				} else {
					sc.exprs = append(sc.exprs, tb)
				}
			}
		} else if fld.Root == driver.RootKey {
			sc.exprs = []string{keyCol}
		}
		sorts[i] = sc
		if isPath(fld) {
			var vx []string
			if i == 0 && bySort {
				// The index holds the values: the row's JSON is not
				// searched again.
				vx = c.IndexValueExprs(fld)
			} else {
				vx = c.ValueExprs(fld)
			}
			if k := pinnedValueCol(pinned); k >= 0 {
				vx = vx[k : k+1]
				if i == 0 && bySort {
					vx[0], _ = c.IndexPinnedValueExpr(fld, pinned)
				}
			}
			cols = append(cols, vx...)
		}
		if keyed || dialect.PinnedValue(e, fld) {
			continue
		}
		for _, ex := range sc.exprs {
			order = append(order, ex+dir(sc.desc))
		}
		// The key is unique: what follows it in the ORDER BY orders
		// nothing, and a second "key" term (the tiebreak) would keep
		// SQLite from reading the order from an index.
		keyed = fld.Root == driver.RootKey
	}
	if !keyed {
		if reversedTies(o) {
			order = append(order, keyCol+" DESC")
		} else {
			order = append(order, keyCol+" ASC")
		}
	}
	b = sq.Select(cols...).From("entries")
	if driven {
		b = d.join(c, b, nsi.id)
	}
	b = b.Where(dialect.NamespaceCond(nsi.id)).Where(d.liveConds(c, nsi.id, driven)).
		Where(liveCond(c, now)).Where(where).Where(keyRangesCond(c, o)).PlaceholderFormat(c.PlaceholderFormat())
	if cur := p.cur; cur != nil {
		malformed := driver.Invalidf(storage.ErrInvalidOption, "After: malformed cursor")
		var ks []dialect.KeysetColumn
		for i, sc := range sorts {
			v := cur.Vals[i]
			in, ok := cursorInput(sc.field, v)
			if !ok {
				return b, nil, nil, sel, malformed
			}
			switch sc.field.Root {
			case driver.RootValue, driver.RootMetadata:
				keyset := c.PathKeyset
				if i == 0 && bySort {
					keyset = c.IndexKeyset
				}
				cols, ok := keyset(sc.field, sc.pinned, sc.desc, v.Rank, in)
				if !ok {
					return b, nil, nil, sel, malformed
				}
				ks = append(ks, cols...)
			case driver.RootKey:
				ks = append(ks, dialect.KeysetColumn{Expr: keyCol, Desc: sc.desc, Value: c.Bind(in, dialect.XStr)})
			case driver.RootVersion:
				ks = append(ks, dialect.KeysetColumn{Expr: "version", Desc: sc.desc, Value: c.Bind(in, dialect.XInt)})
			case driver.RootCreatedAt, driver.RootUpdatedAt:
				ks = append(ks, dialect.KeysetColumn{Expr: sc.exprs[0], Desc: sc.desc, Value: c.Bind(in, dialect.XMicros)})
			}
		}
		if p.pastGroup {
			b = b.Where(c.KeysetPastGroup(ks, keyCol))
		} else {
			ks = append(ks, dialect.KeysetColumn{Expr: keyCol, Value: c.Bind(dialect.StrInput(cur.Key), dialect.XStr)})
			b = b.Where(c.Keyset(ks))
		}
	}
	return b, order, sorts, selection{bySort: bySort, keyCol: keyCol}, nil
}

// cursorInput is the Input that a cursor's position v on sort field fld
// binds; ok is false when v cannot be a position on fld: a type rank
// outside the sort order's, a number that does not parse or is NaN (no
// stored value is: the dialects would place it apart, PostgreSQL above
// every number, SQLite as NULL), a string rank without its string. Only
// a forged cursor has one.
func cursorInput(fld driver.Field, v sortValue) (in dialect.Input, ok bool) {
	switch fld.Root {
	case driver.RootValue, driver.RootMetadata:
		switch v.Rank {
		case dialect.RankNumber:
			n, err := v.num()
			return dialect.NumInput(n), err == nil && !math.IsNaN(n)
		case dialect.RankString:
			if v.Str == nil {
				return in, false
			}
			return dialect.StrInput(*v.Str), true
		}
		return in, v.Rank >= dialect.RankMissing && v.Rank <= dialect.RankObject
	case driver.RootKey:
		s := ""
		if v.Str != nil {
			s = *v.Str
		}
		return dialect.StrInput(s), true
	}
	return dialect.IntInput(v.Int), true
}

// Query implements storage.Ops.
func (x *ops) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	const op = "query"
	o, err := x.start(ctx, op, "", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindOffset|driver.KindCursor|driver.KindKeyRanges|driver.KindMaxBytes, opts)
	if err != nil {
		return storage.QueryResult{}, err
	}
	ns := o.Namespace.Name
	p, err := prepareQuery(f, o)
	if err != nil {
		return storage.QueryResult{}, x.s.failCtx(ctx, op, ns, "", err)
	}
	var res storage.QueryResult
	err = x.withNamespaceID(ctx, ns, func(nsi nsInfo) (bool, error) {
		o := o
		for {
			var err error
			short := false
			p.short = &short
			res, err = x.queryPage(ctx, f, p, o, nsi)
			var r *budgetRetry
			if !errors.As(err, &r) {
				return len(res.Entries) > 0 && !short, err
			}
			// The budget cut a page whose statements read rows in
			// another order than the page's: read a page of fewer
			// rows than were read, down to one, whose two rows (with
			// the one past it) are read without a budget.
			l := r.n - 1
			if o.Limit >= 0 {
				l = min(l, o.Limit-1)
			}
			if o.Limit = max(l, 1); o.Limit == 1 {
				o.MaxBytes = 0
			}
		}
	})
	if err != nil {
		return storage.QueryResult{}, x.s.failCtx(ctx, op, ns, "", err)
	}
	return res, nil
}

// readRows is the reader's queryRows, or its boundedRows when bounded
// (a read with a budget, a page with a bound in bytes).
func readRows(ctx context.Context, r querier, bounded bool, q string, args []any, scan func(r rowScanner) error) error {
	if bounded {
		return r.boundedRows(ctx, q, args, scan)
	}
	return r.queryRows(ctx, q, args, scan)
}

// budgetRetry is the error of a Query page that its MaxBytes budget (see
// storage.MaxBytes) cut after n rows, where the statement that was cut
// reads rows in another order than the page's (settle, reversedTies): the
// rows read are not the page's first ones. Query reads a shorter page
// instead.
type budgetRetry struct{ n int }

func (r *budgetRetry) Error() string {
	return fmt.Sprintf("sqlstore: read budget reached after %d rows", r.n)
}

// queryPage runs Query's statement on the namespace nsi. With a budget
// (MaxBytes) the page ends at the row that reaches it, with a cursor, as
// a page cut by its limit does; or fails with *budgetRetry.
func (x *ops) queryPage(ctx context.Context, f storage.Filter, p queryPrep, o driver.CallOptions, nsi nsInfo) (storage.QueryResult, error) {
	const op = "query"
	now := x.s.now()
	b := readBudget(o)
	q, args, sorts, err := x.buildQuery(ctx, &p, o, nsi, now)
	if err != nil {
		return storage.QueryResult{}, err
	}
	var rows []queryRow
	var more bool
	if inCursorGroup(x.compiler(), p, o, sorts) {
		rows, more, err = x.cursorGroupPage(ctx, p, o, nsi, now, sorts, b)
	} else {
		rows, more, err = x.pageRows(ctx, p, o, nsi, now, q, args, sorts, b)
	}
	if err != nil {
		return storage.QueryResult{}, err
	}
	var res storage.QueryResult
	if more {
		if o.Limit >= 0 { // else the budget cut the page
			rows = rows[:min(o.Limit, len(rows))]
		}
		if len(rows) > 0 {
			hash := p.hash
			if hash == "" {
				if hash, err = queryHash(f, o); err != nil {
					return storage.QueryResult{}, err
				}
			}
			last := rows[len(rows)-1]
			res.Cursor = encodeCursor(cursor{Op: op, Hash: hash, Key: last.en.Key, Vals: last.sortValues(sorts)})
		}
	}
	res.Entries = pageEntries(rows)
	return res, nil
}

// pageRows runs q, the statement of buildQuery for p and o, and returns
// the page's rows in the sort's order (settle), with one row past the
// page when more follow (more). When the budget b cuts the statement, the
// page is the rows read, more is true and no row is past the page; when
// the statement reads rows in another order than the page's, that is a
// *budgetRetry.
func (x *ops) pageRows(ctx context.Context, p queryPrep, o driver.CallOptions, nsi nsInfo, now time.Time, q string, args []any, sorts []sortCol, b *driver.ReadBudget) (rows []queryRow, more bool, err error) {
	hint := 16 // no limit: a few rows is the common case
	if o.Limit >= 0 {
		hint = o.Limit + 1
	}
	var cut bool
	if rows, cut, err = x.queryRows(ctx, q, args, sorts, o.Namespace.Name, hint, b); err != nil {
		return nil, false, err
	}
	reorder := reversedTies(o) || (len(sorts) > 0 && sorts[0].prefixOrder)
	if cut && (o.Limit < 0 || len(rows) <= o.Limit) {
		if reorder {
			return nil, false, &budgetRetry{n: len(rows)}
		}
		return rows, true, nil
	}
	more = o.Limit >= 0 && len(rows) > o.Limit
	if reorder {
		if rows, err = x.settle(ctx, p, o, nsi, now, sorts, rows, b); err != nil {
			return nil, false, err
		}
	}
	return rows, more, nil
}

// inCursorGroup reports whether Query's page reads the rest of its
// cursor's group of ties first (cursorGroupPage): a cursor page of a sort
// whose ties the statement reads in descending key order (reversedTies),
// with a limit (below math.MaxInt: it reads limit + 1 rows), where the
// cursor's group is ordered by key alone (atCursor: not the strings that
// share the index's prefix).
func inCursorGroup(c *dialect.Compiler, p queryPrep, o driver.CallOptions, sorts []sortCol) bool {
	return p.cur != nil && !p.pastGroup && o.Limit > 0 && o.Limit < math.MaxInt && reversedTies(o) && atCursor(c, p, sorts, p.cur.Vals)
}

// cursorGroupPage reads the page of a cursor inside a group of ties of a
// descending sort (inCursorGroup): first the rest of the cursor's group,
// in key order from the cursor's key (buildTieQuery: a seek on the group
// from the key, limit + 1 rows), then, when that does not fill the page,
// the groups after it, by the statement of buildQuery with a position past
// the cursor's whole group (pastGroup), whose groups start fresh. The page
// statement alone reads the index backwards from the group's top: when
// fewer than a page of the group's rows follow the cursor, it walked every
// row of the group before the cursor (those listed already) to reach the
// next group, so the last page of a group of N ties read N index rows
// (issue 13).
func (x *ops) cursorGroupPage(ctx context.Context, p queryPrep, o driver.CallOptions, nsi nsInfo, now time.Time, sorts []sortCol, b *driver.ReadBudget) (rows []queryRow, more bool, err error) {
	q, args, err := x.buildTieQuery(p, o, nsi, now, p.cur.Vals, o.Limit+1)
	if err != nil {
		return nil, false, err
	}
	var cut bool
	if rows, cut, err = x.queryRows(ctx, q, args, sorts, o.Namespace.Name, o.Limit+1, b); err != nil {
		return nil, false, err
	}
	if cut || len(rows) > o.Limit {
		return rows, true, nil // the group's rows come in the page's order
	}
	pa, oa := p, o
	pa.pastGroup = true
	oa.Limit = o.Limit - len(rows)
	if q, args, sorts, err = x.buildQuery(ctx, &pa, oa, nsi, now); err != nil {
		return nil, false, err
	}
	rest, more, err := x.pageRows(ctx, pa, oa, nsi, now, q, args, sorts, b)
	var r *budgetRetry
	if errors.As(err, &r) {
		r.n += len(rows)
	}
	if err != nil {
		return nil, false, err
	}
	if len(rest) == 0 {
		p.setShort()
	}
	return appendUnseen(rows, rest), more, nil
}

// appendUnseen appends to rows those of more whose keys rows does not
// hold. Two statements of a page may see different snapshots outside a
// transaction: an entry written in between is not listed twice.
func appendUnseen(rows, more []queryRow) []queryRow {
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		seen[r.en.Key] = true
	}
	for _, r := range more {
		if !seen[r.en.Key] {
			rows = append(rows, r)
		}
	}
	return rows
}

// settle puts rows, read by a statement of buildQuery, in the order of
// the sort where the statement reads groups of them in another order:
// when reversedTies holds, ties come in descending key order; when the
// first sort field orders strings by the index's prefix (prefixOrder),
// the strings that share a prefix come in key order (ascending, or
// descending with reversedTies). Each group inside the page is ordered
// here: by the whole string (in the sort's direction), then by key. A
// full page (limit + 1 rows) whose last group reaches into the page needs
// that group's first rows in the sort's order, which the statement did not
// necessarily return: they are read with buildTieQuery.
func (x *ops) settle(ctx context.Context, pq queryPrep, o driver.CallOptions, nsi nsInfo, now time.Time, sorts []sortCol, rows []queryRow, b *driver.ReadBudget) ([]queryRow, error) {
	g := tieGroups{c: x.compiler(), sorts: sorts, rev: reversedTies(o)}
	if o.Limit < 0 || len(rows) <= o.Limit {
		g.order(rows)
		return rows, nil
	}
	full := o.Limit + 1 // len(rows) > o.Limit: no overflow at Limit(math.MaxInt)
	p := len(rows) - 1
	for p > 0 && g.same(rows[p-1], rows[full-1]) {
		p--
	}
	head := rows[:p]
	g.order(head)
	if p >= o.Limit {
		return rows, nil // the page ends before the last group
	}
	q, args, err := x.buildTieQuery(pq, o, nsi, now, rows[full-1].sortValues(sorts), full-p)
	if err != nil {
		return nil, err
	}
	group, cut, err := x.queryRows(ctx, q, args, sorts, o.Namespace.Name, full-p, b)
	if err != nil {
		return nil, err
	}
	if cut && len(group) < full-p {
		return nil, &budgetRetry{n: p + len(group)}
	}
	if len(group) < full-p {
		pq.setShort()
	}
	return appendUnseen(head, group), nil
}

// setShort records that a statement of the page after its first read
// fewer rows than expected (queryPrep.short).
func (p queryPrep) setShort() {
	if p.short != nil {
		*p.short = true
	}
}

// tieGroups are the groups of rows that settle orders.
type tieGroups struct {
	c     *dialect.Compiler
	sorts []sortCol
	rev   bool // reversedTies: ties are a group
}

// shared reports whether r's value at the first sort field is a string
// whose index prefix another string may share, in a statement that orders
// strings by that prefix only.
func (g tieGroups) shared(r queryRow) bool {
	return g.sorts[0].prefixOrder && r.pv[0].rank.Int64 == dialect.RankString && g.c.SharesPrefix(r.pv[0].str.String)
}

// same reports whether a and b are in one group.
func (g tieGroups) same(a, b queryRow) bool {
	if g.shared(a) && g.shared(b) && g.c.StrKeyValue(a.pv[0].str.String) == g.c.StrKeyValue(b.pv[0].str.String) {
		return true
	}
	return g.rev && sameTie(a, b, g.sorts)
}

// compare orders two rows of one group: by the whole string of the
// first sort field where they share a prefix (in the sort's direction),
// then by key.
func (g tieGroups) compare(a, b queryRow) int {
	if g.shared(a) && g.shared(b) {
		if d := strings.Compare(a.pv[0].str.String, b.pv[0].str.String); d != 0 {
			if g.sorts[0].desc {
				return -d
			}
			return d
		}
	}
	return strings.Compare(a.en.Key, b.en.Key)
}

// order orders each group of rows (consecutive rows in one group).
func (g tieGroups) order(rows []queryRow) {
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && g.same(rows[i], rows[j]) {
			j++
		}
		if j-i > 1 {
			g.sortGroup(rows[i:j])
		}
		i = j
	}
}

// sortGroup orders the rows of one group by compare. A group of ties
// read backwards from a declared index (reversedTies) comes in strictly
// descending order, which the insertion sort that slices.SortFunc uses on
// small slices handles worst: every pair swapped, each swap moving two
// rows of some 200 bytes with write barriers (7% of a range + sort limit
// 20's CPU). Such a group is reversed; any other is sorted. compare is a
// total order (keys are unique), so both give the same order.
func (g tieGroups) sortGroup(rows []queryRow) {
	for k := 1; k < len(rows); k++ {
		if g.compare(rows[k-1], rows[k]) <= 0 {
			slices.SortFunc(rows, g.compare)
			return
		}
	}
	slices.Reverse(rows)
}

// sameTie reports whether a and b sort equal on every field of sorts.
func sameTie(a, b queryRow, sorts []sortCol) bool {
	for i, sc := range sorts {
		switch sc.field.Root {
		case driver.RootValue, driver.RootMetadata:
			pa, pb := a.pv[i], b.pv[i]
			if pa.rank.Int64 != pb.rank.Int64 {
				return false
			}
			switch pa.rank.Int64 {
			case dialect.RankNumber:
				if pa.num.Float64 != pb.num.Float64 {
					return false
				}
			case dialect.RankString:
				if pa.str.String != pb.str.String {
					return false
				}
			}
		case driver.RootKey:
			if a.en.Key != b.en.Key {
				return false
			}
		case driver.RootVersion:
			if a.en.Version != b.en.Version {
				return false
			}
		case driver.RootCreatedAt:
			if !a.en.CreatedAt.Equal(b.en.CreatedAt) {
				return false
			}
		case driver.RootUpdatedAt:
			if !a.en.UpdatedAt.Equal(b.en.UpdatedAt) {
				return false
			}
		}
	}
	return true
}

// pathVals are the type rank, number and string of a row at a path sort
// field (ValueExprs).
type pathVals struct {
	rank sql.NullInt64
	num  sql.NullFloat64
	str  sql.NullString
}

// scan sets p from the values of its three columns as the SQLite driver
// gives them. database/sql scans a column into an sql.Null type through
// its Scanner, which converts an int64 or a float64 by reflection:
// scanned into an any, the common types are set here, and any other goes
// through the same Scanner, so every value reads as it did.
func (p *pathVals) scan(v *[3]any) error {
	*p = pathVals{}
	if err := scanNull(v[0], &p.rank.Int64, &p.rank.Valid, &p.rank); err != nil {
		return err
	}
	if err := scanNull(v[1], &p.num.Float64, &p.num.Valid, &p.num); err != nil {
		return err
	}
	return scanNull(v[2], &p.str.String, &p.str.Valid, &p.str)
}

// scanNull sets a nullable value (val, valid) from a column's value v:
// directly when v has val's type, to nothing when v is nil, else through
// the value's Scanner s, as database/sql would.
func scanNull[T any](v any, val *T, valid *bool, s sql.Scanner) error {
	if x, ok := v.(T); ok {
		*val, *valid = x, true
		return nil
	}
	if v == nil {
		return nil
	}
	return s.Scan(v)
}

// pgPathVals receives pathVals from pgx: its own nullable types are
// scanned by the codecs directly, where the sql.Null types go through
// database/sql's Scanner with each value boxed in an interface (two
// allocations per row and sort field; 12 us of a 167 us range + sort of
// 21 rows in a CPU profile).
type pgPathVals struct {
	rank pgtype.Int8
	num  pgtype.Float8
	str  pgtype.Text
}

func (x pgPathVals) pathVals() pathVals {
	return pathVals{
		rank: sql.NullInt64{Int64: x.rank.Int64, Valid: x.rank.Valid},
		num:  sql.NullFloat64{Float64: x.num.Float64, Valid: x.num.Valid},
		str:  sql.NullString{String: x.str.String, Valid: x.str.Valid},
	}
}

// queryRow is a row of Query's statement: the entry, and its values at
// the path sort fields (pv[i] for sorts[i]).
//
// The entry is ents[at]: queryRows writes a statement's entries into one
// array, which becomes the page's Entries (pageEntries) without a copy
// when the page is those rows, in any order; rows are small to move when
// settle orders them.
type queryRow struct {
	en   *storage.Entry
	pv   []pathVals
	ents []storage.Entry
	at   int
}

// pageEntries returns the entries of rows, in order. When every row's
// entry lies in one array (one statement's, queryRows) at an index below
// len(rows), the rows are a permutation of that array's first len(rows)
// entries: they are put in order there, in place, and the array is the
// result (the entries after it are cleared: the look-ahead row's value
// is not kept alive). Otherwise (rows of two statements, or a page that
// dropped a row it read) the entries are copied into a new array. rows is
// not usable afterwards.
func pageEntries(rows []queryRow) []storage.Entry {
	n := len(rows)
	if n == 0 {
		return []storage.Entry{}
	}
	e := rows[0].ents
	inPlace := len(e) >= n
	for i := 0; inPlace && i < n; i++ {
		r := rows[i]
		inPlace = r.at < n && len(r.ents) == len(e) && &r.ents[0] == &e[0]
	}
	if !inPlace {
		out := make([]storage.Entry, n)
		for i, r := range rows {
			out[i] = *r.en
		}
		return out
	}
	// Entry i of the result is e[rows[i].at]: follow each cycle of the
	// permutation, marking the places done by setting at to -1.
	for i := range n {
		if rows[i].at < 0 || rows[i].at == i {
			continue
		}
		tmp := e[i]
		j := i
		for {
			k := rows[j].at
			rows[j].at = -1
			if k == i {
				e[j] = tmp
				break
			}
			e[j] = e[k]
			j = k
		}
	}
	clear(e[n:])
	return e[:n:n]
}

// sortValues returns the row's position in the sort, as a cursor holds it.
func (r queryRow) sortValues(sorts []sortCol) []sortValue {
	vals := make([]sortValue, len(sorts))
	for i, sc := range sorts {
		switch sc.field.Root {
		case driver.RootValue, driver.RootMetadata:
			vals[i].Rank = r.pv[i].rank.Int64
			if r.pv[i].num.Valid {
				vals[i].Num = strconv.FormatFloat(r.pv[i].num.Float64, 'g', -1, 64)
			}
			if r.pv[i].str.Valid {
				s := r.pv[i].str.String
				vals[i].Str = &s
			}
		case driver.RootKey:
			k := r.en.Key
			vals[i].Str = &k
		case driver.RootVersion:
			vals[i].Int = r.en.Version
		case driver.RootCreatedAt:
			vals[i].Int = r.en.CreatedAt.UnixMicro()
		case driver.RootUpdatedAt:
			vals[i].Int = r.en.UpdatedAt.UnixMicro()
		}
	}
	return vals
}

// queryRows runs a statement of buildQuery or buildTieQuery on namespace
// ns and reads its rows; hint is the most rows it can return when known
// (a limit), else 0. With a budget b (nil: none) it stops after the row
// that reaches it, and cut says so.
//
// One scratch row receives every row's columns (so the scan targets are
// allocated once per statement, not per row), the rows' sort values share
// one backing array, and the result is sized to hint: a page of 20 costs
// a few allocations per row besides its JSON.
func (x *ops) queryRows(ctx context.Context, q string, args []any, sorts []sortCol, ns string, hint int, b *driver.ReadBudget) (rows []queryRow, cut bool, err error) {
	sqlite := x.s.eng.dialect().Name() == dialect.SQLite
	hint = min(max(hint, 0), 256)
	// The scan targets and what the callback appends to, in one
	// allocation per statement; PostgreSQL's targets apart (SQLite reads
	// one column for all but the key). ents are the entries, in arrays of
	// hint (then more) entries: a new one when one is full, so that the
	// rows' pointers stay valid; pvs the rows' sort values, len(sorts)
	// each, in chunks.
	var sc struct {
		en     storage.Entry
		packed string
		r      row
		pv     [4]pathVals
		sv     [4][3]any
		rows   []queryRow
		ents   []storage.Entry
		pvs    []pathVals
	}
	sc.rows = make([]queryRow, 0, hint)
	sc.ents = make([]storage.Entry, 0, hint)
	var pgsc *struct {
		value, md []byte
		xTime     *time.Time
		pg        [4]pgPathVals
	}
	var pv []pathVals
	var pg []pgPathVals
	var sv [][3]any
	if len(sorts) <= len(sc.pv) {
		pv, sv = sc.pv[:len(sorts)], sc.sv[:len(sorts)]
	} else {
		pv, sv = make([]pathVals, len(sorts)), make([][3]any, len(sorts))
	}
	var dest []any
	if sqlite {
		dest = []any{&sc.en.Key, &sc.packed}
	} else {
		pgsc = &struct {
			value, md []byte
			xTime     *time.Time
			pg        [4]pgPathVals
		}{}
		if len(sorts) <= len(pgsc.pg) {
			pg = pgsc.pg[:len(sorts)]
		} else {
			pg = make([]pgPathVals, len(sorts))
		}
		dest = []any{&sc.en.Key, &pgsc.value, &pgsc.md, &sc.en.Version, &sc.en.CreatedAt, &sc.en.UpdatedAt, &pgsc.xTime, &sc.en.Revision, &sc.en.CreateRevision}
	}
	for i, s := range sorts {
		k := pinnedValueCol(s.pinned)
		switch {
		case !isPath(s.field):
		case k >= 0 && sqlite:
			// One column, the other two as the statement would give
			// them (pinnedValueCol); they are no scan's targets.
			sv[i][0] = int64(s.pinned)
			dest = append(dest, &sv[i][k])
		case k >= 0:
			pg[i].rank = pgtype.Int8{Int64: int64(s.pinned), Valid: true}
			if k == 1 {
				dest = append(dest, &pg[i].num)
			} else {
				dest = append(dest, &pg[i].str)
			}
		case sqlite:
			dest = append(dest, &sv[i][0], &sv[i][1], &sv[i][2])
		default:
			dest = append(dest, &pg[i].rank, &pg[i].num, &pg[i].str)
		}
	}
	if h := x.s.cfg.onQuery; h != nil {
		h(q, args)
	}
	err = readRows(ctx, x.sc.reader(), b != nil, q, args, func(r rowScanner) error {
		if err := over(b); err != nil {
			return err
		}
		if err := r.Scan(dest...); err != nil {
			return err
		}
		en := sc.en
		if sqlite {
			// The driver makes a new string for every row: the entry
			// holds its bytes without a copy (unpackEntry).
			sc.r = row{} // unpackEntry leaves ExpiresAt alone when none
			if err := unpackEntry(sc.packed, &sc.r); err != nil {
				return err
			}
			en.Value, en.Metadata = sc.r.Value, sc.r.Metadata
			en.Version, en.Revision, en.CreateRevision = sc.r.Version, sc.r.Revision, sc.r.CreateRevision
			en.CreatedAt, en.UpdatedAt, en.ExpiresAt = sc.r.CreatedAt, sc.r.UpdatedAt, sc.r.ExpiresAt
			for i, s := range sorts {
				if isPath(s.field) {
					if err := pv[i].scan(&sv[i]); err != nil {
						return err
					}
				}
			}
		} else {
			// pgx scans each row's JSON into a new slice (into a
			// *json.RawMessage it would append to the last row's).
			en.Value, en.Metadata = json.RawMessage(pgsc.value), json.RawMessage(pgsc.md)
			en.CreatedAt, en.UpdatedAt = en.CreatedAt.UTC(), en.UpdatedAt.UTC()
			en.ExpiresAt = fromOptTime(pgsc.xTime)
			for i, x := range pg {
				pv[i] = x.pathVals()
			}
		}
		en.Namespace = ns
		var rpv []pathVals
		if len(sorts) > 0 {
			if cap(sc.pvs)-len(sc.pvs) < len(sorts) {
				sc.pvs = make([]pathVals, 0, max(hint, 16)*len(sorts))
			}
			n := len(sc.pvs)
			sc.pvs = append(sc.pvs, pv...)
			rpv = sc.pvs[n:len(sc.pvs):len(sc.pvs)]
		}
		if len(sc.ents) == cap(sc.ents) {
			sc.ents = make([]storage.Entry, 0, max(2*cap(sc.ents), 16))
		}
		sc.ents = append(sc.ents, en)
		at := len(sc.ents) - 1
		sc.rows = append(sc.rows, queryRow{en: &sc.ents[at], pv: rpv, ents: sc.ents[:cap(sc.ents)], at: at})
		spend(b, len(en.Key)+len(en.Value)+len(en.Metadata))
		return nil
	})
	if errors.Is(err, errReadBudget) {
		return sc.rows, true, nil
	}
	return sc.rows, false, err
}

// pinnedValueCol is the one column of ValueExprs' three (type rank,
// number, string) that Query reads for a sort on a path field whose type
// the filter pins (sortCol.pinned) to numbers or strings: the rank is then
// the pinned one and the other column NULL on every row (queryRows sets
// them). -1 for any other pin: the three columns are read.
func pinnedValueCol(pinned int) int {
	switch pinned {
	case dialect.RankNumber:
		return 1
	case dialect.RankString:
		return 2
	}
	return -1
}

func isPath(f driver.Field) bool {
	return f.Root == driver.RootValue || f.Root == driver.RootMetadata
}

// indexDrive is the declared index a statement reads first: the field,
// its id in index_fields, the conditions on index_entries that the filter
// implies, and whether it was chosen for the sort (its order is the sort's).
type indexDrive struct {
	field driver.Field
	fid   int64
	conds dialect.Cond
	sort  bool
	point bool // the filter pins the field to one value
	// points, on PostgreSQL, when the filter pins the field to a few
	// values and the index does not give the order: the index
	// condition of each (see indexFrom).
	points []dialect.Cond
}

// chooseIndex chooses the declared index that drives a statement with
// filter e and sort fields sorts on namespace nsi: the sort's first field
// when it is declared (the index gives the order, and the filter's
// conditions on the field bound the scan), unless byFilter (the probe of
// driveByFilter found few rows on another declared field the filter
// restricts: that field drives and the matches are sorted), else the
// declared field the filter restricts most (eq, in, then a range or
// startsWith; ties by name). ok is false when none helps: the statement
// reads entries alone.
func chooseIndex(c *dialect.Compiler, e driver.Expr, sorts []driver.Field, nsi nsInfo, byFilter bool) (indexDrive, bool) {
	if len(nsi.fields) == 0 {
		return indexDrive{}, false
	}
	except := ""
	if len(sorts) > 0 && isPath(sorts[0]) {
		if fid, ok := nsi.fields[sorts[0].Text]; ok {
			if !byFilter {
				conds, _ := c.IndexScan(e, sorts[0])
				return indexDrive{field: sorts[0], fid: fid, conds: conds, sort: true}, true
			}
			except = sorts[0].Text
		}
	}
	return filterIndex(c, e, nsi, except)
}

// filterIndex is the declared field of nsi other than except that filter
// e restricts most (eq, in, then a range or startsWith; ties by name), as
// the index that drives a statement without giving its order; ok is false
// when e restricts none.
func filterIndex(c *dialect.Compiler, e driver.Expr, nsi nsInfo, except string) (indexDrive, bool) {
	var best indexDrive
	bestScan := dialect.ScanNone
	for _, text := range slices.Sorted(maps.Keys(nsi.fields)) {
		if text == except {
			continue
		}
		fld, err := driver.ParseField(text)
		if err != nil || !isPath(fld) {
			continue
		}
		conds, scan := c.IndexScan(e, fld)
		if scan > bestScan {
			best, bestScan = indexDrive{field: fld, fid: nsi.fields[text], conds: conds, point: scan == dialect.ScanPoint}, scan
		}
	}
	if bestScan == dialect.ScanEq && c.PlaceholderFormat() == sq.Dollar {
		best.points, _ = c.IndexPoints(e, best.field)
	}
	return best, bestScan > dialect.ScanNone
}

// indexFrom sets b's FROM to index_entries as the alias the index
// conditions name (dialect.IndexAlias), for the namespace nsID: the table,
// or, when d has points, the UNION of one seek per point (a UNION, not
// UNION ALL: an in that names a value twice matches each entry once).
// Without statistics PostgreSQL read every row of the field's type rank
// for an in (dialect.IndexPoints); a seek per value reads the matches.
func (d indexDrive) indexFrom(b sq.SelectBuilder, nsID int64) sq.SelectBuilder {
	if len(d.points) == 0 {
		return b.From(indexTable)
	}
	ids := sq.Expr(dialect.IndexAlias + ".ix_ns = " + strconv.FormatInt(nsID, 10) + " AND " + dialect.IndexAlias + ".ix_field = " + strconv.FormatInt(d.fid, 10))
	arm := func(p dialect.Cond) sq.SelectBuilder {
		return sq.Select("*").From(indexTable).Where(ids).Where(p)
	}
	union := arm(d.points[0])
	for _, p := range d.points[1:] {
		union = union.SuffixExpr(sq.ConcatExpr("UNION ", arm(p)))
	}
	return b.FromSelect(union, dialect.IndexAlias)
}

// namespaceLive is the condition "a namespace has the id nsID" (a
// constant subquery, evaluated once per statement: PostgreSQL's one-time
// filter, an InitPlan). A statement restricted to the entries of
// namespace nsID (dialect.NamespaceCond) wants it too, or a condition
// that implies it (indexDrive.liveConds): an unlinked namespace's entries
// keep its old id until the purger deletes them (unlink.go), and a cached
// id may be that old one (another store on the file or database cleared
// or deleted the namespace).
func namespaceLive(nsID int64) sq.Sqlizer {
	return sq.Expr("EXISTS (SELECT 1 FROM namespaces WHERE namespaces.id = " + strconv.FormatInt(nsID, 10) + ")")
}

// join makes b read index_entries first and the entries of namespace
// nsID: on SQLite with a CROSS JOIN, which keeps that order, by the
// entry's rowid that the index row carries (entry_id = ix_entry, migration
// 00021: one B-tree descent per row, not a seek of the (namespace_id, key)
// index and then one of the table); on PostgreSQL by key, with a LATERAL
// subquery behind an OFFSET 0 fence named
// entries, which the planner cannot turn around (it has no statistics on
// the JSON expressions of the filter, and would otherwise read the
// namespace's entries first). Field ids are never reused (migration
// 00028), so a stale cached id selects no rows (see nsInfo).
func (d indexDrive) join(c *dialect.Compiler, b sq.SelectBuilder, nsID int64) sq.SelectBuilder {
	ns, fid := strconv.FormatInt(nsID, 10), strconv.FormatInt(d.fid, 10)
	if c.PlaceholderFormat() == sq.Dollar {
		b = d.indexFrom(b, nsID).CrossJoin("LATERAL (SELECT * FROM entries WHERE entries.namespace_id = " + ns +
			" AND entries.key = " + dialect.IndexKey + " OFFSET 0) AS entries")
	} else {
		b = b.From(indexTable + " CROSS JOIN entries").Where(sq.Expr("entry_id = " + dialect.IndexAlias + ".ix_entry"))
	}
	b = b.Where(sq.Expr(dialect.IndexAlias + ".ix_ns = " + ns + " AND " + dialect.IndexAlias + ".ix_field = " + fid))
	if d.conds != nil {
		b = b.Where(d.conds)
	}
	return b
}

// liveConds is the condition that the ids a statement driven by d (when
// driven) reads under are still current: namespace nsID still has that
// id (namespaceLive) and, on SQLite, d's field is still declared under
// d.fid (fieldLive). On SQLite the second implies the first, so it stands
// alone: index_fields references namespaces(id), and a namespace's
// declared fields move with its row (Clear) or are deleted with it
// (DeleteNamespace) in the transaction that unlinks it (unlinkSQLite).
// One constant subquery instead of two: each is a B-tree seek and, with
// its binding, a few percent of an indexed Query or Count.
func (d indexDrive) liveConds(c *dialect.Compiler, nsID int64, driven bool) sq.Sqlizer {
	if driven {
		if live := d.fieldLive(c, nsID); live != nil {
			return live
		}
	}
	return namespaceLive(nsID)
}

// fieldLive is the condition "namespace nsID declares d's field under
// the id d.fid" (a constant subquery, as namespaceLive). A field's index
// rows can outlive its declaration: on SQLite DropIndex drops the
// declaration first and the rows a chunk at a time after (dropIndexRows;
// its record keeps the id under the spelling of a build until the last
// chunk), so a statement run with a field id cached before (another
// store's drop, or a call of the dropping store that read its cache
// first) read the rows not yet deleted and answered with a part of the
// matches; with this condition it finds none, and the namespace is read
// again (withNamespaceID). It is nil on PostgreSQL, whose DropIndex
// deletes the rows in the transaction that drops the declaration.
func (d indexDrive) fieldLive(c *dialect.Compiler, nsID int64) sq.Sqlizer {
	if c.PlaceholderFormat() == sq.Dollar {
		return nil
	}
	return sq.Expr("EXISTS (SELECT 1 FROM index_fields WHERE index_fields.namespace_id = "+strconv.FormatInt(nsID, 10)+
		" AND index_fields.field_id = "+strconv.FormatInt(d.fid, 10)+" AND index_fields.field = ?)", d.field.Text)
}

// residual is the part of filter e that a statement driven by d
// (driven) must still apply to entries: all of it when no index drives
// it, else what the index conditions do not answer exactly
// (dialect.IndexResidual).
func (d indexDrive) residual(c *dialect.Compiler, e driver.Expr, driven bool) driver.Expr {
	if !driven {
		return e
	}
	return c.IndexResidual(e, d.field)
}

// indexTable is index_entries as the statements that join it name it.
const indexTable = "index_entries AS " + dialect.IndexAlias
