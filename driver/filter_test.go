package driver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/driver"
)

func TestParseField(t *testing.T) {
	good := []struct {
		in   string
		root driver.FieldRoot
		path []driver.Segment
	}{
		{"a", driver.RootValue, []driver.Segment{{Name: "a"}}},
		{"address.city", driver.RootValue, []driver.Segment{{Name: "address"}, {Name: "city"}}},
		{"tags.0", driver.RootValue, []driver.Segment{{Name: "tags"}, {Index: 0, IsIndex: true}}},
		{"m.10.x", driver.RootValue, []driver.Segment{{Name: "m"}, {Index: 10, IsIndex: true}, {Name: "x"}}},
		{"1st", driver.RootValue, []driver.Segment{{Name: "1st"}}},
		{"first-name_2", driver.RootValue, []driver.Segment{{Name: "first-name_2"}}},
		{"café.日本", driver.RootValue, []driver.Segment{{Name: "café"}, {Name: "日本"}}},
		{"$key", driver.RootKey, nil},
		{"$version", driver.RootVersion, nil},
		{"$createdAt", driver.RootCreatedAt, nil},
		{"$updatedAt", driver.RootUpdatedAt, nil},
		{"$metadata.owner.id", driver.RootMetadata, []driver.Segment{{Name: "owner"}, {Name: "id"}}},
	}
	for _, g := range good {
		f, err := driver.ParseField(g.in)
		if err != nil {
			t.Errorf("ParseField(%q): %v", g.in, err)
			continue
		}
		if f.Root != g.root || fmt.Sprint(f.Path) != fmt.Sprint(g.path) {
			t.Errorf("ParseField(%q) = %+v", g.in, f)
		}
	}
	bad := map[string]string{
		"":                "empty",
		"a..b":            "segment 2: empty",
		".a":              "segment 1: empty",
		"a b":             `character ' '`,
		`a"b`:             `character '"'`,
		"a'b":             `character '\''`,
		"a[0]":            `character '['`,
		"a\\b":            `character '\\'`,
		"a;b":             `character ';'`,
		"$value":          "unknown reserved root",
		"$metadata":       "needs a path",
		"$metadataX":      "unknown reserved root",
		"a.$b":            `character '$'`,
		"tags.01":         "leading zero",
		"tags.9999999999": "larger than",
		"a\x00":           `character '\x00'`,
		strings.Repeat("a.", driver.MaxPathSegments) + "a":   "segments",
		strings.Repeat("a", driver.MaxSegmentLen+1):          "bytes, more than",
		strings.Repeat("abcd.", driver.MaxPathLen/5+1) + "a": "more than",
	}
	for in, want := range bad {
		_, err := driver.ParseField(in)
		if !errors.Is(err, driver.ErrInvalidFilter) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseField(%q) = %v, want ErrInvalidFilter saying %q", in, err, want)
		}
	}
}

// TestFilterTextBounds: a filter text no valid filter could be (too deep,
// too many nodes, a list too long) is refused by UnmarshalJSON before it
// is decoded, with ErrInvalidFilter, and the largest valid ones still
// decode and compile: the text's bounds are never tighter than Compile's.
func TestFilterTextBounds(t *testing.T) {
	leaf := `{"field":"n","operator":"eq","value":1}`
	list := func(n int, item string) string { return strings.TrimSuffix(strings.Repeat(item+",", n), ",") }
	// deepest: MaxFilterDepth nodes, alternating and and not, ending in an
	// in list of MaxInValues values.
	deep := ""
	for d := 1; d < driver.MaxFilterDepth; d++ {
		if d%2 == 0 {
			deep += `{"not":`
		} else {
			deep += `{"and":[`
		}
	}
	in := `{"field":"n","operator":"in","value":[` + list(driver.MaxInValues, `"a,b]"`) + `]}`
	for d := driver.MaxFilterDepth - 1; d >= 1; d-- {
		if d%2 == 0 {
			in += `}`
		} else {
			in += `]}`
		}
	}
	deep += in
	andDeep := strings.Repeat(`{"and":[`, driver.MaxFilterDepth-1) + leaf + strings.Repeat(`]}`, driver.MaxFilterDepth-1)
	for _, ok := range []string{
		deep,
		andDeep,
		`{"or":[` + list(driver.MaxFilterNodes-1, leaf) + `]}`,
		`{"field":"s","operator":"in","value":["{{{{[[[[,,,,","\"{["]}`,
	} {
		var f driver.Filter
		if err := json.Unmarshal([]byte(ok), &f); err != nil {
			t.Fatalf("a valid filter of %d bytes: %v", len(ok), err)
		}
		if _, err := f.Compile(); err != nil {
			t.Fatalf("a valid filter of %d bytes: %v", len(ok), err)
		}
	}
	for _, bad := range []string{
		strings.Repeat(`{"not":`, 2*driver.MaxFilterDepth) + leaf + strings.Repeat(`}`, 2*driver.MaxFilterDepth),
		strings.Repeat(`{"and":[`, driver.MaxFilterDepth) + leaf + strings.Repeat(`]}`, driver.MaxFilterDepth),
		strings.Repeat(`{"not":`, 9000) + leaf + strings.Repeat(`}`, 9000),
		`{"or":[` + list(driver.MaxFilterNodes, leaf) + `]}`,
		`{"and":[` + list(3, `{"or":[`+list(driver.MaxFilterNodes/3, leaf)+`]}`) + `]}`,
		`{"field":"n","operator":"in","value":[` + list(driver.MaxInValues+1, `1`) + `]}`,
		`{"field":"n","operator":"nin","value":[` + list(1<<20, `1`) + `]}`,
	} {
		var f driver.Filter
		err := f.UnmarshalJSON([]byte(bad))
		if !errors.Is(err, driver.ErrInvalidFilter) {
			t.Errorf("a filter of %d bytes: %v, want ErrInvalidFilter", len(bad), err)
		}
		allocs := testing.AllocsPerRun(5, func() { _ = f.UnmarshalJSON([]byte(bad)) })
		if allocs > 10 {
			t.Errorf("a filter of %d bytes: %v allocations to refuse it, want at most 10", len(bad), allocs)
		}
	}
}

// TestFilterValuesBound: a filter holds at most MaxFilterValues values in
// all (its in and nin lists', one for each other leaf), each a parameter
// of its statement.
func TestFilterValuesBound(t *testing.T) {
	in := func(n int) driver.Filter {
		vals := make([]any, n)
		for i := range vals {
			vals[i] = i
		}
		return driver.Filter{Field: "n", Op: driver.OpIn, Value: vals}
	}
	var at []driver.Filter
	for range driver.MaxFilterValues / driver.MaxInValues {
		at = append(at, in(driver.MaxInValues))
	}
	if _, err := (driver.Filter{Or: at}).Compile(); err != nil {
		t.Fatalf("a filter of %d values: %v", driver.MaxFilterValues, err)
	}
	for _, extra := range []driver.Filter{in(1), {Field: "n", Op: driver.OpEq, Value: 1}, {Not: &driver.Filter{Field: "n", Op: driver.OpExists, Value: true}}} {
		_, err := driver.Filter{And: []driver.Filter{{Or: at}, extra}}.Compile()
		if !errors.Is(err, driver.ErrInvalidFilter) || !strings.Contains(err.Error(), fmt.Sprint(driver.MaxFilterValues, " values")) {
			t.Errorf("a filter of %d values (and %+v): %v, want ErrInvalidFilter for its values", driver.MaxFilterValues+1, extra, err)
		}
	}
}
