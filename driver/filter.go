package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// Operator is the operator of a filter leaf.
type Operator string

// The operators of the filter language.
const (
	OpEq         Operator = "eq"
	OpNe         Operator = "ne"
	OpGt         Operator = "gt"
	OpGte        Operator = "gte"
	OpLt         Operator = "lt"
	OpLte        Operator = "lte"
	OpContains   Operator = "contains"
	OpStartsWith Operator = "startsWith"
	OpEndsWith   Operator = "endsWith"
	OpIn         Operator = "in"
	OpNin        Operator = "nin"
	OpExists     Operator = "exists"
)

// Limits of the filter language.
const (
	// MaxPathSegments is the most segments a field path may have.
	MaxPathSegments = 32
	// MaxPathLen is the longest field path, in bytes.
	MaxPathLen = 512
	// MaxSegmentLen is the longest path segment, in bytes.
	MaxSegmentLen = 128
	// MaxArrayIndex is the largest array index a numeric segment may name.
	MaxArrayIndex = 999_999_999
	// MaxFilterDepth is the deepest nesting of and/or/not nodes.
	MaxFilterDepth = 32
	// MaxFilterNodes is the most nodes (leaves, and, or, not) a filter may have.
	MaxFilterNodes = 1000
	// MaxInValues is the most values an in or nin leaf may list.
	MaxInValues = 1000
	// MaxFilterValues is the most values a whole filter may hold: those
	// of its in and nin leaves, and one for each other leaf. Each is a
	// parameter of the statement that runs the filter, and SQLite (32766)
	// and PostgreSQL (65535) bound those: a filter of 1000 in leaves of
	// 1000 values each, within the bounds above, failed with the driver's
	// own text and no sentinel ("too many SQL variables", "extended
	// protocol limited to 65535 parameters").
	MaxFilterValues = 10_000
	// MaxSortFields is the most fields a Query may sort on.
	MaxSortFields = 8
	// MaxContainsLen is the longest string, in bytes, a contains leaf may
	// look for. SQLite's substring search compares the string at every
	// position of each value it reads, within one step no cancellation
	// interrupts: a 512 KiB string in one 1 MiB value took 14 s, and a
	// longer one in a 16 MiB value would hold a reader for hours.
	MaxContainsLen = 1024
)

// Filter is a node of the filter language: a leaf {Field, Op, Value}, or an
// And, Or or Not node. Exactly one of the four shapes is set; the zero Filter
// matches every entry. Applications build filters with the constructors of
// package storage (storage.Eq, storage.Gt, storage.And, …), which defines
// Filter as an alias of this type, or decode them from JSON in the seed's shape:
//
//	{"field":"age","operator":"gte","value":18}
//	{"and":[…]}   {"or":[…]}   {"not":{…}}
//
// A non-nil empty And matches everything and a non-nil empty Or nothing; nil
// And and Or slices mean "not this shape".
type Filter struct {
	Field string
	Op    Operator
	Value any

	And []Filter
	Or  []Filter
	Not *Filter
}

// IsZero reports whether f is the zero Filter, which matches everything.
func (f Filter) IsZero() bool {
	return f.Field == "" && f.Op == "" && f.Value == nil && f.And == nil && f.Or == nil && f.Not == nil
}

type filterJSON struct {
	Field    *string          `json:"field,omitempty"`
	Operator *string          `json:"operator,omitempty"`
	Value    *json.RawMessage `json:"value,omitempty"`
	And      *[]Filter        `json:"and,omitempty"`
	Or       *[]Filter        `json:"or,omitempty"`
	Not      *Filter          `json:"not,omitempty"`
}

// MarshalJSON encodes f in the seed's shape. Times become RFC 3339 strings.
func (f Filter) MarshalJSON() ([]byte, error) {
	switch {
	case f.And != nil:
		return json.Marshal(map[string][]Filter{"and": f.And})
	case f.Or != nil:
		return json.Marshal(map[string][]Filter{"or": f.Or})
	case f.Not != nil:
		return json.Marshal(map[string]*Filter{"not": f.Not})
	case f.IsZero():
		return []byte("{}"), nil
	}
	v := f.Value
	switch x := v.(type) {
	case time.Time:
		v = x.Format(time.RFC3339Nano)
	case jsonNull:
		v = nil
	case []any:
		if x == nil {
			v = []any{} // In(f) with no values: [], not null
		}
	}
	vb, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("storage: filter value of %q: %w", f.Field, err)
	}
	field, op := f.Field, string(f.Op)
	raw := json.RawMessage(vb)
	return json.Marshal(filterJSON{Field: &field, Operator: &op, Value: &raw})
}

