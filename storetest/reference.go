package storetest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// This file is the reference evaluator of the filter language: the
// contract's semantics written plainly in Go, with no SQL. The suite's
// in-memory store answers List, Query and Count with it, and the engine's
// differential tests compare SQLite and PostgreSQL against it.

// RefMatch reports whether entry e matches the validated filter x.
func RefMatch(x driver.Expr, e storage.Entry) bool {
	d := refDoc{e: e}
	return d.match(x)
}

// RefSort sorts entries in the order of Query with SortBy(by...): by each
// field (type rank first: missing < null < false < true < numbers < strings
// < arrays < objects; numbers numerically, strings byte-wise, arrays and
// objects tied), then by key ascending.
func RefSort(entries []storage.Entry, by []storage.SortField) error {
	fields := make([]driver.Field, len(by))
	for i, s := range by {
		f, err := driver.ParseField(s.Field)
		if err != nil {
			return err
		}
		fields[i] = f
	}
	docs := make(map[string]*refDoc, len(entries))
	for _, e := range entries {
		docs[e.Key] = &refDoc{e: e}
	}
	slices.SortStableFunc(entries, func(a, b storage.Entry) int {
		da, db := docs[a.Key], docs[b.Key]
		for i, f := range fields {
			c := da.sortKey(f).compare(db.sortKey(f))
			if by[i].Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return strings.Compare(a.Key, b.Key)
	})
	return nil
}

// RefMatchPattern reports whether key matches a List glob pattern: "*" any
// run of characters, "?" one character, "\\" escapes the next.
func RefMatchPattern(pattern, key string) bool {
	if pattern == "" {
		return key == ""
	}
	r, size := utf8.DecodeRuneInString(pattern)
	rest := pattern[size:]
	switch {
	case r == '*':
		for i := 0; ; {
			if RefMatchPattern(rest, key[i:]) {
				return true
			}
			if i >= len(key) {
				return false
			}
			_, n := utf8.DecodeRuneInString(key[i:])
			i += n
		}
	case r == '?':
		if key == "" {
			return false
		}
		_, n := utf8.DecodeRuneInString(key)
		return RefMatchPattern(rest, key[n:])
	case r == '\\' && rest != "":
		r, size = utf8.DecodeRuneInString(rest)
		rest = rest[size:]
	}
	k, n := utf8.DecodeRuneInString(key)
	if key == "" || k != r {
		return false
	}
	return RefMatchPattern(rest, key[n:])
}

// refDoc is an entry with its value and metadata decoded once.
type refDoc struct {
	e             storage.Entry
	value, md     any
	valueOK, mdOK bool
}

func refDecode(b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil
	}
	return v
}

