package storage_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

func TestFilterJSONRoundTrip(t *testing.T) {
	when := time.Date(2024, 5, 1, 12, 0, 0, 500, time.UTC)
	filters := []storage.Filter{
		storage.Eq("a", 1),
		storage.Eq("a", nil),
		storage.In("tags", "x", 2, true, nil),
		storage.In("tags"),
		storage.Nin("tags"),
		storage.And(storage.Gte("age", 18), storage.Or(storage.StartsWith("name", "A"), storage.Not(storage.Exists("x", true)))),
		storage.And(),
		storage.Or(),
		storage.Lt("$createdAt", when),
		storage.All(),
	}
	for _, f := range filters {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", f, err)
		}
		g, err := storage.ParseFilter(b)
		if err != nil {
			t.Fatalf("ParseFilter(%s): %v", b, err)
		}
		x1, err1 := f.Compile()
		x2, err2 := g.Compile()
		if err1 != nil || err2 != nil || fmt.Sprint(x1) != fmt.Sprint(x2) {
			t.Errorf("round trip of %s: %+v (%v) != %+v (%v)", b, x1, err1, x2, err2)
		}
	}
}

func TestFilterErrorsSayWhat(t *testing.T) {
	tests := []struct {
		f    storage.Filter
		want string
	}{
		{storage.And(storage.Eq("a", 1), storage.Or(storage.Gt("b", true))), `filter.and[1].or[0]: field "b", operator gt: booleans and null compare by equality only`},
		{storage.Not(storage.Filter{Field: "a", Op: "like"}), `filter.not: field "a": unknown operator "like"`},
		{storage.Filter{Field: "a", Op: storage.OpIn, Value: "x"}, "value must be an array of scalars, not a string"},
		{storage.Filter{Field: "a", Op: storage.OpExists, Value: "no"}, "value must be a boolean, not a string"},
		{storage.Eq("a", []int{1}), "value must be a string, number, boolean or null, not a []int"},
		{storage.Eq("$createdAt", "yesterday"), `"yesterday" is not an RFC 3339 time`},
	}
	for _, tt := range tests {
		_, err := tt.f.Compile()
		var ve *storage.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, storage.ErrInvalidFilter) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%+v) = %v, want a *ValidationError wrapping ErrInvalidFilter saying %q", tt.f, err, tt.want)
		}
	}
}

// TestParseFilterSaysNoGo: a filter of the wrong shape is refused in the
// wire's terms, never with the Go types it is decoded into.
func TestParseFilterSaysNoGo(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"field":1,"operator":"eq","value":1}`, `member "field": number is not a string`},
		{`{"field":"a","operator":7,"value":1}`, `member "operator": number is not a string`},
		{`{"and":{"x":1}}`, `member "and": object is not an array`},
		{`{"and":[{"field":"a","operator":"eq","value":1},{"or":[{"field":["a"],"operator":"eq"}]}]}`, `member "field": array is not a string`},
		{`{"not":{"field":"a","operator":"eq","value":1,"color":1}}`, `unknown member "color"`},
		{`{"not":"a"}`, `string is not an object`},
	} {
		_, err := storage.ParseFilter([]byte(tt.in))
		if !errors.Is(err, storage.ErrInvalidFilter) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseFilter(%s) = %v, want ErrInvalidFilter saying %q", tt.in, err, tt.want)
		}
		for _, leak := range []string{"Go struct", "json:", "filterJSON", "driver.", "invalid filter: storage:"} {
			if err != nil && strings.Contains(err.Error(), leak) {
				t.Errorf("ParseFilter(%s) = %q shows %q", tt.in, err, leak)
			}
		}
	}
}

// TestParseFilterLeafNeedsValue: the seed's leaf is {field, operator,
// value}; a leaf without "value" is ErrInvalidFilter, never read as null,
// at any depth, while an explicit "value": null compares with null.
func TestParseFilterLeafNeedsValue(t *testing.T) {
	for _, in := range []string{
		`{"field":"a","operator":"eq"}`,
		`{"field":"a","operator":"ne"}`,
		`{"field":"a","operator":"exists"}`,
		`{"not":{"field":"a","operator":"eq"}}`,
		`{"and":[{"field":"a","operator":"eq","value":1},{"or":[{"field":"b","operator":"eq"}]}]}`,
	} {
		_, err := storage.ParseFilter([]byte(in))
		if !errors.Is(err, storage.ErrInvalidFilter) || !strings.Contains(err.Error(), "a leaf needs field, operator and value") {
			t.Errorf("ParseFilter(%s) = %v, want ErrInvalidFilter saying the leaf needs a value", in, err)
		}
	}
	for _, in := range []string{`{"field":"a","operator":"eq","value":null}`, `{"not":{"field":"a","operator":"ne","value":null}}`} {
		f, err := storage.ParseFilter([]byte(in))
		if err != nil {
			t.Fatalf("ParseFilter(%s): %v", in, err)
		}
		b, err := json.Marshal(f)
		if err != nil || string(b) != in {
			t.Errorf("ParseFilter(%s) encodes back as %s, %v", in, b, err)
		}
	}
	// null must not hide a second shape either.
	if _, err := storage.ParseFilter([]byte(`{"value":null,"and":[]}`)); !errors.Is(err, storage.ErrInvalidFilter) {
		t.Errorf(`ParseFilter({"value":null,"and":[]}) = %v, want ErrInvalidFilter`, err)
	}
}

func ExampleParseFilter() {
	f, err := storage.ParseFilter([]byte(`{"and":[{"field":"age","operator":"gte","value":18},{"not":{"field":"tags","operator":"contains","value":"banned"}}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(f)
	fmt.Println(string(b))
	_, err = storage.ParseFilter([]byte(`{"field":"a b","operator":"eq","value":1}`))
	fmt.Println(err)
	// Output:
	// {"and":[{"field":"age","operator":"gte","value":18},{"not":{"field":"tags","operator":"contains","value":"banned"}}]}
	// storage: invalid filter: field "a b", segment 1: character ' ' is not allowed (letters, digits, _ and - only)
}
