package console_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/console"
)

// TestNamespacesPaging: the namespaces page read every namespace (and
// counted each one's entries) at once; it shows console.NamespacesPage at
// a time now, with a link to the next page, and the pages together show
// every namespace once.
func TestNamespacesPaging(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	n := console.NamespacesPage*2 + 5
	for i := range n {
		if err := e.inner.CreateNamespace(t.Context(), fmt.Sprintf("ns%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(adminToken)
	p := b.get("/console/namespaces")
	p.want(t, http.StatusOK, "ns0000", "Next page")
	seen := map[string]int{}
	pages := 0
	for ; pages < 10; pages++ {
		rows := regexp.MustCompile(`<th scope="row"><a [^>]*>([^<]+)</a>`).FindAllStringSubmatch(p.body, -1)
		if len(rows) > console.NamespacesPage {
			t.Fatalf("page %d shows %d namespaces", pages, len(rows))
		}
		for _, m := range rows {
			seen[m[1]]++
		}
		m := regexp.MustCompile(`rel="next" href="([^"]+)"`).FindStringSubmatch(p.body)
		if m == nil {
			break
		}
		p = b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
		p.want(t, http.StatusOK, "First page")
	}
	if pages != 2 || len(seen) != n+1 {
		t.Fatalf("%d pages showed %d namespaces, want 3 pages and %d", pages+1, len(seen), n+1)
	}
	for name, c := range seen {
		if c != 1 {
			t.Errorf("%s shown %d times", name, c)
		}
	}
}
