package dialect

import (
	"strconv"
	"strings"
	"unicode/utf8"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// IndexAlias is the alias of index_entries in the statements that join it.
const IndexAlias = "ix"

// Index column names, qualified by IndexAlias.
const (
	ixRank = IndexAlias + ".ix_rank"
	ixNum  = IndexAlias + ".ix_num"
	ixStr  = IndexAlias + ".ix_str"
	// IndexKey is the key column of index_entries.
	IndexKey = IndexAlias + ".ix_key"
)

// IndexPath is how index_fields records a declared field: the column
// (0 value, 1 metadata) and the path the dialect reads it with. SQLite:
// Path, a JSON path for json_type and json_extract. PostgreSQL: TPath, a
// text[] for #>, or, when #> would read something else than the filter
// does (an array index, or a member name #> takes for a negative array
// index), JPath, a strict SQL/JSON path for jsonb_path_query_first.
type IndexPath struct {
	Col   int
	Path  string
	TPath []string
	JPath *string
}

// IndexPath returns the index_fields description of path field f.
func (c *Compiler) IndexPath(f driver.Field) IndexPath {
	out := IndexPath{TPath: []string{}}
	if f.Root == driver.RootMetadata {
		out.Col = 1
	}
	var b strings.Builder
	b.WriteByte('$')
	jpath := false
	for _, s := range f.Path {
		if s.IsIndex {
			b.WriteString("[" + strconv.Itoa(s.Index) + "]")
			jpath = true
			continue
		}
		name := safeName(s.Name)
		b.WriteString(`."` + name + `"`)
		out.TPath = append(out.TPath, name)
		if _, err := strconv.Atoi(name); err == nil {
			jpath = true
		}
	}
	if _, ok := c.j.(sqliteJSON); ok {
		out.Path = b.String()
		out.TPath = nil
		return out
	}
	if jpath {
		j := "strict " + b.String()
		out.JPath = &j
	}
	return out
}

// Index scan strength: what the conditions IndexScan finds let the index do.
const (
	ScanNone  = 0 // nothing: the index can only give an order
	ScanRange = 1 // a range of the index (a comparison, startsWith)
	ScanEq    = 2 // a few points (in)
	// ScanPoint is one point (eq): rank, number and string pinned, so the
	// index gives the rows in key order.
	ScanPoint = 3
)

// indexScan returns the conditions on index_entries that filter e implies
// for path field f, and how selective they are. Only the leaves that every
// match must satisfy count (those of e itself, or of its and nodes): each
// condition is implied by the filter, so adding them to a statement that
// also applies the filter changes no answer.
func (c *Compiler) indexScan(e driver.Expr, f driver.Field) (sq.And, int) {
	switch e.Kind {
	case driver.ExprAnd:
		// Each condition without parameters once: SQLite's planner
		// reads a repeated one (two ranges pin the rank twice) as a
		// reason to skip-scan. Conditions with parameters are all kept,
		// so that the SQL depends on the filter's shape only, never on
		// whether two of its values are equal (see Shape).
		var out sq.And
		seen := map[string]bool{}
		best := ScanNone
		for _, ch := range e.Children {
			conds, s := c.indexScan(ch, f)
			for _, cond := range conds {
				text, args, err := cond.ToSql()
				if err != nil || len(args) > 0 {
					out = append(out, cond)
					continue
				}
				if !seen[text] {
					seen[text] = true
					out = append(out, cond)
				}
			}
			best = max(best, s)
		}
		return out, best
	case driver.ExprLeaf:
		if e.Field.Root != f.Root || !samePath(e.Field.Path, f.Path) || !isPathRoot(f.Root) {
			return nil, ScanNone
		}
		switch e.Op {
		case storage.OpEq:
			return c.ixPoint(e.Value), ScanPoint
		case storage.OpIn:
			if len(e.Values) == 0 {
				return sq.And{sqlFalse}, ScanEq
			}
			if len(e.Values) == 1 {
				return c.ixPoint(e.Values[0]), ScanPoint
			}
			return sq.And{c.ixPoints(e.Values)}, ScanEq
		case storage.OpGt, storage.OpGte, storage.OpLt, storage.OpLte:
			switch e.Value.Kind {
			case driver.KindNumber:
				return sq.And{sq.Expr(ixRank + " = " + strconv.Itoa(RankNumber)), sq.Expr(ixNum+" "+cmpOp(e.Op)+" "+c.ixParam(ixNum), c.pNum(e.Value))}, ScanRange
			case driver.KindString:
				op := cmpOp(e.Op)
				if c.j.strKeyLen() > 0 {
					// prefix(a) op' prefix(b) follows from a op b.
					op = map[storage.Operator]string{storage.OpGt: ">=", storage.OpGte: ">=", storage.OpLt: "<=", storage.OpLte: "<="}[e.Op]
				}
				return append(c.ixString(), sq.Expr(ixStr+" "+op+" "+c.ixParam(ixStr), c.pKey(e.Value))), ScanRange
			}
		case storage.OpStartsWith:
			out := c.ixString()
			p := e.Value.Str
			if p == "" {
				return out, ScanRange
			}
			if c.StrKeyValue(p) != p {
				return append(out, sq.Expr(ixStr+" = "+c.ixParam(ixStr), c.pKey(e.Value))), ScanRange
			}
			// KeyRange(p) starts at p.
			out = append(out, sq.Expr(ixStr+" >= "+c.ixParam(ixStr), c.pStr(e.Value)))
			if !noPrefixHi(p) {
				out = append(out, sq.Expr(ixStr+" < "+c.ixParam(ixStr), c.pHi(e.Value)))
			}
			return out, ScanRange
		}
	}
	return nil, ScanNone
}

func samePath(a, b []driver.Segment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// IndexPoints returns, when filter e requires path field f to equal one
// of two or more values (an in, in e or among the children of its and
// nodes), the index condition of each value: every column before the key
// pinned (ixPoint), so that each is a seek. ok is false otherwise. Reading
// the index as the union of those seeks is the same as reading it with the
// in's condition (IndexScan), which PostgreSQL 15 without statistics tests
// as a filter on every row of the type rank: the list is on a column after
// the first, so the planner may leave it out of the index condition, and
// estimating one row for the columns before it, it did.
func (c *Compiler) IndexPoints(e driver.Expr, f driver.Field) ([]Cond, bool) {
	switch e.Kind {
	case driver.ExprAnd:
		for _, ch := range e.Children {
			if out, ok := c.IndexPoints(ch, f); ok {
				return out, true
			}
		}
	case driver.ExprLeaf:
		if e.Op != storage.OpIn || len(e.Values) < 2 || e.Field.Root != f.Root || !samePath(e.Field.Path, f.Path) || !isPathRoot(f.Root) {
			return nil, false
		}
		out := make([]Cond, len(e.Values))
		for i, v := range e.Values {
			out[i] = c.ixPoint(v)
		}
		return out, true
	}
	return nil, false
}

// ixParam is the placeholder of a value that an index condition compares
// column col (ixNum or ixStr) with. On SQLite, a placeholder. On
// PostgreSQL, a subquery that returns the parameter, (SELECT ?::float8)
// or (SELECT ?::text): the planner estimates it as an unknown value in
// every plan, as it estimates the bare parameter in the generic plan of a
// prepared statement. With the bare parameter, a custom plan (made for the
// call's values) estimated fewer rows than the generic plan wherever the
// column's statistics are skewed (the neutral 0 and empty string of the
// other type rank are most common values in a namespace that declares a
// number and a string field), so the generic plan was costed higher than
// the custom ones and PostgreSQL planned the statement again at every
// call: 0.2-1 ms of planning for 0.1-0.2 ms of execution at 1M entries
// (bench/results/2026-12-02-pgeq.md). Costed alike, the statement keeps
// its generic plan after the five custom ones; the plan is the same (the
// index condition takes the subquery's value, the index order is kept:
// TestIndexesUsed, TestIndexEqKeepsGenericPlan).
func (c *Compiler) ixParam(col string) string {
	if c.PlaceholderFormat() != sq.Dollar {
		return "?"
	}
	if col == ixNum {
		return "(SELECT ?::float8)"
	}
	return "(SELECT ?::text)"
}

// ixParams is n placeholders of ixParam, separated by commas.
func (c *Compiler) ixParams(col string, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = c.ixParam(col)
	}
	return strings.Join(p, ", ")
}

// ixString pins the index to strings: the rank, and the number they all
// have (0), so that the string column comes next.
func (c *Compiler) ixString() sq.And {
	return sq.And{sq.Expr(ixRank + " = " + strconv.Itoa(RankString)), sq.Expr(ixNum + " = 0")}
}

// ixPoint is the index condition of a value equal to s: every column
// before the key pinned (the neutral values of the other types included).
func (c *Compiler) ixPoint(s driver.Scalar) sq.And {
	switch s.Kind {
	case driver.KindNumber:
		return sq.And{sq.Expr(ixRank + " = " + strconv.Itoa(RankNumber)), sq.Expr(ixNum+" = "+c.ixParam(ixNum), c.pNum(s)), sq.Expr(ixStr + " = ''")}
	case driver.KindString:
		return append(c.ixString(), sq.Expr(ixStr+" = "+c.ixParam(ixStr), c.pKey(s)))
	}
	return sq.And{sq.Expr(ixRank + " = " + strconv.Itoa(scalarRank(s))), sq.Expr(ixNum + " = 0"), sq.Expr(ixStr + " = ''")}
}

// ixPoints is the index condition of a value equal to one of vs: the
// numbers as one IN list on the number column, the strings as one on the
// string column, each beside the columns it pins (so that the index is
// sought at each value, not read through the field's rows of that type
// rank), and the other values as ixPoint each, all under one OR.
func (c *Compiler) ixPoints(vs []driver.Scalar) sq.Or {
	var nums, strs []any
	var or sq.Or
	for _, v := range vs {
		switch v.Kind {
		case driver.KindNumber:
			nums = append(nums, c.pNum(v))
		case driver.KindString:
			strs = append(strs, c.pKey(v))
		default:
			or = append(or, c.ixPoint(v))
		}
	}
	if len(strs) > 0 {
		or = append(sq.Or{append(c.ixString(), sq.Expr(ixStr+" IN ("+c.ixParams(ixStr, len(strs))+")", strs...))}, or...)
	}
	if len(nums) > 0 {
		or = append(sq.Or{sq.And{sq.Expr(ixRank + " = " + strconv.Itoa(RankNumber)), sq.Expr(ixNum+" IN ("+c.ixParams(ixNum, len(nums))+")", nums...), sq.Expr(ixStr + " = ''")}}, or...)
	}
	return or
}

// IndexOrder returns the ORDER BY expressions of a sort on path field f
// read from index_entries, when the filter pins f to type rank pinned
// (NoRank for none): the rank (left out when pinned), the number and the
// string, every one a column of the index, so that the index gives the
// order and no planner sorts the matching rows. It orders exactly as
// OrderExprs, except where the index holds a prefix of strings
// (PostgreSQL): strings that share the indexed prefix tie here, and
// IndexTieBreak orders them. The neutral values (0, ”) tie only values of
// one rank that OrderExprs ties too.
func (c *Compiler) IndexOrder(f driver.Field, pinned int) []string {
	var out []string
	if pinned == NoRank {
		out = append(out, ixRank)
	}
	return append(out, ixNum, ixStr)
}

// IndexTieBreak returns the expression that orders, after IndexOrder,
// the strings of path field f that share the indexed prefix (the whole
// string, from the row's JSON), or "" when there is nothing to order: the
// index holds whole strings (SQLite), or the filter pins f to a rank
// other than string.
func (c *Compiler) IndexTieBreak(f driver.Field, pinned int) string {
	if c.j.strKeyLen() == 0 || (pinned != NoRank && pinned != RankString) {
		return ""
	}
	return c.j.str(pathCol(f), f.Path)
}

// SharesPrefix reports whether the index's column of the string s may
// hold the same as that of another string: the index holds a prefix of
// strings, and s is at least that long (its prefix is the whole column,
// which a longer string extends). Strings for which it is false have
// columns of their own, which order them as their full values do.
func (c *Compiler) SharesPrefix(s string) bool {
	n := c.j.strKeyLen()
	return n > 0 && len(s) >= n && utf8.RuneCountInString(s) >= n
}

// IndexValueExprs is ValueExprs read from index_entries where a declared
// index of path field f drives the statement: the type rank, the number
// and the string of the row's value at f, from the index's columns, which
// hold them (the triggers compute them as ValueExprs does), so the row's
// JSON is not searched again. A dialect whose index holds a bounded prefix
// of strings (PostgreSQL) reads the whole string from the JSON, for
// string values only.
func (c *Compiler) IndexValueExprs(f driver.Field) []string {
	str := "(CASE WHEN " + ixRank + " = " + strconv.Itoa(RankString) + " THEN " + ixStr + " END)"
	if c.j.strKeyLen() > 0 {
		str = "(CASE WHEN " + ixRank + " = " + strconv.Itoa(RankString) + " THEN " + c.j.str(pathCol(f), f.Path) + " END)"
	}
	return []string{"CAST(" + ixRank + " AS INTEGER)",
		"(CASE WHEN " + ixRank + " = " + strconv.Itoa(RankNumber) + " THEN " + ixNum + " END)", str}
}

// IndexPinnedValueExpr is the one column of IndexValueExprs that Query
// reads for a sort on path field f driven by its index when the filter
// pins f's type to rank (RankNumber or RankString, see PinnedRank): the
// index's column itself where it holds the whole value (the number; the
// string on SQLite). Every row the statement reads then has that rank, so
// the CASE on the rank that IndexValueExprs writes is the column: SQLite
// evaluated it for every row (a comparison and a branch per row of a
// range read in the index's order). A string that the index holds as a
// prefix (PostgreSQL) is read from the JSON as IndexValueExprs reads it.
// ok is false for any other rank.
func (c *Compiler) IndexPinnedValueExpr(f driver.Field, rank int) (expr string, ok bool) {
	switch rank {
	case RankNumber:
		return ixNum, true
	case RankString:
		if c.j.strKeyLen() == 0 {
			return ixStr, true
		}
		return c.IndexValueExprs(f)[2], true
	}
	return "", false
}

// IndexKeyset returns the keyset columns of a sort on path field f read
// from index_entries (as IndexOrder writes it for pinned, and then
// IndexTieBreak: the rows after a position in the whole order), for a position
// whose value has type rank, and number or string v (as PathKeyset). ok
// is false when the position cannot belong to the sort.
func (c *Compiler) IndexKeyset(f driver.Field, pinned int, desc bool, rank int64, v Input) ([]KeysetColumn, bool) {
	var out []KeysetColumn
	if pinned == NoRank {
		out = append(out, KeysetColumn{Expr: ixRank, Desc: desc, Value: rank})
	} else if int64(pinned) != rank {
		return nil, false
	}
	var n any = 0.0
	var s any = ""
	switch rank {
	case RankNumber:
		n = c.Bind(v, XNum)
	case RankString:
		s = c.Bind(v, XStrKey)
	}
	// A pinned rank makes the other type's column constant (0, ''): it
	// is left out, as a bound on it would only confuse a planner.
	if pinned == NoRank || rank == RankNumber {
		out = append(out, KeysetColumn{Expr: ixNum, Desc: desc, Value: n})
	}
	if pinned == NoRank || rank == RankString {
		out = append(out, KeysetColumn{Expr: ixStr, Desc: desc, Value: s})
	}
	// The whole string orders the strings that share the indexed prefix:
	// a position whose string is shorter than the prefix has a string
	// column of its own (no other string's column equals it), so the
	// whole string would add nothing but a term that PostgreSQL can only
	// test after the join to entries, row by row, the rows the scan skips
	// included (issue 13). The key's cache records which (stmtKey.query).
	if rank == RankString && c.SharesPrefix(v.S.Str) {
		out = append(out, KeysetColumn{Expr: c.j.str(pathCol(f), f.Path), Desc: desc, Value: c.Bind(v, XStr)})
	}
	return out, true
}

// IndexGroup is PathGroup on index_entries: the rows of path field f whose
// value sorts equal to a value of type rank rank, number num and string
// str, a seek on every column before the key, in key order.
func (c *Compiler) IndexGroup(rank int64, num float64, str string) Cond {
	if rank != RankNumber {
		num = 0
	}
	key := ""
	if rank == RankString {
		key = c.StrKeyValue(str)
	}
	return sq.And{sq.Expr(ixRank + " = " + strconv.FormatInt(rank, 10)), sq.Expr(ixNum+" = ?", num), sq.Expr(ixStr+" = ?", key)}
}

// IndexResidual returns the part of filter e that the conditions
// IndexScan(e, f) do not answer exactly: e without the leaves on f (e
// itself, or the children of its and nodes) whose index conditions select
// exactly the entries the leaf matches. A statement that reads the index
// of f with those conditions applies the residual instead of e, and
// returns the same rows without evaluating the JSON of each one again.
//
// A leaf is exact when the index holds what it compares: eq, and in, on
// null, booleans and numbers; ranges on numbers; on strings, eq, in and
// ranges where the index holds whole strings (SQLite), and eq and in with
// strings shorter than the indexed prefix (PostgreSQL: a stored string of
// that prefix and more has another indexed prefix); startsWith where the
// prefix fits in the indexed one. Other leaves, and every leaf on another
// field, are kept.
func (c *Compiler) IndexResidual(e driver.Expr, f driver.Field) driver.Expr {
	switch e.Kind {
	case driver.ExprAnd:
		var kept []driver.Expr
		for _, ch := range e.Children {
			if r := c.IndexResidual(ch, f); r.Kind != driver.ExprAll {
				kept = append(kept, r)
			}
		}
		switch len(kept) {
		case 0:
			return driver.Expr{Kind: driver.ExprAll}
		case 1:
			return kept[0]
		}
		out := e
		out.Children = kept
		return out
	case driver.ExprLeaf:
		if c.indexExact(e, f) {
			return driver.Expr{Kind: driver.ExprAll}
		}
	}
	return e
}

// indexExact reports whether IndexScan's conditions for leaf e on field f
// select exactly the entries e matches (see IndexResidual).
func (c *Compiler) indexExact(e driver.Expr, f driver.Field) bool {
	if e.Field.Root != f.Root || !samePath(e.Field.Path, f.Path) || !isPathRoot(f.Root) {
		return false
	}
	n := c.j.strKeyLen()
	point := func(s driver.Scalar) bool {
		switch s.Kind {
		case driver.KindNull, driver.KindBool, driver.KindNumber:
			return true
		case driver.KindString:
			return n == 0 || utf8.RuneCountInString(s.Str) < n
		}
		return false
	}
	switch e.Op {
	case storage.OpEq:
		return point(e.Value)
	case storage.OpIn:
		for _, v := range e.Values {
			if !point(v) {
				return false
			}
		}
		return true
	case storage.OpGt, storage.OpGte, storage.OpLt, storage.OpLte:
		return e.Value.Kind == driver.KindNumber || (e.Value.Kind == driver.KindString && n == 0)
	case storage.OpStartsWith:
		return c.StrKeyValue(e.Value.Str) == e.Value.Str
	}
	return false
}