// UnmarshalJSON decodes f from the seed's shape. Numbers keep their
// spelling (json.Number) until the filter is validated. Unknown members and
// objects mixing shapes are errors; member names are case-sensitive. A leaf
// needs all three of field, operator and value: one without "value" is
// ErrInvalidFilter, never read as null ("value": null compares with null,
// as a nil Value built in Go does).
//
// A text that no valid filter could be (nested deeper than MaxFilterDepth
// nodes, more than MaxFilterNodes nodes, an array of more than MaxInValues
// or MaxFilterNodes items) is refused before it is decoded
// (CheckFilterText), with ErrInvalidFilter as Compile would refuse it.
func (f *Filter) UnmarshalJSON(b []byte) error {
	if err := CheckFilterText(b); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	d.DisallowUnknownFields()
	var j filterJSON
	if err := d.Decode(&j); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return err // a nested filter's, already in the wire's terms
		}
		return invalid(ErrInvalidFilter, "%s", jsonx.DecodeMessage(err))
	}
	// encoding/json keeps the last of two members of the same name and
	// matches names case-insensitively; a filter's names are exact and
	// unique, so that every reader sees the same filter.
	if err := jsonx.CheckDuplicateKeys(b, 2*MaxFilterDepth+2); err != nil {
		return invalid(ErrInvalidFilter, "%v", err)
	}
	var names map[string]json.RawMessage
	if err := json.Unmarshal(b, &names); err == nil {
		if _, ok := names["value"]; ok && j.Value == nil {
			null := json.RawMessage("null") // an explicit null decodes as no member
			j.Value = &null
		}
		for n := range names {
			switch n {
			case "field", "operator", "value", "and", "or", "not":
			default:
				return invalid(ErrInvalidFilter, "unknown member %s (names are case-sensitive)", quoteField(n))
			}
		}
	}
	shapes := 0
	for _, set := range []bool{j.Field != nil || j.Operator != nil || j.Value != nil, j.And != nil, j.Or != nil, j.Not != nil} {
		if set {
			shapes++
		}
	}
	if shapes > 1 {
		return invalid(ErrInvalidFilter, "a filter node is exactly one of {field,operator,value}, {and}, {or} or {not}")
	}
	*f = Filter{}
	switch {
	case j.And != nil:
		f.And = *j.And
		if f.And == nil {
			f.And = []Filter{}
		}
	case j.Or != nil:
		f.Or = *j.Or
		if f.Or == nil {
			f.Or = []Filter{}
		}
	case j.Not != nil:
		f.Not = j.Not
	case shapes == 1:
		if j.Field == nil || j.Operator == nil || j.Value == nil {
			// The seed's leaf is {field, operator, value}: a missing
			// value is a mistake, never read as null ("value": null
			// compares with null).
			return invalid(ErrInvalidFilter, "a leaf needs field, operator and value (\"value\": null to compare with null)")
		}
		f.Field, f.Op = *j.Field, Operator(*j.Operator)
		vd := json.NewDecoder(bytes.NewReader(*j.Value))
		vd.UseNumber()
		var v any
		if err := vd.Decode(&v); err != nil {
			return invalid(ErrInvalidFilter, "value of %q: %v", f.Field, err)
		}
		if v == nil {
			v = jsonNull{}
		}
		f.Value = v
	}
	return nil
}

// jsonNull marks an explicit JSON null decoded from a filter (a nil Value
// from Go also means null).
type jsonNull struct{}

// ParseFilter decodes a filter from JSON and validates it.
func ParseFilter(b []byte) (Filter, error) {
	var f Filter
	if err := json.Unmarshal(b, &f); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return Filter{}, ve
		}
		return Filter{}, invalid(ErrInvalidFilter, "%v", err)
	}
	if _, err := f.Compile(); err != nil {
		return Filter{}, err
	}
	return f, nil
}

// FieldRoot says what a field path starts from.
type FieldRoot uint8

// The field roots.
const (
	RootValue     FieldRoot = iota // a path into the value
	RootKey                        // $key
	RootVersion                    // $version
	RootCreatedAt                  // $createdAt
	RootUpdatedAt                  // $updatedAt
	RootMetadata                   // $metadata.<path>
)

// Segment is one step of a path: an object member name, or an array index.
type Segment struct {
	Name    string // the member name, when !IsIndex
	Index   int    // the array index, when IsIndex
	IsIndex bool
}

