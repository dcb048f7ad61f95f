package sqlstore

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// watchStartErr is the error a watch yields first (nil when it starts
// and yields nothing within a moment).
func watchStartErr(ctx context.Context, w storage.Watcher, opts ...storage.Option) error {
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	for _, err := range w.Watch(ctx, opts...) {
		return err
	}
	return nil
}

// TestWatchHostileOptions: the options a caller may get wrong on Watch,
// History and Get at a revision (revisions negative, zero or beyond the
// store's, the wrong revision option, a limit where none is taken, bad
// patterns, filters, namespaces and keys) each fail with the one
// documented sentinel, on every database; a namespace that does not
// exist is no error (a watch waits for it, History is empty, Get not
// found).
func TestWatchHostileOptions(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ns := storage.InNamespace("p")
			must(t, s.Set(ctx, "k", 1, ns))
			var l faultLog
			for _, tc := range []struct {
				what string
				err  error
				want error // nil: no error
			}{
				{"watch FromRevision(-1)", watchStartErr(ctx, s, storage.FromRevision(-1)), storage.ErrInvalidOption},
				{"watch FromRevision(max)", watchStartErr(ctx, s, storage.FromRevision(math.MaxInt64)), storage.ErrInvalidOption},
				{"watch AtRevision", watchStartErr(ctx, s, storage.AtRevision(1)), storage.ErrInvalidOption},
				{"watch Limit", watchStartErr(ctx, s, storage.Limit(5)), storage.ErrInvalidOption},
				{`watch Pattern("a\")`, watchStartErr(ctx, s, storage.Pattern(`a\`)), storage.ErrInvalidOption},
				{"watch Pattern of 200 KB", watchStartErr(ctx, s, storage.Pattern(strings.Repeat("*?", 100_000))), storage.ErrInvalidOption},
				{"watch Where($nope)", watchStartErr(ctx, s, storage.Where(storage.Eq("$nope", 1))), storage.ErrInvalidFilter},
				{"watch InNamespace(a/b)", watchStartErr(ctx, s, storage.InNamespace("a/b")), storage.ErrInvalidNamespace},
				{"watch of a missing namespace", watchStartErr(ctx, s, storage.InNamespace("missing")), nil},
				{"history FromRevision(max)", firstErr(s.History(ctx, "k", ns, storage.FromRevision(math.MaxInt64))), storage.ErrInvalidOption},
				{"history AtRevision", firstErr(s.History(ctx, "k", ns, storage.AtRevision(1))), storage.ErrInvalidOption},
				{"history Limit(-1)", firstErr(s.History(ctx, "k", ns, storage.Limit(-1))), storage.ErrInvalidOption},
				{"history Limit(max)", firstErr(s.History(ctx, "k", ns, storage.Limit(math.MaxInt32))), nil},
				{"history of an empty key", firstErr(s.History(ctx, "", ns)), storage.ErrInvalidKey},
				{"history of a missing namespace", firstErr(s.History(ctx, "k", storage.InNamespace("missing"))), nil},
				{"get AtRevision(max)", firstErr(s.Get(ctx, "k", ns, storage.AtRevision(math.MaxInt64))), storage.ErrInvalidOption},
				{"get AtRevision(0)", firstErr(s.Get(ctx, "k", ns, storage.AtRevision(0))), storage.ErrInvalidOption},
				{"get FromRevision", firstErr(s.Get(ctx, "k", ns, storage.FromRevision(1))), storage.ErrInvalidOption},
				{"get AtRevision in a missing namespace", firstErr(s.Get(ctx, "k", storage.InNamespace("missing"), storage.AtRevision(1))), storage.ErrNotFound},
				{"has AtRevision", firstErr(s.Has(ctx, "k", ns, storage.AtRevision(1))), storage.ErrInvalidOption},
				{"getMany AtRevision", firstErr(s.GetMany(ctx, []string{"k"}, ns, storage.AtRevision(1))), storage.ErrInvalidOption},
			} {
				if tc.want == nil {
					if tc.err != nil {
						t.Errorf("%s: %v, want no error", tc.what, tc.err)
					}
					continue
				}
				l.typed(tc.what, tc.err, false, tc.want)
				if tc.err == nil {
					t.Errorf("%s: no error, want %v", tc.what, tc.want)
				}
			}
			l.report(t)
		})
	}
}
