package dialect

import (
	"strconv"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage/driver"
)

// postgresJSON writes filters for jsonb. A path is a chain of -> operators
// with literal operands: value -> 'address' -> 'city', value -> 'tags' -> 0.
// -> with an integer indexes arrays only, and with text reads object
// members only, so a numeric segment indexes arrays only, as on SQLite.
type postgresJSON struct{}

var _ jsonDialect = postgresJSON{}

func (postgresJSON) placeholders() sq.PlaceholderFormat { return sq.Dollar }

func (postgresJSON) entryColumns() []string {
	return []string{"key", "value", "metadata", "version", "created_at", "updated_at", "expires_at", "revision", "create_revision"}
}

func (postgresJSON) timeParam(t time.Time) any { return t.UTC() }

// pgRef writes the jsonb expression of path in col. A path of member names
// is a chain of -> operators with literal operands (value -> 'address' ->
// 'city'); -> with text reads object members only. A path with an array
// index is a strict SQL/JSON path instead (jsonb_path_query_first(value,
// 'strict $."tags"[0]', '{}', true)), because -> with an integer also reads
// "element 0" of a scalar; in strict mode an index applies to arrays only,
// and silent mode turns a step through a value of the wrong type into NULL.
func pgRef(col string, path []driver.Segment) string {
	hasIndex := false
	for _, s := range path {
		hasIndex = hasIndex || s.IsIndex
	}
	var b strings.Builder
	if hasIndex {
		b.WriteString("strict $")
		for _, s := range path {
			if s.IsIndex {
				b.WriteString("[" + strconv.Itoa(s.Index) + "]")
			} else {
				b.WriteString(`."` + safeName(s.Name) + `"`)
			}
		}
		return "jsonb_path_query_first(" + col + ", " + quoteLiteral(b.String()) + ", '{}', true)"
	}
	b.WriteString("(" + col)
	for _, s := range path {
		b.WriteString(" -> " + quoteLiteral(safeName(s.Name)))
	}
	b.WriteString(")")
	return b.String()
}

func (postgresJSON) exists(col string, path []driver.Segment) string {
	return "(" + pgRef(col, path) + " IS NOT NULL)"
}

func (postgresJSON) isType(col string, path []driver.Segment, t string) string {
	r := pgRef(col, path)
	switch t {
	case "true", "false":
		return r + " = '" + t + "'::jsonb"
	}
	return "jsonb_typeof(" + r + ") = '" + t + "'"
}

// pgDouble converts a jsonb number r to double precision the way a double
// parser does (SQLite's, Go's): past the double range it is an infinity,
// below half the smallest subnormal it is 0. A plain cast would fail there.
func pgDouble(r string) string {
	n := r + "::numeric"
	return "CASE WHEN abs(" + n + ") >= 1.797693134862315807937289714053e308 THEN sign(" + n + ")::float8 * 'Infinity'::float8" +
		" WHEN abs(" + n + ") <= 2.4703282292062327208828439643411e-324 THEN 0::float8" +
		" ELSE " + n + "::float8 END"
}

func (postgresJSON) num(col string, path []driver.Segment) string {
	r := pgRef(col, path)
	return "(CASE WHEN jsonb_typeof(" + r + ") = 'number' THEN " + pgDouble(r) + " END)"
}

func (postgresJSON) str(col string, path []driver.Segment) string {
	r := pgRef(col, path)
	return "(CASE WHEN jsonb_typeof(" + r + ") = 'string' THEN " + r + ` #>> '{}' END COLLATE "C")`
}

// pgStrKeyLen bounds the string prefix a declared index holds: 256
// characters are at most 1 KiB of UTF-8, which with a key of at most 1 KiB
// stays under the 2,704-byte limit of a B-tree entry.
const pgStrKeyLen = 256

func (postgresJSON) numKey(col string, path []driver.Segment) string {
	r := pgRef(col, path)
	return "(CASE WHEN jsonb_typeof(" + r + ") = 'number' THEN " + pgDouble(r) + " ELSE 0::float8 END)"
}

func (postgresJSON) strKey(col string, path []driver.Segment) string {
	r := pgRef(col, path)
	return "left((CASE WHEN jsonb_typeof(" + r + ") = 'string' THEN " + r + ` #>> '{}' ELSE '' END COLLATE "C"), ` + strconv.Itoa(pgStrKeyLen) + ")"
}

func (postgresJSON) strKeyLen() int { return pgStrKeyLen }

func (postgresJSON) rank(col string, path []driver.Segment) string {
	r := pgRef(col, path)
	return "(CASE jsonb_typeof(" + r + ") WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN " + r + " = 'true'::jsonb THEN 3 ELSE 2 END" +
		" WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)"
}

func (postgresJSON) arrayHas(col string, path []driver.Segment, s driver.Scalar, arg any) sq.Sqlizer {
	r := pgRef(col, path)
	head := "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + r + ") = 'array' THEN " + r + " END) AS j(v) WHERE "
	switch s.Kind {
	case driver.KindNull:
		return sq.Expr(head + "jsonb_typeof(j.v) = 'null')")
	case driver.KindBool:
		if s.Bool {
			return sq.Expr(head + "j.v = 'true'::jsonb)")
		}
		return sq.Expr(head + "j.v = 'false'::jsonb)")
	case driver.KindNumber:
		return sq.Expr(head+"jsonb_typeof(j.v) = 'number' AND ("+pgDouble("j.v")+") = ?)", arg)
	}
	return sq.Expr(head+`jsonb_typeof(j.v) = 'string' AND (j.v #>> '{}') = CAST(? AS text))`, arg)
}

func (postgresJSON) strContains(expr string, sub any) sq.Sqlizer {
	return sq.Expr("position(CAST(? AS text) in "+expr+") > 0", sub)
}

func (postgresJSON) strStartsWith(expr string, prefix any) sq.Sqlizer {
	return sq.Expr("starts_with("+expr+", CAST(? AS text))", prefix)
}

func (postgresJSON) strEndsWith(expr string, suffix any) sq.Sqlizer {
	return sq.Expr("right("+expr+", length(CAST(? AS text))) = CAST(? AS text)", suffix, suffix)
}

func (postgresJSON) versionNum() string { return "CAST(version AS double precision)" }