// Field is a validated field path.
type Field struct {
	Root FieldRoot
	Path []Segment // for RootValue and RootMetadata; empty otherwise
	Text string    // the path as written
}

// ParseField validates a field path. The grammar:
//
//   - a reserved root: $key, $version, $createdAt, $updatedAt, or
//     $metadata.<path> (a path into the user metadata);
//   - otherwise a path into the value: segments separated by ".", at most
//     MaxPathSegments of them and MaxPathLen bytes in all;
//   - a segment is 1 to MaxSegmentLen bytes of Unicode letters, Unicode
//     digits, "_" and "-"; nothing else (no spaces, quotes, "$", brackets or
//     backslashes), so a path can never change the meaning of SQL;
//   - a segment of ASCII digits only is an array index ("tags.0" is the
//     first element of tags): "0" or a number without leading zeros, at most
//     MaxArrayIndex. It indexes arrays only; it never names an object member,
//     so an object member whose name is all ASCII digits cannot be reached.
//
// A path that can never exist in any entry is refused (ErrInvalidFilter)
// rather than matching or sorting by nothing: a member of $key, $version,
// $createdAt or $updatedAt, and an array index right after $metadata
// (metadata is always a JSON object).
func ParseField(s string) (Field, error) {
	f := Field{Text: s}
	switch s {
	case "$key":
		f.Root = RootKey
		return f, nil
	case "$version":
		f.Root = RootVersion
		return f, nil
	case "$createdAt":
		f.Root = RootCreatedAt
		return f, nil
	case "$updatedAt":
		f.Root = RootUpdatedAt
		return f, nil
	}
	path := s
	for _, r := range scalarRoots {
		if strings.HasPrefix(s, r.name+".") {
			return f, invalid(ErrInvalidFilter, "field %s can never exist: %s is %s, with no members or elements",
				quoteField(s), r.name, r.kind)
		}
	}
	if rest, ok := strings.CutPrefix(s, "$metadata"); ok {
		if rest == "" || rest == "." {
			return f, invalid(ErrInvalidFilter, "field %q: $metadata needs a path, as in $metadata.owner", s)
		}
		if rest[0] != '.' {
			return f, invalid(ErrInvalidFilter, "field %s: unknown reserved root (known: $key, $version, $createdAt, $updatedAt, $metadata.<path>)", quoteField(s))
		}
		f.Root = RootMetadata
		path = rest[1:]
	} else if strings.HasPrefix(s, "$") {
		return f, invalid(ErrInvalidFilter, "field %s: unknown reserved root (known: $key, $version, $createdAt, $updatedAt, $metadata.<path>)", quoteField(s))
	}
	if path == "" {
		return f, invalid(ErrInvalidFilter, "field is empty")
	}
	if len(s) > MaxPathLen {
		return f, invalid(ErrInvalidFilter, "field path is %d bytes, more than %d", len(s), MaxPathLen)
	}
	if !utf8.ValidString(s) {
		return f, invalid(ErrInvalidFilter, "field path is not valid UTF-8")
	}
	segs := strings.Split(path, ".")
	if len(segs) > MaxPathSegments {
		return f, invalid(ErrInvalidFilter, "field %s has %d segments, more than %d", quoteField(s), len(segs), MaxPathSegments)
	}
	for i, seg := range segs {
		sg, err := parseSegment(seg)
		if err != nil {
			return f, invalid(ErrInvalidFilter, "field %s, segment %d: %s", quoteField(s), i+1, err.Error())
		}
		f.Path = append(f.Path, sg)
	}
	if f.Root == RootMetadata && f.Path[0].IsIndex {
		return f, invalid(ErrInvalidFilter, "field %s can never exist: metadata is a JSON object, and a segment of "+
			"digits indexes an array", quoteField(s))
	}
	return f, nil
}

// scalarRoots are the reserved roots whose values have no members, so no
// path continues them.
var scalarRoots = []struct{ name, kind string }{
	{"$key", "a string"},
	{"$version", "a number"},
	{"$createdAt", "a time"},
	{"$updatedAt", "a time"},
}

func quoteField(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.QuoteToASCII(s)
}

type reason string

func (r reason) Error() string { return string(r) }

