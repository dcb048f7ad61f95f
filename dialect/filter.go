package dialect

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// Compiler turns validated filters, sorts and list patterns into SQL for
// one dialect. The SQL it writes reads the entries table unaliased
// (columns key, value, metadata, version, created_at, updated_at), uses "?"
// placeholders (PlaceholderFormat converts them), and carries user text only
// in bound parameters. Field paths are the one exception: they appear as
// string literals, which the planner reads as constants; they are safe
// there because driver.ParseField admits only letters, digits, "_" and
// "-" in a segment, and they are quoted again here all the same.
//
// The typed semantics are the same on every dialect:
//
//   - numbers compare as IEEE 754 doubles (a magnitude past the double range
//     is an infinity, one below it 0), strings byte-wise, booleans and null
//     by equality; a comparison between different JSON types is false;
//   - a missing field (or a path through a non-container) is false for every
//     operator except ne, nin, exists:false and under not;
//   - contains is substring search on a string field and element equality
//     on an array field; startsWith and endsWith apply to strings only;
//   - sorts order values by type first: missing < null < false < true <
//     numbers < strings < arrays < objects; numbers numerically, strings
//     byte-wise; arrays and objects tie (the key breaks the tie).
//
// A Compiler is immutable and safe for concurrent use.
type Compiler struct {
	j    jsonDialect
	plan bool // a planning compiler (Planner): parameters are Params
}

// NewCompiler returns the compiler of the dialect called name.
func NewCompiler(name Name) (*Compiler, error) {
	switch name {
	case SQLite:
		return &Compiler{j: sqliteJSON{}}, nil
	case Postgres:
		return &Compiler{j: postgresJSON{}}, nil
	}
	return nil, fmt.Errorf("dialect: unknown dialect %q", name)
}

// PlaceholderFormat returns the rewriter of the dialect's placeholders:
// it turns the "?" placeholders of the SQL this Compiler writes (Where,
// IndexScan, …), and of a statement built around it, into the dialect's
// own, in order: "?" on SQLite (unchanged), $1, $2, … on PostgreSQL. Call
// it once on the whole statement, after the conditions are joined.
func (c *Compiler) PlaceholderFormat() Placeholders { return c.j.placeholders() }

// EntryColumns are the columns that read an entry of the entries table.
// PostgreSQL: key, value, metadata, version, created_at, updated_at
// (timestamptz), expires_at (NULL for none), revision, create_revision.
// SQLite: key, and one TEXT column that packs the rest as GetEntry's does
// (queries/sqlite/entries.sql; sqlstore's unpackEntry reads it): the
// modernc driver reads each column of each row through calls of its own
// and allocates its value, so nine columns per row cost more than the
// decoding of one.
func (c *Compiler) EntryColumns() []string { return c.j.entryColumns() }

// TimeParam converts a time to the dialect's bound form of created_at and
// updated_at (the time must already be truncated to microseconds).
func (c *Compiler) TimeParam(t time.Time) any { return c.j.timeParam(t) }

// jsonDialect is what differs between dialects in the SQL of filters.
type jsonDialect interface {
	placeholders() sq.PlaceholderFormat
	entryColumns() []string
	timeParam(t time.Time) any
	// Projections of the JSON at path in column col ("value" or "metadata").
	// Each returns SQL without parameters.
	exists(col string, path []driver.Segment) string           // true when present (JSON null included), never NULL
	isType(col string, path []driver.Segment, t string) string // t: null true false array
	num(col string, path []driver.Segment) string              // a double for a number, else NULL
	str(col string, path []driver.Segment) string              // byte-ordered text for a string, else NULL
	rank(col string, path []driver.Segment) string             // the type rank of the sort order, 0 when missing
	// numKey is the number projection as a declared index holds it: num,
	// or 0 (never NULL) for a value that is not a number.
	numKey(col string, path []driver.Segment) string
	// strKey is the string projection as a declared index holds it: a
	// bounded prefix of str where the database limits the size of an
	// index entry (PostgreSQL), str itself where it does not (SQLite);
	// the empty string (never NULL) for a value that is not a string.
	strKey(col string, path []driver.Segment) string
	// strKeyLen is the length in characters of strKey's prefix, 0 when
	// strKey is str.
	strKeyLen() int
	// arrayHas is true when the value at path is an array with an element
	// equal to s.
	// arg is the bound parameter of s's number or string.
	arrayHas(col string, path []driver.Segment, s driver.Scalar, arg any) sq.Sqlizer
	// String predicates over a text expression; the string is the bound
	// parameter arg.
	strContains(expr string, arg any) sq.Sqlizer
	strStartsWith(expr string, arg any) sq.Sqlizer
	strEndsWith(expr string, arg any) sq.Sqlizer
	// version as a double.
	versionNum() string
}

