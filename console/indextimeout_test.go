package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestIndexFormTimeout: the form that creates an index runs for up to
// Config.IndexTimeout, not Timeout, and asks its turn of
// Config.AdmitIndex: with a Timeout of 50 ms, an index over 20,000
// entries (a build of 0.1 s to seconds) is created. Before, the build's
// context ended at Timeout: "Creating the index failed" (504), and the
// form was admitted as a write.
func TestIndexFormTimeout(t *testing.T) {
	const timeout = 50 * time.Millisecond
	var asked, askedIndex atomic.Int32
	nothing := func() {}
	e := newEnv(t, testdb.SQLiteFile(t), false, func(c *console.Config) {
		c.Timeout, c.IndexTimeout = timeout, 5*time.Minute
		c.Admit = func(context.Context, string, bool) (func(), func(), error) {
			asked.Add(1)
			return nothing, nothing, nil
		}
		c.AdmitIndex = func(context.Context, string) (func(), func(), error) {
			askedIndex.Add(1)
			return nothing, nothing, nil
		}
	})
	ctx := t.Context()
	const entries = 20_000
	items := make([]storage.Item, 1000)
	for b := 0; b < entries; b += len(items) {
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("k%07d", b+i), Value: map[string]any{"f": (b + i) % 97}}
		}
		if res, err := e.inner.SetMany(ctx, items, storage.InNamespace("big")); err != nil || !res.OK() {
			t.Fatalf("SetMany: %v %v", err, res.Err())
		}
	}
	b := e.browser(t)
	b.signIn(adminToken)
	asked.Store(0)
	start := time.Now()
	b.post("/console/namespaces/index/create", url.Values{"ns": {"big"}, "field": {"f"}}).want(t, http.StatusSeeOther)
	t.Logf("the index form over %d entries: %v (Timeout %v)", entries, time.Since(start).Round(time.Millisecond), timeout)
	if n, m := askedIndex.Load(), asked.Load(); n != 1 || m != 0 {
		t.Errorf("the form asked AdmitIndex %d times and Admit %d; want 1 and 0", n, m)
	}
	list, err := e.inner.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(n storage.Namespace) bool { return n.Name == "big" })
	if i < 0 || !slices.Equal(list[i].Indexes, []string{"f"}) {
		t.Fatalf("namespaces after the form: %+v; want big with the index f", list)
	}
}