func parseSegment(seg string) (Segment, error) {
	if seg == "" {
		return Segment{}, reason("empty (two dots in a row, or a dot at an end)")
	}
	if len(seg) > MaxSegmentLen {
		return Segment{}, reason(fmt.Sprintf("%d bytes, more than %d", len(seg), MaxSegmentLen))
	}
	digits := true
	for _, r := range seg {
		switch {
		case r >= '0' && r <= '9':
		case r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r):
			digits = false
		default:
			return Segment{}, reason(fmt.Sprintf("character %q is not allowed (letters, digits, _ and - only)", r))
		}
	}
	if !digits {
		return Segment{Name: seg}, nil
	}
	if len(seg) > 1 && seg[0] == '0' {
		return Segment{}, reason(fmt.Sprintf("array index %q has a leading zero", seg))
	}
	n, err := strconv.Atoi(seg)
	if err != nil || n > MaxArrayIndex {
		return Segment{}, reason(fmt.Sprintf("array index %s is larger than %d", seg, MaxArrayIndex))
	}
	return Segment{Index: n, IsIndex: true}, nil
}

// ScalarKind is the type of a filter value.
type ScalarKind uint8

// The scalar kinds.
const (
	KindNull ScalarKind = iota
	KindBool
	KindNumber
	KindString
	KindTime // $createdAt and $updatedAt only
)

// Scalar is a validated filter value.
type Scalar struct {
	Kind ScalarKind
	Bool bool
	Num  float64 // numbers compare as float64 (IEEE 754 doubles)
	Str  string
	Time time.Time
}

// ExprKind is the kind of a compiled filter node.
type ExprKind uint8

// The node kinds.
const (
	ExprAll ExprKind = iota // matches everything (the zero Filter)
	ExprLeaf
	ExprAnd
	ExprOr
	ExprNot
)

// Expr is a validated filter, ready for a backend to translate. Backends
// obtain it with Filter.Compile, or from CallOptions.Filter.
type Expr struct {
	Kind     ExprKind
	Field    Field
	Op       Operator
	Value    Scalar   // eq ne gt gte lt lte contains startsWith endsWith
	Values   []Scalar // in, nin
	Exists   bool     // exists
	Children []Expr   // and, or (any number), not (one)
}

// Compile validates f and returns its checked form. Every problem is a
// *ValidationError wrapping ErrInvalidFilter that says what is wrong and
// where.
func (f Filter) Compile() (Expr, error) {
	if f.IsZero() {
		return Expr{Kind: ExprAll}, nil
	}
	var n filterCount
	return compileFilter(f, 1, &n, "filter")
}

// filterCount is what Compile has counted of a filter so far: its nodes
// (MaxFilterNodes) and its values (MaxFilterValues).
type filterCount struct{ nodes, values int }

func compileFilter(f Filter, depth int, n *filterCount, where string) (Expr, error) {
	n.nodes++
	if f.IsZero() {
		return Expr{Kind: ExprAll}, nil
	}
	if n.nodes > MaxFilterNodes {
		return Expr{}, invalid(ErrInvalidFilter, "more than %d nodes", MaxFilterNodes)
	}
	if depth > MaxFilterDepth {
		return Expr{}, invalid(ErrInvalidFilter, "%s: nested deeper than %d", where, MaxFilterDepth)
	}
	leaf := f.Field != "" || f.Op != "" || f.Value != nil
	shapes := 0
	for _, set := range []bool{leaf, f.And != nil, f.Or != nil, f.Not != nil} {
		if set {
			shapes++
		}
	}
	if shapes != 1 {
		return Expr{}, invalid(ErrInvalidFilter, "%s: a node must be exactly one of a leaf, and, or, not", where)
	}
	switch {
	case f.And != nil || f.Or != nil:
		kind, list, name := ExprAnd, f.And, "and"
		if f.Or != nil {
			kind, list, name = ExprOr, f.Or, "or"
		}
		e := Expr{Kind: kind, Children: make([]Expr, 0, len(list))}
		for i, c := range list {
			ce, err := compileFilter(c, depth+1, n, fmt.Sprintf("%s.%s[%d]", where, name, i))
			if err != nil {
				return Expr{}, err
			}
			e.Children = append(e.Children, ce)
		}
		return e, nil
	case f.Not != nil:
		ce, err := compileFilter(*f.Not, depth+1, n, where+".not")
		if err != nil {
			return Expr{}, err
		}
		return Expr{Kind: ExprNot, Children: []Expr{ce}}, nil
	}
	e, err := compileLeaf(f, where)
	if err != nil {
		return Expr{}, err
	}
	if n.values += max(1, len(e.Values)); n.values > MaxFilterValues {
		return Expr{}, invalid(ErrInvalidFilter, "more than %d values (those of its in and nin leaves, one for each other leaf)", MaxFilterValues)
	}
	return e, nil
}