// Type ranks of the sort order.
const (
	RankMissing = 0
	RankNull    = 1
	RankFalse   = 2
	RankTrue    = 3
	RankNumber  = 4
	RankString  = 5
	RankArray   = 6
	RankObject  = 7
)

var (
	sqlTrue  = sq.Expr("1=1")
	sqlFalse = sq.Expr("1=0")
)

// maxChain is the longest list of terms balanced joins with one AND or
// OR chain.
const maxChain = 16

// balanced joins parts (at least one) with AND (and) or OR: as one chain
// when there are at most maxChain, else as a tree of chains of two
// halves. SQLite parses a chain of n terms into a tree n deep and
// refuses a tree deeper than 1000 (SQLITE_MAX_EXPR_DEPTH): an or of
// the storage.MaxFilterNodes - 1 leaves a filter may hold failed with
// "Expression tree is too large", which reached the caller as internal.
// Split in halves, a list of n terms is about maxChain + log2(n) deep,
// and a filter of storage.MaxFilterDepth levels well under the limit.
// Both databases flatten nested ANDs and ORs when planning.
//
// The result writes its SQL in one pass (onePass): squirrel's And and Or
// render each nested list into a string of its own and copy it into the
// enclosing one, so a list of n leaves split in halves copied its text
// log2(n) times (an or of 999 leaves: 12 MB allocated per statement).
func balanced(parts []sq.Sqlizer, and bool) sq.Sqlizer {
	if len(parts) > maxChain {
		mid := len(parts) / 2
		parts = []sq.Sqlizer{balanced(parts[:mid], and), balanced(parts[mid:], and)}
	}
	if and {
		return onePass{sq.And(parts)}
	}
	return onePass{sq.Or(parts)}
}

// onePass is a condition whose SQL is written into one buffer: nested
// squirrel And and Or lists, onePass and prefixed conditions are written
// in place, anything else through its ToSql. The text and the arguments
// are exactly squirrel's for the same tree: a list of no parts is its
// default ((1=1) for And, (1=0) for Or), parts whose SQL is empty are
// left out with their arguments, and a list whose parts are all empty is
// empty.
type onePass struct{ p sq.Sqlizer }

func (o onePass) ToSql() (string, []any, error) {
	var w sqlWriter
	if err := w.write(o.p); err != nil {
		return "", nil, err
	}
	return string(w.b), w.args, nil
}

// sqlWriter accumulates the SQL and the arguments of a condition tree.
type sqlWriter struct {
	b    []byte
	args []any
}

func (w *sqlWriter) write(p sq.Sqlizer) error {
	switch x := p.(type) {
	case onePass:
		return w.write(x.p)
	case sq.And:
		return w.list(x, " AND ", "(1=1)")
	case sq.Or:
		return w.list(x, " OR ", "(1=0)")
	case prefixed:
		// As its ToSql: the text around what it wraps, even empty.
		w.b = append(w.b, x.pre...)
		if err := w.write(x.p); err != nil {
			return err
		}
		w.b = append(w.b, x.post...)
		return nil
	}
	s, args, err := p.ToSql()
	if err != nil {
		return err
	}
	w.b = append(w.b, s...)
	w.args = append(w.args, args...)
	return nil
}