func (d *refDoc) resolve(f driver.Field) (any, bool) {
	var cur any
	switch f.Root {
	case driver.RootValue:
		if !d.valueOK {
			d.value, d.valueOK = refDecode(d.e.Value), true
		}
		cur = d.value
	case driver.RootMetadata:
		if !d.mdOK {
			d.md, d.mdOK = refDecode(d.e.Metadata), true
		}
		cur = d.md
	}
	for _, s := range f.Path {
		if s.IsIndex {
			a, ok := cur.([]any)
			if !ok || s.Index >= len(a) {
				return nil, false
			}
			cur = a[s.Index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s.Name]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// refNum converts a JSON number as a double parser does: overflow is an
// infinity, underflow 0.
func refNum(n json.Number) float64 {
	f, _ := strconv.ParseFloat(string(n), 64)
	return f
}

// refEq is typed JSON equality of a stored value with a filter scalar.
func refEq(v any, s driver.Scalar) bool {
	switch x := v.(type) {
	case nil:
		return s.Kind == driver.KindNull
	case bool:
		return s.Kind == driver.KindBool && s.Bool == x
	case json.Number:
		return s.Kind == driver.KindNumber && refNum(x) == s.Num
	case string:
		return s.Kind == driver.KindString && x == s.Str
	}
	return false
}

// refCmp compares v with s when both are numbers or both strings.
func refCmp(v any, s driver.Scalar) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		if s.Kind == driver.KindNumber {
			return cmp.Compare(refNum(x), s.Num), true
		}
	case string:
		if s.Kind == driver.KindString {
			return strings.Compare(x, s.Str), true
		}
	}
	return 0, false
}

func cmpHolds(op storage.Operator, c int) bool {
	switch op {
	case storage.OpGt:
		return c > 0
	case storage.OpGte:
		return c >= 0
	case storage.OpLt:
		return c < 0
	case storage.OpLte:
		return c <= 0
	}
	return c == 0
}

func (d *refDoc) match(x driver.Expr) bool {
	switch x.Kind {
	case driver.ExprAll:
		return true
	case driver.ExprAnd:
		for _, c := range x.Children {
			if !d.match(c) {
				return false
			}
		}
		return true
	case driver.ExprOr:
		for _, c := range x.Children {
			if d.match(c) {
				return true
			}
		}
		return false
	case driver.ExprNot:
		return !d.match(x.Children[0])
	}
	switch x.Field.Root {
	case driver.RootKey:
		return d.matchValue(x, d.e.Key, true)
	case driver.RootVersion:
		return d.matchValue(x, json.Number(strconv.FormatInt(d.e.Version, 10)), true)
	case driver.RootCreatedAt:
		return matchTime(x, d.e.CreatedAt)
	case driver.RootUpdatedAt:
		return matchTime(x, d.e.UpdatedAt)
	}
	v, ok := d.resolve(x.Field)
	return d.matchValue(x, v, ok)
}

func (d *refDoc) matchValue(x driver.Expr, v any, ok bool) bool {
	switch x.Op {
	case storage.OpExists:
		return ok == x.Exists
	case storage.OpNe:
		return !ok || !refEq(v, x.Value)
	case storage.OpIn, storage.OpNin:
		in := false
		for _, s := range x.Values {
			if ok && refEq(v, s) {
				in = true
			}
		}
		return in == (x.Op == storage.OpIn)
	}
	if !ok {
		return false
	}
	switch x.Op {
	case storage.OpEq:
		return refEq(v, x.Value)
	case storage.OpGt, storage.OpGte, storage.OpLt, storage.OpLte:
		c, comparable := refCmp(v, x.Value)
		return comparable && cmpHolds(x.Op, c)
	case storage.OpContains:
		switch t := v.(type) {
		case string:
			return x.Value.Kind == driver.KindString && strings.Contains(t, x.Value.Str)
		case []any:
			for _, el := range t {
				if refEq(el, x.Value) {
					return true
				}
			}
		}
		return false
	case storage.OpStartsWith:
		s, isStr := v.(string)
		return isStr && strings.HasPrefix(s, x.Value.Str)
	case storage.OpEndsWith:
		s, isStr := v.(string)
		return isStr && strings.HasSuffix(s, x.Value.Str)
	}
	return false
}

func matchTime(x driver.Expr, t time.Time) bool {
	switch x.Op {
	case storage.OpExists:
		return x.Exists
	case storage.OpIn, storage.OpNin:
		in := false
		for _, s := range x.Values {
			if t.Equal(s.Time) {
				in = true
			}
		}
		return in == (x.Op == storage.OpIn)
	case storage.OpNe:
		return !t.Equal(x.Value.Time)
	}
	return cmpHolds(x.Op, t.Compare(x.Value.Time))
}

// refSortKey is a value's position in the sort order.
type refSortKey struct {
	rank int
	num  float64
	str  string
	i    int64
}

func (a refSortKey) compare(b refSortKey) int {
	if c := cmp.Compare(a.rank, b.rank); c != 0 {
		return c
	}
	if c := cmp.Compare(a.num, b.num); c != 0 {
		return c
	}
	if c := strings.Compare(a.str, b.str); c != 0 {
		return c
	}
	return cmp.Compare(a.i, b.i)
}

func (d *refDoc) sortKey(f driver.Field) refSortKey {
	switch f.Root {
	case driver.RootKey:
		return refSortKey{str: d.e.Key}
	case driver.RootVersion:
		return refSortKey{i: d.e.Version}
	case driver.RootCreatedAt:
		return refSortKey{i: d.e.CreatedAt.UnixMicro()}
	case driver.RootUpdatedAt:
		return refSortKey{i: d.e.UpdatedAt.UnixMicro()}
	}
	v, ok := d.resolve(f)
	if !ok {
		return refSortKey{rank: 0}
	}
	switch x := v.(type) {
	case nil:
		return refSortKey{rank: 1}
	case bool:
		if x {
			return refSortKey{rank: 3}
		}
		return refSortKey{rank: 2}
	case json.Number:
		n := refNum(x)
		if n == 0 {
			n = 0
		}
		return refSortKey{rank: 4, num: n}
	case string:
		return refSortKey{rank: 5, str: x}
	case []any:
		return refSortKey{rank: 6}
	}
	return refSortKey{rank: 7}
}
