package driver_test

import (
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
