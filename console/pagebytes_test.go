package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
)

// pageAllocBound is what one entries or query page of MaxPageSize
// entries of 1 MiB each may allocate, everything in the process counted
// (the store's reads and the test's client too): the page reads at most
// console.PageBytes and one entry (the query page two: its query reads
// one ahead) past it, 6 MiB here.
const pageAllocBound = 24 << 20

// pageBytesEntries is how many entries of 1 MiB TestPageBytesBounded
// stores: more than a page of them reads, fewer than its limit.
const pageBytesEntries = 24

// TestPageBytesBounded: a page of the entries or query page, limit 500,
// over entries of 1 MiB each reads and holds about console.PageBytes of
// values, not all of them: it stops at the entry that reaches PageBytes,
// says so, and its next page goes on from the first entry it did not
// show. Before, one page of 500 such entries allocated over 500 MiB
// (every value read whole for an 80-character preview), so that a
// principal storing large values made an administrator's page views
// exhaust the server's memory. (It stored 500 of them, 80 s of the
// suite; a page reads 4 now, so 24 show the same.)
func TestPageBytesBounded(t *testing.T) { onEach(t, pageBytesBounded) }

func pageBytesBounded(t *testing.T, dsn string) {
	noReadTime(t)
	e := newEnv(t, dsn, false, nil)
	ctx := principal(t, "admin-pk")
	val := json.RawMessage(`"` + strings.Repeat("v", 1<<20) + `"`)
	for i := range pageBytesEntries {
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
		// 1 MiB and a few bytes each: the fourth reaches PageBytes.
		p.want(t, http.StatusOK, `id="cut"`, "k003", "(1.0 MiB, open the entry)")
		if strings.Contains(p.body, "k004") {
			t.Fatalf("%s: the page shows more than PageBytes of values", c.name)
		}
		next := nextLink(t, p)
		p = b.get(next)
		p.want(t, http.StatusOK, "k004", "k007")
		if strings.Contains(p.body, "k003") || strings.Contains(p.body, "k008") {
			t.Fatalf("%s: the next page does not go on from the first entry not shown", c.name)
		}
	}
}

