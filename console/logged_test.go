package console_test

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/internal/testutil/logbuf"
)

// brokenStore is a store whose writes, queries, counts and namespace
// changes fail with an error no code names (an internal error), carrying
// detail a page must not show.
type brokenStore struct{ storage.Store }

// brokenDetail is what every error of brokenStore says after its call's name.
const brokenDetail = "pgconn: connection to 10.0.0.7 reset by peer"

func broken(op string) error { return errors.New("sqlstore: " + op + ": " + brokenDetail) }

func (brokenStore) Set(context.Context, string, any, ...storage.Option) error { return broken("set") }
func (brokenStore) Query(context.Context, storage.Filter, ...storage.Option) (storage.QueryResult, error) {
	return storage.QueryResult{}, broken("query")
}
func (brokenStore) Count(context.Context, ...storage.Option) (int64, error) {
	return 0, broken("count")
}
func (brokenStore) CreateNamespace(context.Context, string, ...storage.NamespaceOption) error {
	return broken("createNamespace")
}
func (brokenStore) Watch(context.Context, ...storage.Option) iter.Seq2[storage.Event, error] {
	return func(yield func(storage.Event, error) bool) { yield(storage.Event{}, broken("watch")) }
}
func (brokenStore) DeleteNamespace(context.Context, string, ...storage.NamespaceOption) error {
	return broken("deleteNamespace")
}

// TestInternalErrorsLogged: a page that fails on an internal error says
// "the server's log has the details" without them, and the log has them,
// whichever page or form failed. Before, only the pages that failed
// through Handler.fail logged: the query page, the namespaces page's
// counts and the forms (save, create, delete a namespace) showed the
// sentence and logged nothing, the detail lost.
func TestInternalErrorsLogged(t *testing.T) {
	var logs logbuf.Buffer
	e := newEnv(t, "sqlite::memory:", false, func(c *console.Config) {
		c.Store = brokenStore{c.Store}
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	if err := e.inner.CreateNamespace(t.Context(), "users"); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(adminToken)
	seen := 0 // what was logged before the case
	for _, tc := range []struct {
		name, op string
		do       func() page
	}{
		{"query", "query", func() page { return b.get("/console/query" + q("ns", "users", "run", "1")) }},
		{"namespaces' counts", "count", func() page { return b.get("/console/namespaces") }},
		{"save", "set", func() page {
			return b.post("/console/entry/save", url.Values{"ns": {"users"}, "key": {"k"}, "version": {"0"}, "value": {"1"}})
		}},
		{"create namespace", "createNamespace", func() page { return b.post("/console/namespaces/create", url.Values{"name": {"n2"}}) }},
		{"delete namespace", "deleteNamespace", func() page {
			return b.post("/console/namespaces/delete", url.Values{"ns": {"users"}, "confirm": {"users"}})
		}},
		{"live tail", "watch", func() page {
			p := b.get("/console/status/changes")
			if !strings.Contains(p.body, "event: error") {
				t.Errorf("live tail: no error event:\n%s", p.body)
			}
			// The script shows the event's text as it is.
			p.body = strings.ReplaceAll(p.body, "server's log", "server&#39;s log")
			return p
		}},
	} {
		p := tc.do()
		if strings.Contains(p.body, brokenDetail) {
			t.Errorf("%s: the page shows the internal detail", tc.name)
		}
		if !strings.Contains(p.body, "the server&#39;s log has the details") {
			t.Errorf("%s: %d, the page does not point to the log:\n%s", tc.name, p.StatusCode, p.body)
		}
		if log := logs.String()[seen:]; !strings.Contains(log, "sqlstore: "+tc.op+": "+brokenDetail) {
			t.Errorf("%s: %d, the page points to the log, which lacks the detail: %q", tc.name, p.StatusCode, log)
		}
		b.get("/console/namespaces") // a fresh CSRF token
		seen = len(logs.String())
	}
}
