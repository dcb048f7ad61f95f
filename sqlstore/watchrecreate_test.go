package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestWatchNamespaceRecreated: a watch of one namespace with a pattern
// sees the namespace deleted and created again while it runs, in order:
// its create, the matching put, its delete (with its entries), its new
// create and the new life's matching put; a put of another key, and the
// namespace whose name extends its own, stay out.
func TestWatchNamespaceRecreated(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			ns := storage.InNamespace("rec")
			started := make(chan struct{})
			got := make(chan string, 16)
			go func() {
				defer close(got)
				for ev, err := range s.Watch(ctx, ns, storage.Pattern("a*"), storage.OnStart(func(int64) { close(started) })) {
					if err != nil {
						got <- "error " + err.Error()
						return
					}
					got <- fmt.Sprintf("%s %s %s", ev.Type, ev.Namespace, ev.Key)
					if ev.Key == "a-end" {
						return
					}
				}
			}()
			<-started
			steps := []func() error{
				func() error { return s.Set(ctx, "a1", 1, ns) },
				func() error { return s.Set(ctx, "b1", 1, ns) },
				func() error { return s.Set(ctx, "a1", 1, storage.InNamespace("rec2")) },
				func() error { return s.DeleteNamespace(ctx, "rec", storage.Recursive()) },
				func() error { return s.Set(ctx, "a2", 2, ns) },
				func() error { return s.Set(ctx, "a-end", 3, ns) },
			}
			for _, f := range steps {
				if err := f(); err != nil {
					t.Fatal(err)
				}
			}
			var evs []string
			for e := range got {
				evs = append(evs, e)
			}
			want := "namespace_create rec |put rec a1|namespace_delete rec |namespace_create rec |put rec a2|put rec a-end"
			if strings.Join(evs, "|") != want {
				t.Fatalf("events:\n%s\nwant\n%s", strings.Join(evs, "\n"), strings.ReplaceAll(want, "|", "\n"))
			}
		})
	}
}
