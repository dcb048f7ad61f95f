package dialect

import (
	"slices"
	"strconv"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// Declared indexes, sorts and the namespace condition.
//
// The declared fields of a namespace are rows of index_fields (the
// namespace, a small field id, the column and the JSON path IndexPath
// writes), and their values rows of one table shared by every namespace,
//
//	index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key)
//
// whose primary key is that whole tuple: the type rank, the number (0 when
// the value is not a number), the string (the empty string when it is not
// a string; on PostgreSQL its first 256 characters, as an index entry there
// is limited to 2,704 bytes) and the key. Triggers keep it (migration
// 00009). Query joins it to entries when the sort's first field, or a field
// the filter pins, is declared: IndexScan writes the conditions on the
// index columns that the filter implies, IndexOrder the ORDER BY that the
// index gives, IndexKeyset a cursor position in that order. The part of
// the filter that those conditions do not answer exactly (IndexResidual) is
// applied to entries too, so answers never depend on what the index holds.

// NoRank is PinnedRank's answer when the filter does not pin the field to
// one type.
const NoRank = -1

// PinnedRank returns the type rank that every entry matching e has at
// field f, or NoRank when e admits several (or says nothing of f). A typed
// comparison (eq, gt, gte, lt, lte with a number or a string, eq with null
// or a boolean, in with values of one type, startsWith, endsWith) pins its
// field; and pins when one of its children does; or when all of its
// children pin the same rank.
func PinnedRank(e driver.Expr, f driver.Field) int {
	switch e.Kind {
	case driver.ExprLeaf:
		if e.Field.Root != f.Root || !slices.Equal(e.Field.Path, f.Path) || !isPathRoot(f.Root) {
			return NoRank
		}
		switch e.Op {
		case storage.OpEq, storage.OpGt, storage.OpGte, storage.OpLt, storage.OpLte:
			r := scalarRank(e.Value)
			if e.Op != storage.OpEq && r != RankNumber && r != RankString {
				return NoRank
			}
			return r
		case storage.OpIn:
			r := NoRank
			for i, v := range e.Values {
				vr := scalarRank(v)
				if i > 0 && vr != r {
					return NoRank
				}
				r = vr
			}
			return r
		case storage.OpStartsWith, storage.OpEndsWith:
			return RankString
		}
	case driver.ExprAnd:
		for _, ch := range e.Children {
			if r := PinnedRank(ch, f); r != NoRank {
				return r
			}
		}
	case driver.ExprOr:
		r := NoRank
		for i, ch := range e.Children {
			cr := PinnedRank(ch, f)
			if cr == NoRank || (i > 0 && cr != r) {
				return NoRank
			}
			r = cr
		}
		return r
	}
	return NoRank
}

// PinnedValue reports whether every entry matching e has one and the same
// value at field f: e is, or is an and of, an eq (or an in of one value)
// on f with a number or a string. A sort on such a field orders nothing,
// so Query leaves it out of the ORDER BY (where SQLite could not match
// it to the index: the equality pins that index column).
func PinnedValue(e driver.Expr, f driver.Field) bool {
	switch e.Kind {
	case driver.ExprLeaf:
		if e.Field.Root != f.Root || !slices.Equal(e.Field.Path, f.Path) || !isPathRoot(f.Root) {
			return false
		}
		v := e.Value
		switch {
		case e.Op == storage.OpEq:
		case e.Op == storage.OpIn && len(e.Values) == 1:
			v = e.Values[0]
		default:
			return false
		}
		return v.Kind == driver.KindNumber || v.Kind == driver.KindString
	case driver.ExprAnd:
		for _, ch := range e.Children {
			if PinnedValue(ch, f) {
				return true
			}
		}
	}
	return false
}

func isPathRoot(r driver.FieldRoot) bool { return r == driver.RootValue || r == driver.RootMetadata }

func pathCol(f driver.Field) string {
	if f.Root == driver.RootMetadata {
		return "metadata"
	}
	return "value"
}

// OrderExprs returns the SQL expressions, in order, that sort by field f
// when the filter pins f to type rank pinned (NoRank for none): for a path
// into the value or metadata, the type rank (left out when pinned), the
// number key (left out when pinned to strings: it is 0), the string key
// and, where the string key is a prefix, the full string (left out when
// pinned to a type other than string: it is NULL); for a reserved root,
// its column. IndexOrder is the same order read from index_entries. Both
// directions order identically on every dialect: within one rank only one
// of the number key and the string key varies (the other is the constant
// 0 or the empty string), and the full string is all non-NULL or all NULL.
func (c *Compiler) OrderExprs(f driver.Field, pinned int) []string {
	switch f.Root {
	case driver.RootValue, driver.RootMetadata:
		col := pathCol(f)
		var out []string
		if pinned == NoRank {
			out = append(out, c.j.rank(col, f.Path))
		}
		if pinned != RankString {
			// A string's number key is the constant 0, and SQLite
			// cannot match an ORDER BY term to an index column that
			// its search pins by equality (isString's numKey = 0).
			out = append(out, c.j.numKey(col, f.Path))
		}
		out = append(out, c.j.strKey(col, f.Path))
		if c.j.strKeyLen() > 0 && (pinned == NoRank || pinned == RankString) {
			out = append(out, c.j.str(col, f.Path))
		}
		return out
	case driver.RootKey:
		return []string{"key"}
	case driver.RootVersion:
		return []string{"version"}
	case driver.RootCreatedAt:
		return []string{"created_at"}
	case driver.RootUpdatedAt:
		return []string{"updated_at"}
	}
	return nil
}

// ValueExprs are the expressions Query reads for a sort on a path field,
// to remember a page's last position: its type rank, number and string.
func (c *Compiler) ValueExprs(f driver.Field) []string {
	col := pathCol(f)
	return []string{c.j.rank(col, f.Path), c.j.num(col, f.Path), c.j.str(col, f.Path)}
}

// PathKeyset returns the keyset columns of a sort on path field f (as
// OrderExprs writes it for pinned) for a position whose value has type
// rank, and number (rank RankNumber: v.S.Num) or string (rank RankString:
// v.S.Str), bound with Bind. ok is false when the position cannot belong
// to the sort (a rank other than the pinned one).
func (c *Compiler) PathKeyset(f driver.Field, pinned int, desc bool, rank int64, v Input) ([]KeysetColumn, bool) {
	col := pathCol(f)
	var out []KeysetColumn
	if pinned == NoRank {
		out = append(out, KeysetColumn{Expr: c.j.rank(col, f.Path), Desc: desc, Value: rank})
	} else if int64(pinned) != rank {
		return nil, false
	}
	switch rank {
	case RankNumber:
		out = append(out, KeysetColumn{Expr: c.j.numKey(col, f.Path), Desc: desc, Value: c.Bind(v, XNum)})
	case RankString:
		out = append(out, KeysetColumn{Expr: c.j.strKey(col, f.Path), Desc: desc, Value: c.Bind(v, XStrKey)})
		if c.j.strKeyLen() > 0 {
			out = append(out, KeysetColumn{Expr: c.j.str(col, f.Path), Desc: desc, Value: c.Bind(v, XStr)})
		}
	}
	return out, true
}

// NamespaceCond restricts a statement to the entries of the namespace
// whose id was read as id: "namespace_id = <id>" as a literal, which the
// planner matches to the primary key and to index_entries. Namespace ids
// are never reused (migration 00028), so an id read before its namespace
// was deleted selects no rows, never another namespace's; the caller reads
// the id again when a statement finds nothing (sqlstore's nsInfo).
func NamespaceCond(id int64) Cond {
	return sq.Expr("namespace_id = " + strconv.FormatInt(id, 10))
}

// PathGroup is the condition "the value at path field f sorts equal to a
// value of type rank rank, number num (rank RankNumber) and string str
// (rank RankString)": an equality on each expression of the declared
// index before the key (and on the full string where the index holds a
// prefix), so that on the index it is a seek whose rows come in key order.
// Values of one rank other than number and string all sort equal.
func (c *Compiler) PathGroup(f driver.Field, rank int64, num float64, str string) Cond {
	col := pathCol(f)
	if rank != RankNumber {
		num = 0
	}
	key := ""
	if rank == RankString {
		key = c.StrKeyValue(str)
	}
	out := sq.And{
		sq.Expr(c.j.rank(col, f.Path) + " = " + strconv.FormatInt(rank, 10)),
		sq.Expr(c.j.numKey(col, f.Path)+" = ?", num),
		sq.Expr(c.j.strKey(col, f.Path)+" = ?", key),
	}
	if rank == RankString && c.j.strKeyLen() > 0 {
		out = append(out, sq.Expr(c.j.str(col, f.Path)+" = ?", str))
	}
	return out
}
