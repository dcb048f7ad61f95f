package dump_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// TestExportStore: ExportStore through the plain store writes a file that
// imports to the same snapshot as the store; through an authorizing store
// it holds only what the principal may read.
func TestExportStore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			src := openClocked(t, b.DSN(t))
			seed(t, src, 120)
			want := take(t, src)

			var buf bytes.Buffer
			st, err := dump.ExportStore(ctx, src, &buf, dump.ExportOptions{PageSize: 7})
			if err != nil {
				t.Fatal(err)
			}
			if st.Entries != int64(len(want.entries)) || st.Namespaces != int64(len(want.namespaces)) {
				t.Fatalf("stats %+v, want %d namespaces and %d entries", st, len(want.namespaces), len(want.entries))
			}
			dst := teststore.Open(t, b.DSN(t))
			if _, err := dump.Import(ctx, dst, bytes.NewReader(buf.Bytes()), dump.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			sameSnapshot(t, "ExportStore", want, take(t, dst))

			// A principal that reads alpha only exports alpha only, and
			// asking for another namespace finds nothing.
			pol := security.NewPolicy()
			reader, _ := security.NewPKR("reader-pk", nil)
			if err := pol.Apply(reader, security.Profile{Name: "alpha",
				Scopes: map[string]string{"storage://namespace/alpha": "r"}}); err != nil {
				t.Fatal(err)
			}
			sec := security.NewStore(src, pol)
			pctx := security.WithPrincipal(ctx, reader)
			buf.Reset()
			st, err = dump.ExportStore(pctx, sec, &buf, dump.ExportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var alpha int64
			for _, e := range want.entries {
				if e.Namespace == "alpha" {
					alpha++
				}
			}
			if st.Namespaces != 1 || st.Entries != alpha {
				t.Fatalf("reader's stats %+v, want 1 namespace and %d entries", st, alpha)
			}
			if strings.Contains(buf.String(), `"namespace":"beta"`) {
				t.Fatal("the reader's export holds an entry of beta")
			}
			_, err = dump.ExportStore(pctx, sec, &buf, dump.ExportOptions{Namespace: "beta"})
			if !errors.Is(err, storage.ErrNamespaceNotFound) {
				t.Fatalf("export of beta by a reader of alpha: %v, want ErrNamespaceNotFound", err)
			}
		})
	}
}
