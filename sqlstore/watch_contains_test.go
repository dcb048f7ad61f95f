package sqlstore

import (
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestWatchContainsFilter: a watch whose filter looks into arrays
// (contains, on the value and on the metadata) delivers the puts it
// matches, on every database. On SQLite the filter compiler reads an
// array's elements from the column of the entries table by name, and the
// watch's read of the change log had no table of that name: every such
// watch failed at its first read with ErrCorrupt ("no such column:
// entries.value" beneath), a corrupt database reported for a caller's
// valid filter.
func TestWatchContainsFilter(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			ctx, ns := t.Context(), storage.InNamespace("p")
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			md := storage.WithMetadata(map[string]any{"labels": []string{"red"}})
			must(t, s.Set(ctx, "miss", map[string]any{"tags": []string{"b"}, "s": "zzz"}, ns))
			must(t, s.Set(ctx, "tag", map[string]any{"tags": []string{"a", "b"}}, ns))
			must(t, s.Set(ctx, "str", map[string]any{"s": "xax"}, ns))
			must(t, s.Set(ctx, "meta", 1, ns, md))
			// Every event but a put passes a filter: the delete ends each
			// watch's reading.
			must(t, s.Delete(ctx, "miss", ns))
			for _, tc := range []struct {
				f    storage.Filter
				want string
			}{
				{storage.Contains("tags", "a"), "tag"},
				{storage.Contains("s", "a"), "str"},
				{storage.Contains("$metadata.labels", "red"), "meta"},
				{storage.Or(storage.Contains("tags", "a"), storage.Contains("tags", 7)), "tag"},
			} {
				var got []string
				for ev, err := range s.Watch(ctx, ns, storage.Where(tc.f), storage.FromRevision(0)) {
					if err != nil {
						t.Fatalf("watch where %+v: %v", tc.f, err)
					}
					if ev.Type == storage.EventPut {
						got = append(got, ev.Key)
					}
					if ev.Type == storage.EventDelete {
						break
					}
				}
				if len(got) != 1 || got[0] != tc.want {
					t.Errorf("watch where %+v: puts %v, want [%s]", tc.f, got, tc.want)
				}
			}
		})
	}
}
