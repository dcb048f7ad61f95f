package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
)

// TestWatchFromFutureRevision: a watch or history FromRevision beyond the
// store's revision (a consumer resuming against another store, or this
// one restored from an older backup) is ErrInvalidOption as a
// *storage.FutureRevisionError naming the revision asked for and the
// store's, on SQLite and PostgreSQL, and over the wire alike. Before, it
// was an ErrInvalidOption like any other (a message only), and over the
// wire nothing told the two revisions. A Get AtRevision beyond the
// store's revision is the same error (before, a plain ErrInvalidOption).
func TestWatchFromFutureRevision(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			st := teststore.Open(t, c.DSN(t))
			_, cl := serve(t, st)
			ns := storage.InNamespace("future")
			for i := range 3 {
				if err := st.Set(ctx, "k", i, ns); err != nil {
					t.Fatal(err)
				}
			}
			status, err := st.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			from := status.Revision + 5
			check := func(what string, err error) {
				t.Helper()
				var fe *storage.FutureRevisionError
				switch {
				case !errors.As(err, &fe):
					t.Errorf("%s FromRevision(%d), the store at %d: %v; want a *storage.FutureRevisionError", what, from, status.Revision, err)
				case !errors.Is(err, storage.ErrInvalidOption) || fe.Requested != from || fe.Current != status.Revision:
					t.Errorf("%s: %v (requested %d, current %d); want ErrInvalidOption, requested %d, current %d", what, err, fe.Requested, fe.Current, from, status.Revision)
				}
			}
			for name, w := range map[string]interface {
				storage.Store
				storage.Watcher
				storage.Historian
			}{"engine": st, "client": cl} {
				started := false
				var got error
				for _, err := range w.Watch(ctx, ns, storage.FromRevision(from), storage.OnStart(func(int64) { started = true })) {
					got = err
					break
				}
				if started {
					t.Errorf("%s: the watch started", name)
				}
				check(name+" watch", got)
				_, err := w.History(ctx, "k", ns, storage.FromRevision(from))
				check(name+" history", err)
				_, err = w.Get(ctx, "k", ns, storage.AtRevision(from))
				check(name+" get AtRevision", err)
			}
		})
	}
}
