package sqlstore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestNamespaceEventPrevRevision: the PrevRevision of namespace-level
// events is what storage.Event documents, on both dialects: 0 for
// namespace_create and clear; the revision of the namespace's last change
// of its own (its creation, or its latest metadata change, never a clear)
// for namespace_metadata and namespace_delete. The doc said 0 for every
// namespace-level event, while namespace_delete carried its creation's.
func TestNamespaceEventPrevRevision(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			ctx, in := t.Context(), storage.InNamespace("nsprev")
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			st, err := s.Status(ctx)
			must(t, err)
			must(t, s.CreateNamespace(ctx, "nsprev"))
			must(t, s.Set(ctx, "k", 1, in))
			must(t, s.Clear(ctx, in))
			// An import over the namespace changes its metadata.
			_, err = s.RestoreNamespace(ctx, NamespaceRecord{Name: "nsprev", Metadata: json.RawMessage(`{"a":1}`), CreatedAt: time.Now().UTC()}, ConflictOverwrite)
			must(t, err)
			must(t, s.Set(ctx, "k", 2, in))
			must(t, s.Clear(ctx, in))
			must(t, s.DeleteNamespace(ctx, "nsprev", storage.Recursive()))
			var evs []storage.Event
			for ev, err := range s.Watch(ctx, in, storage.FromRevision(st.Revision)) {
				must(t, err)
				evs = append(evs, ev)
				if ev.Type == storage.EventNamespaceDelete {
					break
				}
			}
			rev := map[storage.EventType]int64{}
			for _, ev := range evs {
				rev[ev.Type] = ev.Revision
			}
			want := map[storage.EventType]int64{
				storage.EventNamespaceCreate:   0,
				storage.EventPut:               0,
				storage.EventClear:             0,
				storage.EventNamespaceMetadata: rev[storage.EventNamespaceCreate],
				storage.EventNamespaceDelete:   rev[storage.EventNamespaceMetadata],
			}
			if len(evs) != 7 || rev[storage.EventNamespaceCreate] == 0 || rev[storage.EventNamespaceMetadata] == 0 {
				t.Fatalf("events %+v, want create, put, clear, metadata, put, clear, delete", evs)
			}
			for _, ev := range evs {
				if w := want[ev.Type]; ev.PrevRevision != w {
					t.Errorf("%s at %d: PrevRevision %d, want %d", ev.Type, ev.Revision, ev.PrevRevision, w)
				}
			}
		})
	}
}