func compileLeaf(f Filter, where string) (Expr, error) {
	fld, err := ParseField(f.Field)
	if err != nil {
		return Expr{}, err
	}
	e := Expr{Kind: ExprLeaf, Field: fld, Op: f.Op}
	bad := func(format string, args ...any) error {
		return invalid(ErrInvalidFilter, "%s: field %s, operator %s: %s", where, quoteField(f.Field), f.Op, fmt.Sprintf(format, args...))
	}
	switch f.Op {
	case OpExists:
		b, ok := f.Value.(bool)
		if !ok {
			return Expr{}, bad("value must be a boolean, not %s", describe(f.Value))
		}
		e.Exists = b
		return e, nil
	case OpIn, OpNin:
		vals, ok := asSlice(f.Value)
		if !ok {
			return Expr{}, bad("value must be an array of scalars, not %s", describe(f.Value))
		}
		if len(vals) > MaxInValues {
			return Expr{}, bad("%d values, more than %d", len(vals), MaxInValues)
		}
		for i, v := range vals {
			s, err := toScalar(v, fld)
			if err != nil {
				return Expr{}, bad("value %d: %v", i, err)
			}
			if err := checkRootKind(fld, s, OpEq); err != nil {
				return Expr{}, bad("value %d: %v", i, err)
			}
			e.Values = append(e.Values, s)
		}
		return e, nil
	case OpEq, OpNe, OpGt, OpGte, OpLt, OpLte, OpContains, OpStartsWith, OpEndsWith:
	case "":
		return Expr{}, invalid(ErrInvalidFilter, "%s: field %s: operator is missing", where, quoteField(f.Field))
	default:
		return Expr{}, invalid(ErrInvalidFilter, "%s: field %s: unknown operator %s (known: eq ne gt gte lt lte contains startsWith endsWith in nin exists)",
			where, quoteField(f.Field), strconv.QuoteToASCII(string(f.Op)))
	}
	s, err := toScalar(f.Value, fld)
	if err != nil {
		return Expr{}, bad("%v", err)
	}
	switch f.Op {
	case OpGt, OpGte, OpLt, OpLte:
		if s.Kind == KindNull || s.Kind == KindBool {
			return Expr{}, bad("booleans and null compare by equality only; the value must be a number or a string")
		}
	case OpContains:
		if fld.Root != RootValue && fld.Root != RootMetadata && fld.Root != RootKey {
			return Expr{}, bad("contains applies to strings and arrays")
		}
		if s.Kind == KindString && len(s.Str) > MaxContainsLen {
			return Expr{}, bad("contains looks for a string of %d bytes, more than %d", len(s.Str), MaxContainsLen)
		}
	case OpStartsWith, OpEndsWith:
		if s.Kind != KindString {
			return Expr{}, bad("value must be a string, not %s", describe(f.Value))
		}
		if fld.Root != RootValue && fld.Root != RootMetadata && fld.Root != RootKey {
			return Expr{}, bad("%s applies to strings only", f.Op)
		}
	}
	if err := checkRootKind(fld, s, f.Op); err != nil {
		return Expr{}, bad("%v", err)
	}
	e.Value = s
	return e, nil
}

// checkRootKind checks that a value fits a reserved root.
func checkRootKind(fld Field, s Scalar, op Operator) error {
	switch fld.Root {
	case RootKey:
		if s.Kind != KindString {
			return reason("$key compares with strings only")
		}
	case RootVersion:
		if s.Kind != KindNumber {
			return reason("$version compares with numbers only")
		}
	case RootCreatedAt, RootUpdatedAt:
		if s.Kind != KindTime {
			return reason("times compare with RFC 3339 strings or time.Time values only")
		}
		if op == OpContains || op == OpStartsWith || op == OpEndsWith {
			return reason("times do not support " + string(op))
		}
	}
	return nil
}

