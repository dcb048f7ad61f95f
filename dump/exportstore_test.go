package dump_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
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

// pagedLister records the pages ListNamespaces is asked for.
type pagedLister struct {
	storage.Store
	limits  []int
	largest int
}

func (p *pagedLister) ListNamespaces(ctx context.Context, opts ...storage.Option) ([]storage.Namespace, error) {
	pg, err := driver.ResolveNamespacePage(opts)
	if err != nil {
		return nil, err
	}
	p.limits = append(p.limits, pg.Limit)
	nss, err := p.Store.ListNamespaces(ctx, opts...)
	p.largest = max(p.largest, len(nss))
	return nss, err
}

// TestExportStorePagesNamespaces: ExportStore lists the namespaces by
// ListNamespaces pages of PageSize (it listed them all at once, and held
// them), with more namespaces than a page, for the whole store and for
// one namespace on a later page, with and without progress.
func TestExportStorePagesNamespaces(t *testing.T) {
	ctx := context.Background()
	src := teststore.Open(t, backends[0].DSN(t))
	var names []string
	for i := range 7 {
		n := fmt.Sprintf("ns%d", i)
		names = append(names, n)
		for k := range 2 {
			if err := src.Set(ctx, fmt.Sprint("k", k), i, storage.InNamespace(n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, o := range []dump.ExportOptions{{PageSize: 3}, {PageSize: 3, Progress: func(dump.Progress) {}}, {PageSize: 3, Namespace: "ns5"}} {
		pl := &pagedLister{Store: src}
		var buf bytes.Buffer
		st, err := dump.ExportStore(ctx, pl, &buf, o)
		if err != nil {
			t.Fatal(err)
		}
		wantNS, wantEntries := int64(len(names)), int64(2*len(names))
		if o.Namespace != "" {
			wantNS, wantEntries = 1, 2
		}
		if st.Namespaces < wantNS || st.Entries < wantEntries { // the default namespace too, when it exists
			t.Errorf("%+v: stats %+v, want %d namespaces and %d entries", o, st, wantNS, wantEntries)
		}
		if len(pl.limits) < 2 || pl.largest > 3 || slices.ContainsFunc(pl.limits, func(l int) bool { return l != 3 }) {
			t.Errorf("%+v: ListNamespaces limits %v, largest page %d; want pages of 3", o, pl.limits, pl.largest)
		}
	}
}