// list writes parts joined by sep in parentheses, as squirrel's conj.
func (w *sqlWriter) list(parts []sq.Sqlizer, sep, empty string) error {
	if len(parts) == 0 {
		w.b = append(w.b, empty...)
		return nil
	}
	start := len(w.b)
	w.b = append(w.b, '(')
	some := false
	for _, p := range parts {
		before, argsBefore := len(w.b), len(w.args)
		if some {
			w.b = append(w.b, sep...)
		}
		at := len(w.b)
		if err := w.write(p); err != nil {
			return err
		}
		if len(w.b) == at {
			w.b, w.args = w.b[:before], w.args[:argsBefore]
			continue
		}
		some = true
	}
	if !some {
		w.b = w.b[:start]
		return nil
	}
	w.b = append(w.b, ')')
	return nil
}

// Where compiles a validated filter into a boolean SQL expression.
func (c *Compiler) Where(e driver.Expr) (Cond, error) {
	switch e.Kind {
	case driver.ExprAll:
		return sqlTrue, nil
	case driver.ExprAnd, driver.ExprOr:
		parts := make([]sq.Sqlizer, 0, len(e.Children))
		for _, ch := range e.Children {
			p, err := c.Where(ch)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
		if len(parts) == 0 {
			if e.Kind == driver.ExprAnd {
				return sqlTrue, nil
			}
			return sqlFalse, nil
		}
		return balanced(parts, e.Kind == driver.ExprAnd), nil
	case driver.ExprNot:
		if len(e.Children) != 1 {
			return nil, driver.Invalidf(storage.ErrInvalidFilter, "not takes exactly one filter")
		}
		p, err := c.Where(e.Children[0])
		if err != nil {
			return nil, err
		}
		return not(p), nil
	case driver.ExprLeaf:
		return c.leaf(e)
	}
	return nil, driver.Invalidf(storage.ErrInvalidFilter, "unknown node kind %d", e.Kind)
}

// not negates p, reading an unknown (NULL) result as false first, so that a
// missing field matches the negation.
func not(p sq.Sqlizer) sq.Sqlizer {
	return prefixed{"NOT COALESCE(", p, ", 1=0)"}
}

type prefixed struct {
	pre  string
	p    sq.Sqlizer
	post string
}

func (x prefixed) ToSql() (string, []any, error) {
	s, args, err := x.p.ToSql()
	if err != nil {
		return "", nil, err
	}
	return x.pre + s + x.post, args, nil
}

func (c *Compiler) leaf(e driver.Expr) (sq.Sqlizer, error) {
	switch e.Field.Root {
	case driver.RootValue:
		return c.jsonLeaf("value", e)
	case driver.RootMetadata:
		return c.jsonLeaf("metadata", e)
	case driver.RootKey:
		return c.keyLeaf(e)
	case driver.RootVersion:
		return c.columnLeaf(c.j.versionNum(), e, c.pNum)
	case driver.RootCreatedAt:
		return c.timeLeaf("created_at", e)
	case driver.RootUpdatedAt:
		return c.timeLeaf("updated_at", e)
	}
	return nil, driver.Invalidf(storage.ErrInvalidFilter, "unknown field root")
}

func cmpOp(op storage.Operator) string {
	switch op {
	case storage.OpEq:
		return "="
	case storage.OpGt:
		return ">"
	case storage.OpGte:
		return ">="
	case storage.OpLt:
		return "<"
	case storage.OpLte:
		return "<="
	}
	return ""
}

func badOp(e driver.Expr) error {
	return driver.Invalidf(storage.ErrInvalidFilter, "field %q: operator %s does not apply here", e.Field.Text, e.Op)
}

// jsonEq is the equality of the JSON at path with s: typed, so that values of
// other types never match.
func (c *Compiler) jsonEq(col string, path []driver.Segment, s driver.Scalar) sq.Sqlizer {
	switch s.Kind {
	case driver.KindNull, driver.KindBool:
		return c.rankIs(col, path, scalarRank(s))
	}
	return c.typedCmp(col, path, storage.OpEq, s)
}

// scalarRank is the type rank of a filter value.
func scalarRank(s driver.Scalar) int {
	switch s.Kind {
	case driver.KindNull:
		return RankNull
	case driver.KindBool:
		if s.Bool {
			return RankTrue
		}
		return RankFalse
	case driver.KindNumber:
		return RankNumber
	case driver.KindString:
		return RankString
	}
	return NoRank
}

// rankIs is "the value at path has type rank r", written on the index's
// leading expression so that it pins the index to one type.
func (c *Compiler) rankIs(col string, path []driver.Segment, r int) sq.Sqlizer {
	return sq.Expr(c.j.rank(col, path) + " = " + strconv.Itoa(r))
}

// isString is "the value at path is a string" as the declared index reads
// it: the rank, then the number key (0 for a string), which sits between
// the rank and the string key in the index, so that the planner can go on
// to the string key (an equality on every column before it: a seek).
func (c *Compiler) isString(col string, path []driver.Segment) sq.And {
	return sq.And{c.rankIs(col, path, RankString), sq.Expr(c.j.numKey(col, path) + " = 0")}
}

// isNumber is "the value at path is a number" as the declared index reads
// it: the rank, and the string key after the number key (the empty string for a number),
// so that an equality on the number is one on every column before the key
// and the index gives the rows in key order.
func (c *Compiler) isNumber(col string, path []driver.Segment) sq.And {
	return sq.And{c.rankIs(col, path, RankNumber), sq.Expr(c.j.strKey(col, path) + " = ''")}
}

// fullStr is the expression of the whole string at path for a value known
// to be a string: the index's string key where it holds the whole string
// (SQLite), else str.
func (c *Compiler) fullStr(col string, path []driver.Segment) string {
	if c.j.strKeyLen() > 0 {
		return c.j.str(col, path)
	}
	return c.j.strKey(col, path)
}

// typedCmp compares the value at path with a number or a string s: the
// type rank pinned first (the leading column of a declared index), then
// the number key, or the string key. Where the index holds a prefix of
// strings, the prefix is compared too, with the bound that the full
// comparison implies, so the index range is used and the full string
// rechecked: for strings a and b, a <= b implies prefix(a) <= prefix(b).
func (c *Compiler) typedCmp(col string, path []driver.Segment, op storage.Operator, s driver.Scalar) sq.Sqlizer {
	if s.Kind == driver.KindNumber {
		return append(c.isNumber(col, path), sq.Expr(c.j.numKey(col, path)+" "+cmpOp(op)+" ?", c.pNum(s)))
	}
	out := c.isString(col, path)
	if c.j.strKeyLen() > 0 {
		kop := map[storage.Operator]string{storage.OpEq: " = ?", storage.OpGt: " >= ?", storage.OpGte: " >= ?", storage.OpLt: " <= ?", storage.OpLte: " <= ?"}[op]
		out = append(out, sq.Expr(c.j.strKey(col, path)+kop, c.pKey(s)))
	}
	return append(out, sq.Expr(c.fullStr(col, path)+" "+cmpOp(op)+" ?", c.pStr(s)))
}

// StrKeyValue is the strKey projection of the string s: its first
// characters where the index holds a prefix, else s.
func (c *Compiler) StrKeyValue(s string) string {
	n := c.j.strKeyLen()
	if n == 0 {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

func (c *Compiler) jsonIn(col string, path []driver.Segment, vals []driver.Scalar) sq.Sqlizer {
	var nums, strs, keys []any
	var parts []sq.Sqlizer
	seen := map[string]bool{}
	for _, v := range vals {
		switch v.Kind {
		case driver.KindNumber:
			nums = append(nums, c.pNum(v))
		case driver.KindString:
			strs = append(strs, c.pStr(v))
			keys = append(keys, c.pKey(v))
		default:
			k := fmt.Sprint(v.Kind, v.Bool)
			if !seen[k] {
				seen[k] = true
				parts = append(parts, c.jsonEq(col, path, v))
			}
		}
	}
	if len(nums) > 0 {
		parts = append(parts, append(c.isNumber(col, path),
			sq.Expr(c.j.numKey(col, path)+" IN ("+sq.Placeholders(len(nums))+")", nums...)))
	}
	if len(strs) > 0 {
		in := c.isString(col, path)
		if c.j.strKeyLen() > 0 {
			in = append(in, sq.Expr(c.j.strKey(col, path)+" IN ("+sq.Placeholders(len(keys))+")", keys...))
		}
		parts = append(parts, append(in, sq.Expr(c.fullStr(col, path)+" IN ("+sq.Placeholders(len(strs))+")", strs...)))
	}
	switch len(parts) {
	case 0:
		return sqlFalse
	case 1:
		return parts[0]
	}
	return sq.Or(parts)
}

func (c *Compiler) jsonLeaf(col string, e driver.Expr) (sq.Sqlizer, error) {
	path := e.Field.Path
	v := e.Value
	switch e.Op {
	case storage.OpExists:
		if e.Exists {
			return sq.Expr(c.j.exists(col, path)), nil
		}
		return sq.Expr("NOT " + c.j.exists(col, path)), nil
	case storage.OpEq:
		return c.jsonEq(col, path, v), nil
	case storage.OpNe:
		return not(c.jsonEq(col, path, v)), nil
	case storage.OpIn:
		return c.jsonIn(col, path, e.Values), nil
	case storage.OpNin:
		return not(c.jsonIn(col, path, e.Values)), nil
	case storage.OpGt, storage.OpGte, storage.OpLt, storage.OpLte:
		switch v.Kind {
		case driver.KindNumber, driver.KindString:
			return c.typedCmp(col, path, e.Op, v), nil
		}
	case storage.OpContains:
		var arg any
		switch v.Kind {
		case driver.KindNumber:
			arg = c.pNum(v)
		case driver.KindString:
			arg = c.pStr(v)
		}
		has := c.j.arrayHas(col, path, v, arg)
		if v.Kind == driver.KindString {
			return sq.Or{c.j.strContains(c.j.str(col, path), arg), has}, nil
		}
		return has, nil
	case storage.OpStartsWith:
		return c.startsWith(col, path, v), nil
	case storage.OpEndsWith:
		return c.j.strEndsWith(c.j.str(col, path), c.pStr(v)), nil
	}
	return nil, badOp(e)
}

// startsWith is a string prefix test that a declared index serves: the
// type rank pinned, the indexed string (or its prefix) in the range of the
// strings that start with prefix, and the test itself rechecked.
func (c *Compiler) startsWith(col string, path []driver.Segment, s driver.Scalar) sq.Sqlizer {
	out := c.isString(col, path)
	if s.Str == "" {
		return out
	}
	key := c.j.strKey(col, path)
	if c.StrKeyValue(s.Str) != s.Str {
		// The prefix is longer than the indexed one: every match has
		// exactly that indexed prefix.
		out = append(out, sq.Expr(key+" = ?", c.pKey(s)))
	} else {
		// KeyRange(prefix) starts at the prefix.
		out = append(out, sq.Expr(key+" >= ?", c.pStr(s)))
		if !noPrefixHi(s.Str) {
			out = append(out, sq.Expr(key+" < ?", c.pHi(s)))
		}
	}
	return append(out, c.j.strStartsWith(c.fullStr(col, path), c.pStr(s)))
}

func (c *Compiler) keyLeaf(e driver.Expr) (sq.Sqlizer, error) {
	switch e.Op {
	case storage.OpExists:
		if e.Exists {
			return sqlTrue, nil
		}
		return sqlFalse, nil
	case storage.OpContains:
		return c.j.strContains("key", c.pStr(e.Value)), nil
	case storage.OpStartsWith:
		if noPrefixHi(e.Value.Str) {
			return sq.Expr("key >= ?", c.pStr(e.Value)), nil
		}
		return sq.Expr("key >= ? AND key < ?", c.pStr(e.Value), c.pHi(e.Value)), nil
	case storage.OpEndsWith:
		return c.j.strEndsWith("key", c.pStr(e.Value)), nil
	}
	return c.columnLeaf("key", e, c.pStr)
}

// columnLeaf compiles eq ne gt gte lt lte in nin exists on a column that is
// never NULL.
func (c *Compiler) columnLeaf(col string, e driver.Expr, arg func(driver.Scalar) any) (sq.Sqlizer, error) {
	switch e.Op {
	case storage.OpExists:
		if e.Exists {
			return sqlTrue, nil
		}
		return sqlFalse, nil
	case storage.OpEq, storage.OpGt, storage.OpGte, storage.OpLt, storage.OpLte:
		return sq.Expr(col+" "+cmpOp(e.Op)+" ?", arg(e.Value)), nil
	case storage.OpNe:
		return sq.Expr(col+" <> ?", arg(e.Value)), nil
	case storage.OpIn, storage.OpNin:
		if len(e.Values) == 0 {
			if e.Op == storage.OpIn {
				return sqlFalse, nil
			}
			return sqlTrue, nil
		}
		args := make([]any, len(e.Values))
		for i, v := range e.Values {
			args[i] = arg(v)
		}
		kw := " IN ("
		if e.Op == storage.OpNin {
			kw = " NOT IN ("
		}
		return sq.Expr(col+kw+sq.Placeholders(len(args))+")", args...), nil
	}
	return nil, badOp(e)
}

// timeLeaf compares a time column (microsecond precision) with instants
// that may carry nanoseconds, exactly: with t = f + r, 0 < r < 1µs, a stored
// m is > t iff m >= f+1µs, and < t iff m <= f; it never equals t.
func (c *Compiler) timeLeaf(col string, e driver.Expr) (sq.Sqlizer, error) {
	split := func(t time.Time) (time.Time, bool) {
		t = t.UTC()
		f := t.Truncate(time.Microsecond)
		return f, f.Equal(t)
	}
	floor := func(s driver.Scalar) any { return c.Bind(Input{S: s}, XTimeFloor) }
	switch e.Op {
	case storage.OpExists:
		if e.Exists {
			return sqlTrue, nil
		}
		return sqlFalse, nil
	case storage.OpEq, storage.OpNe:
		_, exact := split(e.Value.Time)
		if !exact {
			if e.Op == storage.OpEq {
				return sqlFalse, nil
			}
			return sqlTrue, nil
		}
		op := "="
		if e.Op == storage.OpNe {
			op = "<>"
		}
		return sq.Expr(col+" "+op+" ?", floor(e.Value)), nil
	case storage.OpGt, storage.OpGte, storage.OpLt, storage.OpLte:
		_, exact := split(e.Value.Time)
		op := cmpOp(e.Op)
		if !exact {
			switch e.Op {
			case storage.OpGt, storage.OpGte:
				return sq.Expr(col+" >= ?", c.Bind(Input{S: e.Value}, XTimeCeil)), nil
			default:
				return sq.Expr(col+" <= ?", floor(e.Value)), nil
			}
		}
		return sq.Expr(col+" "+op+" ?", floor(e.Value)), nil
	case storage.OpIn, storage.OpNin:
		var args []any
		for _, v := range e.Values {
			if _, exact := split(v.Time); exact {
				args = append(args, floor(v))
			}
		}
		if len(args) == 0 {
			if e.Op == storage.OpIn {
				return sqlFalse, nil
			}
			return sqlTrue, nil
		}
		kw := " IN ("
		if e.Op == storage.OpNin {
			kw = " NOT IN ("
		}
		return sq.Expr(col+kw+sq.Placeholders(len(args))+")", args...), nil
	}
	return nil, badOp(e)
}

// KeysetColumn is one column of a keyset position: the expression, its
// direction, and the value the last row of the previous page had.
type KeysetColumn struct {
	Expr  string
	Desc  bool
	Value any
}

// Keyset returns the condition "after the position cols" in the order the
// columns define: (c1 > v1) OR (c1 = v1 AND c2 > v2) OR … with < for
// descending columns. Every value must be non-NULL.
//
// The first column's bound (c1 >= v1, or <= when descending) is repeated
// before the disjunction, so that a planner reading an index in the sort's
// order starts the scan at the position instead of filtering from the
// first row.
func Keyset(cols []KeysetColumn) Cond { return keyset(cols, "") }

// Keyset is the package's Keyset as the dialect plans it best: on SQLite
// the disjunction's terms are written with a unary plus, which keeps its
// planner from reading it as a union of index ranges (MULTI-INDEX OR,
// which loses the index order and sorts); the leading bound still starts
// the index scan at the position.
func (c *Compiler) Keyset(cols []KeysetColumn) Cond {
	if _, ok := c.j.(sqliteJSON); ok {
		return keyset(cols, "+")
	}
	return keyset(cols, "")
}

// KeysetPastGroup is the keyset of the position past every row whose
// columns cols equal the position's values: past a group of ties of a
// descending sort (every column of cols descending, the key not among
// them), whose ties run in descending key order (keyCol, the order's key
// column). On PostgreSQL it is Keyset(cols): its B-tree starts a
// backward scan below the group on a strict bound. SQLite started a
// backward scan of a row value shorter than the index's columns at the
// group's last row even when the bound is strict, and stepped through
// the whole group, testing each row: the row value ends in the key, at
// the empty string, below every key (storage.ValidateKey refuses an empty
// key), which positions the scan below the group.
func (c *Compiler) KeysetPastGroup(cols []KeysetColumn, keyCol string) Cond {
	if _, ok := c.j.(sqliteJSON); ok {
		return keyset(append(slices.Clip(cols), KeysetColumn{Expr: keyCol, Desc: true, Value: ""}), "+")
	}
	return keyset(cols, "")
}

func keyset(cols []KeysetColumn, unindexed string) sq.Sqlizer {
	if len(cols) == 0 {
		return sqlFalse
	}
	var or sq.Or
	for j := range cols {
		var and sq.And
		for i := 0; i < j; i++ {
			and = append(and, sq.Expr(unindexed+cols[i].Expr+" = ?", cols[i].Value))
		}
		op := " > ?"
		if cols[j].Desc {
			op = " < ?"
		}
		and = append(and, sq.Expr(unindexed+cols[j].Expr+op, cols[j].Value))
		or = append(or, and)
	}
	op := " >= "
	if cols[0].Desc {
		op = " <= "
	}
	if unindexed == "" {
		n := 0
		for n < len(cols) && indexColumn(cols[n].Expr) && cols[n].Desc == cols[0].Desc {
			n++
		}
		if cols[0].Expr == ixRank && n >= 3 {
			return indexRowKeyset(cols, n)
		}
		return sq.And{sq.Expr(cols[0].Expr+op+"?", cols[0].Value), or}
	}
	// SQLite: the bound as a row value over the leading columns of one
	// direction. Its planner reads two plain bounds on one column (the
	// filter's range and this one) as a reason to skip-scan the index,
	// which loses its order; a row value it reads as one range.
	n := 1
	for n < len(cols) && cols[n].Desc == cols[0].Desc {
		n++
	}
	exprs, vals := make([]string, n), make([]any, n)
	for i := range n {
		exprs[i], vals[i] = cols[i].Expr, cols[i].Value
	}
	return sq.And{sq.Expr("("+strings.Join(exprs, ", ")+")"+op+"("+sq.Placeholders(n)+")", vals...), or}
}

// indexColumn reports whether expr is a column of index_entries that a
// statement driven by a declared index reads in order.
func indexColumn(expr string) bool {
	switch expr {
	case ixRank, ixNum, ixStr, IndexKey:
		return true
	}
	return false
}

// indexRowKeyset is the keyset of PostgreSQL for a position in the order
// of a declared index whose rank the filter does not pin (IndexKeyset:
// rank, number, string, then the whole string or the key), where the
// first n columns are the index's, of one direction. They are one row
// comparison, which the B-tree positions on, strict when they are the
// whole keyset (an ascending sort: rank, number, string, key). Otherwise
// the rest of the keyset (a descending sort's key, which runs ascending
// in a group of ties; the whole string) applies inside the group of the
// position only, written as (c1, …, cn) <> (v1, …, vn) OR (the rest's
// keyset): a <> is no index condition, so the disjunction is a filter,
// never a union of index scans (a BitmapOr, which loses the order: with
// the disjunction's arms beside the row bound, PostgreSQL without
// statistics read and sorted every row of a 1M namespace, 3cf3142).
// With the rank's bound alone and the rest a filter (what the keyset was
// before), the page after N rows read all N rows (issue 13).
func indexRowKeyset(cols []KeysetColumn, n int) sq.Sqlizer {
	exprs, vals := make([]string, n), make([]any, n)
	for i := range n {
		exprs[i], vals[i] = cols[i].Expr, cols[i].Value
	}
	row := "(" + strings.Join(exprs, ", ") + ")"
	params := "(" + sq.Placeholders(n) + ")"
	op := " > "
	if cols[0].Desc {
		op = " < "
	}
	if n == len(cols) {
		return sq.Expr(row+op+params, vals...)
	}
	op = " >= "
	if cols[0].Desc {
		op = " <= "
	}
	or := sq.Or{sq.Expr(row+" <> "+params, vals...)}
	rest := cols[n:]
	for j := range rest {
		var and sq.And
		for i := 0; i < j; i++ {
			and = append(and, sq.Expr(rest[i].Expr+" = ?", rest[i].Value))
		}
		cmp := " > ?"
		if rest[j].Desc {
			cmp = " < ?"
		}
		or = append(or, append(and, sq.Expr(rest[j].Expr+cmp, rest[j].Value)))
	}
	return sq.And{sq.Expr(row+op+params, vals...), or}
}

// KeyRange returns the range [lo, hi) of the keys that start with prefix;
// hi is "" when there is no upper bound. hi is valid UTF-8: the prefix with
// its last character replaced by the next code point (in UTF-8, byte order
// is code point order, so every key with the prefix sorts before it).
func KeyRange(prefix string) (lo, hi string) {
	r := storage.PrefixRange(prefix)
	return r.From, r.To
}

// Pattern is a compiled List pattern.
type Pattern struct {
	Prefix  string // the literal prefix: keys in KeyRange(Prefix)
	Literal bool   // the whole pattern is literal: the key equals Prefix
	// Match is the dialect's condition for the whole pattern (nil when
	// Literal, or when the pattern is Prefix followed by one "*").
	Match Cond
}

// CompilePattern compiles a glob pattern (validated by
// storage.ValidatePattern): "*" any run of characters, "?" one character,
// "\\" escapes the next character.
func (c *Compiler) CompilePattern(p string) Pattern {
	type tok struct {
		r    rune
		wild bool
	}
	var toks []tok
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		i += size
		if r == '\\' && i < len(p) {
			r, size = utf8.DecodeRuneInString(p[i:])
			i += size
			toks = append(toks, tok{r: r})
			continue
		}
		toks = append(toks, tok{r: r, wild: r == '*' || r == '?'})
	}
	var prefix strings.Builder
	n := 0
	for n < len(toks) && !toks[n].wild {
		prefix.WriteRune(toks[n].r)
		n++
	}
	out := Pattern{Prefix: prefix.String()}
	if n == len(toks) {
		out.Literal = true
		return out
	}
	if n == len(toks)-1 && toks[n].r == '*' {
		return out
	}
	var glob, like strings.Builder
	for _, t := range toks {
		switch {
		case t.wild && t.r == '*':
			glob.WriteByte('*')
			like.WriteByte('%')
		case t.wild:
			glob.WriteByte('?')
			like.WriteByte('_')
		default:
			switch t.r {
			case '*', '?', '[':
				glob.WriteString("[" + string(t.r) + "]")
			default:
				glob.WriteRune(t.r)
			}
			switch t.r {
			case '%', '_', '\\':
				like.WriteByte('\\')
			}
			like.WriteRune(t.r)
		}
	}
	if _, ok := c.j.(sqliteJSON); ok {
		out.Match = sq.Expr("key GLOB ?", glob.String())
	} else {
		out.Match = sq.Expr(`key LIKE ? ESCAPE '\'`, like.String())
	}
	return out
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// safeName drops from a path segment any character that could end a quoted
// name or literal. driver.ParseField admits none of them; this is a second
// line of defense, so that no name can ever leave its quotes.
func safeName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\'' || r == '\\' || r == '?' || r < 0x20 {
			return -1
		}
		return r
	}, name)
}
