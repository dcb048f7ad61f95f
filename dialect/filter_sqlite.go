package dialect

import (
	"strconv"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage/driver"
)

// sqliteJSON writes filters for SQLite's JSON functions, which read the JSONB
// blobs of the value and metadata columns. A path is a JSON path literal such
// as '$."address"."city"' or '$."tags"[0]': members always double-quoted,
// array indexes in brackets, so a numeric segment indexes arrays only.
type sqliteJSON struct{}

var _ jsonDialect = sqliteJSON{}

func (sqliteJSON) placeholders() sq.PlaceholderFormat { return sq.Question }

func (sqliteJSON) entryColumns() []string { return []string{"key", sqlitePackedEntry} }

// sqlitePackedEntry is the packed column of GetEntry (see EntryColumns):
// the version, created_at, updated_at, expires_at, revision,
// create_revision and the metadata's length in bytes, each followed by a
// comma, then the metadata's JSON (x'0c' is the JSONB of {}), a comma and
// the value's. updated_at is empty when it equals created_at (an entry
// never overwritten), expires_at when there is none, and create_revision
// when it equals revision: SQLite writes each integer as text for the
// concatenation and Go reads it back, and those three are the most common
// and the longest (16 digits for a time).
const sqlitePackedEntry = "concat_ws(',', version, created_at, CASE WHEN updated_at = created_at THEN '' ELSE updated_at END, " +
	"ifnull(expires_at, ''), revision, CASE WHEN create_revision = revision THEN '' ELSE create_revision END, " +
	"CASE WHEN metadata = x'0c' THEN '2,{}' ELSE concat(octet_length(json(metadata)), ',', json(metadata)) END, " +
	"json(value))"

// timeParam: SQLite stores times as unix microseconds.
func (sqliteJSON) timeParam(t time.Time) any { return t.UnixMicro() }

// sqlitePath writes the JSON path literal of path.
func sqlitePath(path []driver.Segment) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, s := range path {
		if s.IsIndex {
			b.WriteString("[" + strconv.Itoa(s.Index) + "]")
			continue
		}
		b.WriteString(`."` + safeName(s.Name) + `"`)
	}
	return quoteLiteral(b.String())
}

func (sqliteJSON) exists(col string, path []driver.Segment) string {
	return "(json_type(" + col + ", " + sqlitePath(path) + ") IS NOT NULL)"
}

func (sqliteJSON) isType(col string, path []driver.Segment, t string) string {
	return "json_type(" + col + ", " + sqlitePath(path) + ") = '" + t + "'"
}

func (sqliteJSON) num(col string, path []driver.Segment) string {
	p := sqlitePath(path)
	return "(CASE WHEN json_type(" + col + ", " + p + ") IN ('integer', 'real') THEN CAST(json_extract(" + col + ", " + p + ") AS REAL) END)"
}

func (sqliteJSON) str(col string, path []driver.Segment) string {
	p := sqlitePath(path)
	return "(CASE WHEN json_type(" + col + ", " + p + ") = 'text' THEN json_extract(" + col + ", " + p + ") END)"
}

func (sqliteJSON) numKey(col string, path []driver.Segment) string {
	p := sqlitePath(path)
	return "(CASE WHEN json_type(" + col + ", " + p + ") IN ('integer', 'real') THEN CAST(json_extract(" + col + ", " + p + ") AS REAL) ELSE 0.0 END)"
}

func (sqliteJSON) strKey(col string, path []driver.Segment) string {
	p := sqlitePath(path)
	return "(CASE WHEN json_type(" + col + ", " + p + ") = 'text' THEN json_extract(" + col + ", " + p + ") ELSE '' END)"
}

func (sqliteJSON) strKeyLen() int { return 0 }

func (sqliteJSON) rank(col string, path []driver.Segment) string {
	return "(CASE json_type(" + col + ", " + sqlitePath(path) + ")" +
		" WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4" +
		" WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)"
}

func (sqliteJSON) arrayHas(col string, path []driver.Segment, s driver.Scalar, arg any) sq.Sqlizer {
	p := sqlitePath(path)
	head := "(json_type(entries." + col + ", " + p + ") = 'array' AND EXISTS (SELECT 1 FROM json_each(entries." + col + ", " + p + ") AS j WHERE "
	switch s.Kind {
	case driver.KindNull:
		return sq.Expr(head + "j.type = 'null'))")
	case driver.KindBool:
		if s.Bool {
			return sq.Expr(head + "j.type = 'true'))")
		}
		return sq.Expr(head + "j.type = 'false'))")
	case driver.KindNumber:
		return sq.Expr(head+"j.type IN ('integer', 'real') AND CAST(j.value AS REAL) = ?))", arg)
	}
	return sq.Expr(head+"j.type = 'text' AND j.value = ?))", arg)
}

// instr and substr count characters, not bytes; for valid UTF-8 text the
// answers are the same as byte-wise ones.
func (sqliteJSON) strContains(expr string, sub any) sq.Sqlizer {
	return sq.Expr("instr("+expr+", ?) > 0", sub)
}

func (sqliteJSON) strStartsWith(expr string, prefix any) sq.Sqlizer {
	return sq.Expr("substr("+expr+", 1, length(?)) = ?", prefix, prefix)
}

func (sqliteJSON) strEndsWith(expr string, suffix any) sq.Sqlizer {
	return sq.Expr("(length("+expr+") >= length(?) AND substr("+expr+", length("+expr+") - length(?) + 1) = ?)", suffix, suffix, suffix)
}

func (sqliteJSON) versionNum() string { return "CAST(version AS REAL)" }
