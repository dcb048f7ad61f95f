package routes

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// checkMembers refuses a request body that two readers could understand
// differently: an object with two members of the same name (encoding/json
// keeps the last, a proxy may read the first), or a member whose name
// matches a member of the wire type only when letter case is ignored
// (encoding/json folds case, other readers do not). body must already be
// valid JSON; t is the type it decodes into. Members that are user data
// (json.RawMessage: values, metadata, filters) are left to their own
// checks, which refuse duplicates with their own codes (invalid_value,
// invalid_filter).
func checkMembers(body []byte, t reflect.Type) error {
	return exactNames(body, skipWS(body, 0), t)
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	timeType       = reflect.TypeFor[time.Time]()
)

// exactNames checks the value at b[i] against t (see checkMembers).
func exactNames(b []byte, i int, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || t == timeType || i >= len(b) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if b[i] != '{' {
			return nil // a type error, the decoder's to report
		}
		fields := jsonFields(t)
		seen := map[string]bool{}
		i = skipWS(b, i+1)
		for i < len(b) && b[i] == '"' {
			end := skipString(b, i)
			var name string
			if err := json.Unmarshal(b[i:end], &name); err != nil {
				return badRequest("%v", err)
			}
			if seen[name] {
				return badRequest("the body has two members named %q", name)
			}
			seen[name] = true
			i = skipWS(b, end)
			i = skipWS(b, i+1) // ':'
			if ft, ok := fields[name]; ok {
				if err := exactNames(b, i, ft); err != nil {
					return err
				}
			} else {
				for n := range fields {
					if strings.EqualFold(n, name) {
						return badRequest("member %q: names are case-sensitive, this one is %q", name, n)
					}
				}
			}
			i = skipWS(b, skipValue(b, i))
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
			}
		}
	case reflect.Slice:
		switch b[i] {
		case '{': // a list given as its single element (SortList)
			return exactNames(b, i, t.Elem())
		case '[':
			i = skipWS(b, i+1)
			for i < len(b) && b[i] != ']' {
				if err := exactNames(b, i, t.Elem()); err != nil {
					return err
				}
				i = skipWS(b, skipValue(b, i))
				if i < len(b) && b[i] == ',' {
					i = skipWS(b, i+1)
				}
			}
		}
	}
	return nil
}

// jsonFields maps the JSON member names of struct type t (embedded structs
// included) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for n, ft := range jsonFields(f.Type) {
				out[n] = ft
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the valid JSON value at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = skipString(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
			if depth < 0 {
				return i
			}
		case ',':
			if depth == 0 {
				return i
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}
