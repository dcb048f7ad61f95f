package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
)

// pageAllocBound is what one entries or query page of MaxPageSize
// entries of 1 MiB each may allocate, everything in the process counted
// (the store's reads and the test's client too): the page reads at most
// console.PageBytes and one part (console.PagePart values) past it, 20
// MiB here.
const pageAllocBound = 48 << 20

// TestPageBytesBounded: a page of the entries or query page of 500
// entries of 1 MiB each reads and holds about console.PageBytes of
// values, not 500 MiB: it stops after the part that reaches PageBytes,
// says so, and its next page goes on from the first entry it did not
// show. Before, one such page allocated over 500 MiB (every value read
// whole for an 80-character preview), so that a principal storing large
// values made an administrator's page views exhaust the server's memory.
func TestPageBytesBounded(t *testing.T) { onEach(t, pageBytesBounded) }

func pageBytesBounded(t *testing.T, dsn string) {
	e := newEnv(t, dsn, false, nil)
	ctx := principal(t, "admin-pk")
	val := json.RawMessage(`"` + strings.Repeat("v", 1<<20) + `"`)
	for i := range console.MaxPageSize {
		if err := e.sec.Set(ctx, fmt.Sprintf("k%03d", i), val, storage.InNamespace("users")); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(adminToken)
	limit := fmt.Sprint(console.MaxPageSize)
	for _, c := range []struct{ name, path string }{
		{"entries", "/console/entries" + q("ns", "users", "limit", limit)},
		{"query", "/console/query" + q("ns", "users", "limit", limit, "run", "1", "source", "json")},
	} {
		var p page
		n := allocated(func() { p = b.get(c.path) })
		t.Logf("%s: a page of %s entries of %d bytes allocated %.1f MiB", c.name, limit, len(val), float64(n)/(1<<20))
		if n > pageAllocBound {
			t.Fatalf("%s: a page of %s entries of %d bytes allocated %d bytes, more than %d", c.name, limit, len(val), n, pageAllocBound)
		}
		p.want(t, http.StatusOK, `id="cut"`, "k015", "(1.0 MiB, open the entry)")
		if strings.Contains(p.body, "k016") {
			t.Fatalf("%s: the page shows more than its first part", c.name)
		}
		next := nextLink(t, p)
		p = b.get(next)
		p.want(t, http.StatusOK, "k016", "k031")
		if strings.Contains(p.body, "k015") || strings.Contains(p.body, "k032") {
			t.Fatalf("%s: the next page is not the next part", c.name)
		}
	}
}

// nextLink is the href of p's "Next page" link.
func nextLink(t *testing.T, p page) string {
	t.Helper()
	_, rest, ok := strings.Cut(p.body, `rel="next" href="`)
	if !ok {
		t.Fatalf("no next page link\n%s", p.body)
	}
	href, _, _ := strings.Cut(rest, `"`)
	return strings.ReplaceAll(href, "&amp;", "&")
}

// TestPageSmallValuesWhole: a page of small values holds its limit,
// read in parts, in order, with no note.
func TestPageSmallValuesWhole(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	ctx := principal(t, "admin-pk")
	for i := range 120 {
		if err := e.sec.Set(ctx, fmt.Sprintf("k%03d", i), map[string]int{"i": i}, storage.InNamespace("users")); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(adminToken)
	for _, c := range []struct{ name, path string }{
		{"entries", "/console/entries" + q("ns", "users", "limit", "100")},
		{"query", "/console/query" + q("ns", "users", "limit", "100", "run", "1", "source", "json", "sort", "i", "dir", "desc")},
	} {
		p := b.get(c.path)
		p.want(t, http.StatusOK, `rel="next"`)
		if strings.Contains(p.body, `id="cut"`) {
			t.Fatalf("%s: a page of small values is cut", c.name)
		}
		keys := keyRe.FindAllString(p.body, -1)
		if len(keys) != 100 {
			t.Fatalf("%s: %d keys, want 100", c.name, len(keys))
		}
		for i, k := range keys {
			want := i
			if c.name == "query" {
				want = 119 - i
			}
			if k != fmt.Sprintf(">k%03d<", want) {
				t.Fatalf("%s: key %d is %s, want k%03d", c.name, i, k, want)
			}
		}
		p = b.get(nextLink(t, p))
		if keys := keyRe.FindAllString(p.body, -1); len(keys) != 20 {
			t.Fatalf("%s: the next page has %d keys, want 20", c.name, len(keys))
		}
	}
}

var keyRe = regexp.MustCompile(`>k[0-9]{3}<`)
