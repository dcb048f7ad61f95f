package sqlstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestGetAtRevisionCompactedWithinWindow: a Get AtRevision(r) at a
// revision the log still retains, of a key whose state at r was written
// by a put that compaction removed (and which was deleted after r), is
// ErrCompacted as a *storage.CompactedError naming r and the oldest
// retained revision (Status.OldestRevision), on every configuration. Its
// message said "revision r is older than the oldest retained revision
// o" with r above o, which was false; it says what is older.
func TestGetAtRevisionCompactedWithinWindow(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1), WithRetention(Retention{Changes: 10}))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			ns := storage.InNamespace("window")
			must(t, s.Set(ctx, "k", 1, ns))
			for i := range 20 {
				must(t, s.Set(ctx, "z", i, ns))
			}
			r := head(t, s)
			for i := range 5 {
				must(t, s.Set(ctx, "z", i, ns))
			}
			must(t, s.Delete(ctx, "k", ns))
			if _, err := s.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := s.Status(ctx)
			must(t, err)
			if r < st.OldestRevision {
				t.Fatalf("revision %d is outside the window from %d: the test needs it within", r, st.OldestRevision)
			}
			_, err = s.Get(ctx, "k", ns, storage.AtRevision(r))
			var ce *storage.CompactedError
			switch {
			case !errors.As(err, &ce):
				t.Fatalf("Get AtRevision(%d): %v; want a *storage.CompactedError", r, err)
			case ce.Requested != r || ce.Oldest != st.OldestRevision:
				t.Errorf("Get AtRevision(%d): requested %d oldest %d; want %d and %d", r, ce.Requested, ce.Oldest, r, st.OldestRevision)
			case strings.Contains(err.Error(), "is older than"):
				t.Errorf("Get AtRevision(%d), the window from %d: %q says the revision is older than the window", r, st.OldestRevision, err)
			}
		})
	}
}
