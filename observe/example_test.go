package observe_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Wrap a store with a slog hook and a hook of one's own: every operation
// is logged once it completes, and counted.
func Example() {
	ctx := context.Background()
	inner, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer inner.Close()

	// A text logger without the varying attributes, for the example's output.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))
	failures := 0
	count := observe.EndFunc(func(_ context.Context, ev observe.Event) {
		if observe.SeverityOf(ev.Err) != observe.SeverityOK {
			failures++
		}
	})
	s := observe.Wrap(inner, observe.Hooks(observe.Slog(logger), count))

	_ = s.Set(ctx, "user:1", map[string]any{"name": "Ada"}, storage.InNamespace("users"))
	_, _ = s.Get(ctx, "user:2", storage.InNamespace("users"))
	_ = s.Set(ctx, "", 1)
	fmt.Println("failures:", failures)
	// Output:
	// level=DEBUG msg="storage set" op=set namespace=users key=user:1 rows=1
	// level=DEBUG msg="storage get" op=get namespace=users key=user:2 rows=0 error_type=not_found error="storage: get namespace \"users\" key \"user:2\": not found"
	// level=WARN msg="storage set" op=set namespace=default rows=0 error_type=invalid_key error="storage: set namespace \"default\": invalid key: key is empty"
	// failures: 1
}