// noReadTime lifts console.PageReadTime for t, so that its pages are cut
// by their bytes or limit only, however slow the machine (-race, a
// loaded CI runner: 100 sorted queries took over 2 s there). Call it
// before the console serves.
func noReadTime(t *testing.T) {
	t.Cleanup(console.SetPageReadTime(time.Hour))
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
	noReadTime(t)
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

// partBudget is the page budget of TestPageBoundWithinPart (PageBytes,
// lowered), and partBigValue the size of its large values.
const (
	partBudget   = 64 << 10
	partBigValue = 1 << 20
)

// partAllocBound is what one page of TestPageBoundWithinPart may allocate,
// everything in the process counted: the budget and the one or two large
// values a page reads past it (the store's read of the entry that
// reaches it, and for the query page the one its query reads ahead),
// each copied a few times on their way from the database.
const partAllocBound = 8 * partBigValue

// TestPageBoundWithinPart: an entries or query page whose first entries
// are small and the next ones large reads about its budget (PageBytes)
// and one or two large values past it, not a part of them: it stops at
// the entry that reaches the budget. Paging on from its next link visits
// every entry once, in order. Before, the budget was checked between
// parts only, and a part read after small values was PagePart (16)
// entries long whatever their size: with 16 MiB values one page read
// 256 MiB (here 16 values of 1 MiB: the first entries page allocated 17.8 MiB).
func TestPageBoundWithinPart(t *testing.T) {
	t.Cleanup(console.SetPageBytes(partBudget)) // after the server ends (cleanups run last first)
	noReadTime(t)
	e := newEnv(t, "sqlite::memory:", false, nil)
	ctx := principal(t, "admin-pk")
	big := json.RawMessage(`{"i":0,"pad":"` + strings.Repeat("v", partBigValue) + `"}`)
	var keys []string
	put := func(key string, v any) {
		t.Helper()
		if err := e.sec.Set(ctx, key, v, storage.InNamespace("users")); err != nil {
			t.Fatal(err)
		}
	}
	put("j-before", map[string]int{"i": -1})
	for i := range 56 {
		key := fmt.Sprintf("k%03d", i)
		keys = append(keys, key)
		if i >= 32 && i < 48 {
			b := append(json.RawMessage(nil), big...)
			copy(b[5:], fmt.Sprintf("%d", i%10)) // "i":N, keep the shape
			put(key, b)
		} else {
			put(key, map[string]int{"i": i % 10})
		}
	}
	put("l-after", map[string]int{"i": -1})
	b := e.browser(t)
	b.signIn(adminToken)
	limit := fmt.Sprint(console.MaxPageSize)
	for _, c := range []struct{ name, path string }{
		{"entries", "/console/entries" + q("ns", "users", "prefix", "k", "limit", limit)},
		{"query", "/console/query" + q("ns", "users", "limit", limit, "run", "1", "source", "json",
			"filter", `{"field":"$key","operator":"startsWith","value":"k"}`)},
	} {
		var seen []string
		var most uint64
		path := c.path
		for pages := 0; path != ""; pages++ {
			if pages > 2*len(keys) {
				t.Fatalf("%s: %d pages and no end", c.name, pages)
			}
			var p page
			n := allocated(func() { p = b.get(path) })
			if n > partAllocBound {
				t.Fatalf("%s: page %d (after %s) allocated %.1f MiB, more than %.1f", c.name, pages, lastOf(seen),
					float64(n)/(1<<20), float64(partAllocBound)/(1<<20))
			}
			most = max(most, n)
			p.want(t, http.StatusOK)
			seen = append(seen, keyRe.FindAllString(p.text(), -1)...)
			path = ""
			if strings.Contains(p.body, `rel="next"`) {
				path = nextLink(t, p)
			}
		}
		t.Logf("%s: at most %.1f MiB allocated by a page", c.name, float64(most)/(1<<20))
		for i := range seen {
			seen[i] = strings.Trim(seen[i], "<>")
		}
		if strings.Join(seen, " ") != strings.Join(keys, " ") {
			t.Fatalf("%s: paging visited\n%v\nwant\n%v", c.name, seen, keys)
		}
	}
}

func lastOf(s []string) string {
	if len(s) == 0 {
		return "the start"
	}
	return s[len(s)-1]
}

// TestQueryPageReadTime: the query page stops running queries once they
// ran PageReadTime (after at least one match), says so, and its next page
// goes on: a page sorted on a field without an index, which sorts the
// matches in every query, costs about PageReadTime, not a query per row
// of its limit. Paging on visits every match once, in the sort's order.
func TestQueryPageReadTime(t *testing.T) {
	t.Cleanup(console.SetPageReadTime(0)) // after the server ends
	e := newEnv(t, "sqlite::memory:", false, nil)
	ctx := principal(t, "admin-pk")
	var want []string
	for i := range 5 {
		if err := e.sec.Set(ctx, fmt.Sprintf("k%03d", i), map[string]int{"i": i}, storage.InNamespace("users")); err != nil {
			t.Fatal(err)
		}
		want = append([]string{fmt.Sprintf("k%03d", i)}, want...)
	}
	b := e.browser(t)
	b.signIn(adminToken)
	path := "/console/query" + q("ns", "users", "limit", "100", "run", "1", "source", "json", "sort", "i", "dir", "desc")
	var seen []string
	for path != "" {
		p := b.get(path)
		p.want(t, http.StatusOK)
		keys := keyRe.FindAllString(p.text(), -1)
		if len(keys) != 1 {
			t.Fatalf("a page of %d matches, want 1 (PageReadTime 0)", len(keys))
		}
		seen = append(seen, strings.Trim(keys[0], "<>"))
		path = ""
		if strings.Contains(p.body, `rel="next"`) {
			p.want(t, http.StatusOK, `id="slow"`)
			path = nextLink(t, p)
		}
	}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Fatalf("paging visited %v, want %v", seen, want)
	}
}

// TestEntriesAfterKey: the entries page's after is a key: it goes on
// after it within the prefix, from the prefix's first key when it lies
// before the prefix, and shows nothing when it lies past it.
func TestEntriesAfterKey(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	ctx := principal(t, "admin-pk")
	for _, k := range []string{"j1", "k001", "k002", "k003", "l1"} {
		if err := e.sec.Set(ctx, k, 1, storage.InNamespace("users")); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(adminToken)
	for after, want := range map[string]string{
		"k001": ">k002< >k003<", "k0015": ">k002< >k003<", "a": ">k001< >k002< >k003<", "k003": "", "z": "",
	} {
		p := b.get("/console/entries" + q("ns", "users", "prefix", "k", "after", after))
		p.want(t, http.StatusOK)
		if got := strings.Join(keyRe.FindAllString(p.text(), -1), " "); got != want {
			t.Errorf("after %q: %q, want %q", after, got, want)
		}
	}
}