func describe(v any) string {
	switch v.(type) {
	case nil, jsonNull:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, float32, int, int64, int32, int16, int8, uint, uint64, uint32, uint16, uint8:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

func asSlice(v any) ([]any, bool) {
	if v == nil {
		return nil, false
	}
	if s, ok := v.([]any); ok {
		return s, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	if rv.Type().Elem().Kind() == reflect.Uint8 { // []byte, json.RawMessage
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// toScalar converts a filter value. For the time roots, strings are parsed
// as RFC 3339.
func toScalar(v any, fld Field) (Scalar, error) {
	timeRoot := fld.Root == RootCreatedAt || fld.Root == RootUpdatedAt
	switch x := v.(type) {
	case nil, jsonNull:
		return Scalar{Kind: KindNull}, nil
	case bool:
		return Scalar{Kind: KindBool, Bool: x}, nil
	case string:
		if timeRoot {
			t, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return Scalar{}, reason(fmt.Sprintf("%s is not an RFC 3339 time", quoteField(x)))
			}
			return Scalar{Kind: KindTime, Time: t}, nil
		}
		if !utf8.ValidString(x) {
			return Scalar{}, reason("string is not valid UTF-8")
		}
		if strings.IndexByte(x, 0) >= 0 {
			return Scalar{}, reason("string contains NUL (U+0000), which no stored value can hold")
		}
		return Scalar{Kind: KindString, Str: x}, nil
	case time.Time:
		if !timeRoot {
			return Scalar{}, reason("a time value applies to $createdAt and $updatedAt only")
		}
		return Scalar{Kind: KindTime, Time: x}, nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		switch {
		case isRangeErr(err):
			// Too large for a float64 (a number too small becomes 0).
			return Scalar{}, reason(fmt.Sprintf("number %s is out of range for a filter (at most ±%g)", jsonx.ShortNumber(string(x)), math.MaxFloat64))
		case err != nil:
			return Scalar{}, reason(fmt.Sprintf("number %s: %v", x, err))
		}
		return number(f)
	case float64:
		return number(x)
	case float32:
		return number(float64(x))
	case int:
		return number(float64(x))
	case int8:
		return number(float64(x))
	case int16:
		return number(float64(x))
	case int32:
		return number(float64(x))
	case int64:
		return number(float64(x))
	case uint:
		return number(float64(x))
	case uint8:
		return number(float64(x))
	case uint16:
		return number(float64(x))
	case uint32:
		return number(float64(x))
	case uint64:
		return number(float64(x))
	}
	return Scalar{}, reason(fmt.Sprintf("value must be a string, number, boolean or null, not %s", describe(v)))
}

func isRangeErr(err error) bool {
	return errors.Is(err, strconv.ErrRange)
}

func number(f float64) (Scalar, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		// As EncodeValue says of a value.
		return Scalar{}, reason(strconv.FormatFloat(f, 'g', -1, 64) + " is not representable in JSON")
	}
	if f == 0 {
		f = 0 // -0 is 0
	}
	return Scalar{Kind: KindNumber, Num: f}, nil
}

// SortField is one field of a Query's sort order.
type SortField struct {
	Field string
	Desc  bool
}

// filterTextLevels is the deepest nesting of arrays and objects a valid
// filter's text has: a node is one object, an and/or list adds an array
// (two levels per node), and an in list one more.
const filterTextLevels = 2 * MaxFilterDepth

// filterTextItems is the most items an array of a valid filter holds: an
// in or nin list, or the children of an and/or node.
const filterTextItems = max(MaxInValues, MaxFilterNodes)

// CheckFilterText refuses, without decoding or allocating, a filter text
// that Compile would refuse for its size: nested deeper than
// filterTextLevels, with more objects than MaxFilterNodes (every object of
// a filter is a node, since values are scalars), or with an array of more
// than filterTextItems items. Decoding such a text first cost the whole of
// it: 1M in values (2 MiB) took 1M allocations, and a filter nested 9,000
// deep (72 KiB), whose decoding decodes each level's text again, 416,000
// allocations and seconds (TestFilterTextBounds). The text
// is encoding/json's, already checked to be JSON; one that is not is
// checked as far as it goes and refused by the decoder after.
func CheckFilterText(b []byte) error {
	var commas [filterTextLevels + 1]int // per open level; -1 for an object
	depth, objects := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			if depth > filterTextLevels {
				return invalid(ErrInvalidFilter, "nested deeper than %d", MaxFilterDepth)
			}
			commas[depth] = 0
			if b[i] == '{' {
				commas[depth] = -1
				if objects++; objects > MaxFilterNodes {
					return invalid(ErrInvalidFilter, "more than %d nodes", MaxFilterNodes)
				}
			}
		case ',':
			if depth > 0 && commas[depth] >= 0 {
				if commas[depth]++; commas[depth] >= filterTextItems {
					return invalid(ErrInvalidFilter, "a list of more than %d items (at most %d in values, %d nodes)",
						filterTextItems, MaxInValues, MaxFilterNodes)
				}
			}
		case '}', ']':
			depth = max(depth-1, 0)
		}
	}
	return nil
}
