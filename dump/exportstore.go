package dump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mycelia-kernel/storage"
)

// ExportStore writes what s lets its caller read to w, in the same format
// as Export: every namespace ListNamespaces returns, or o.Namespace alone.
// It works on any storage.Store, so an authorizing store (package security)
// decides what goes into the file: a caller's export holds exactly the
// namespaces and entries that caller may read. Export reads a
// *sqlstore.Store directly and is much faster; ExportStore is for callers
// that act as a principal, such as the web console.
//
// It reads inside one read-only transaction (repeatable read) when s has
// transactions and lets the caller begin one, so the entries are those of
// one snapshot; otherwise (no transactions, or an authorizing store that
// denies the caller storage://transactions) each page is read on its own. Entries are read by Query pages of o.PageSize
// (0: 500) in key order, and each entry's audit actors by one GetMetadata
// in the same transaction, so an export costs a statement per entry. A
// namespace that is missing, or that the caller may not read, is
// storage.ErrNamespaceNotFound. On error the output lacks its trailer.
func ExportStore(ctx context.Context, s storage.Store, w io.Writer, o ExportOptions) (Stats, error) {
	nss, err := s.ListNamespaces(ctx)
	if err != nil {
		return Stats{}, err
	}
	if o.Namespace != "" {
		var one []storage.Namespace
		for _, n := range nss {
			if n.Name == o.Namespace {
				one = append(one, n)
			}
		}
		if len(one) == 0 {
			return Stats{}, fmt.Errorf("dump: export of %q: %w", o.Namespace, storage.ErrNamespaceNotFound)
		}
		nss = one
	}
	status, err := s.Status(ctx)
	if err != nil {
		return Stats{}, err
	}
	var ops storage.Ops = s
	if s.Capabilities().Transactions {
		tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true, Isolation: storage.LevelRepeatableRead})
		switch {
		case err == nil:
			defer func() { _ = tx.Rollback(ctx) }()
			ops = tx
		case !errors.Is(err, storage.ErrPermissionDenied):
			return Stats{}, err
		}
	}
	counts := make([]int64, len(nss))
	var total int64
	for i, n := range nss {
		if counts[i], err = ops.Count(ctx, storage.InNamespace(n.Name)); err != nil {
			return Stats{}, err
		}
		total += counts[i]
	}
	if o.PageSize <= 0 {
		o.PageSize = defaultStorePageSize
	}
	nw, err := newNDJSONWriter(w, status, o, total)
	if err != nil {
		return Stats{}, err
	}
	for i, n := range nss {
		if err := exportNamespace(ctx, ops, nw, n, counts[i]); err != nil {
			nw.abandon()
			return nw.st, err
		}
	}
	return nw.finish()
}

// defaultStorePageSize is ExportStore's page size when o.PageSize is 0.
const defaultStorePageSize = 500

// exportNamespace writes n's line and its entries.
func exportNamespace(ctx context.Context, ops storage.Ops, nw *ndjsonWriter, n storage.Namespace, count int64) error {
	md := n.Metadata
	if md == nil {
		md = map[string]any{}
	}
	mdJSON, err := json.Marshal(md)
	if err != nil {
		return fmt.Errorf("dump: metadata of namespace %q: %w", n.Name, err)
	}
	if err := nw.namespace(namespaceLine{Type: typeNamespace, Name: n.Name, Metadata: mdJSON,
		CreatedAt: n.CreatedAt.UTC(), Indexes: n.Indexes, Entries: count}); err != nil {
		return err
	}
	in := storage.InNamespace(n.Name)
	line := entryLine{Type: typeEntry, Namespace: n.Name}
	cursor := ""
	for {
		opts := []storage.Option{in, storage.Limit(nw.o.PageSize)}
		if cursor != "" {
			opts = append(opts, storage.After(cursor))
		}
		page, err := ops.Query(ctx, storage.All(), opts...)
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			m, err := ops.GetMetadata(ctx, e.Key, in)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			line.Key, line.Value, line.Metadata = e.Key, e.Value, e.Metadata
			line.Version, line.CreatedAt, line.UpdatedAt = e.Version, e.CreatedAt.UTC(), e.UpdatedAt.UTC()
			line.CreatedBy, line.UpdatedBy = m.CreatedBy, m.UpdatedBy
			line.ExpiresAt = nil
			if !e.ExpiresAt.IsZero() {
				exp := e.ExpiresAt.UTC()
				line.ExpiresAt = &exp
			}
			if err := nw.entry(&line); err != nil {
				return err
			}
		}
		if page.Cursor == "" {
			return nil
		}
		cursor = page.Cursor
	}
}
