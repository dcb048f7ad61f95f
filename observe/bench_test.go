package observe_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/observe"
)

// benchHooks are the configurations the benchmarks compare: no wrapper, a
// nil hook (Wrap returns the store itself), a hook that does nothing, and
// a slog hook whose records are all below the logger's level.
func benchHooks() []struct {
	name string
	hook observe.Hook
	wrap bool
} {
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return []struct {
		name string
		hook observe.Hook
		wrap bool
	}{
		{"raw", nil, false},
		{"nil-hook", nil, true},
		{"noop-hook", observe.EndFunc(func(context.Context, observe.Event) {}), true},
		{"slog-filtered", observe.Slog(quiet), true},
	}
}

// BenchmarkGet reads one existing key of an in-memory SQLite store, with
// and without the wrapper.
func BenchmarkGet(b *testing.B) {
	inner := teststore.Open(b, testdb.SQLiteMemory(b))
	if err := inner.Set(context.Background(), "k", map[string]any{"n": 1}, storage.InNamespace("bench")); err != nil {
		b.Fatal(err)
	}
	benchGet(b, inner)
}

// BenchmarkOverhead measures the wrapper alone, over a store whose Get
// returns at once.
func BenchmarkOverhead(b *testing.B) { benchGet(b, getOnly{}) }

// benchGet runs a sub-benchmark of Get in namespace "bench" for each of
// benchHooks.
func benchGet(b *testing.B, inner storage.Store) {
	ctx := context.Background()
	in := storage.InNamespace("bench")
	for _, c := range benchHooks() {
		s := inner
		if c.wrap {
			s = observe.Wrap(inner, c.hook)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Get(ctx, "k", in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
