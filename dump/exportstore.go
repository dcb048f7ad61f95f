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
// denies the caller storage://transactions) each page is read on its own.
// Namespaces are listed by ListNamespaces pages (Limit and After) and
// entries read by Query pages, both of o.PageSize (0: 500) in name and key
// order, so memory does not grow with the number of namespaces or entries;
// each entry's audit actors come from one GetMetadata in the same
// transaction, so an export costs a statement per entry. With o.Progress,
// the namespaces are listed and counted once before the export, for the
// progress' total. A namespace that is missing, or that the caller may not
// read, is storage.ErrNamespaceNotFound. On error the output lacks its
// trailer.
func ExportStore(ctx context.Context, s storage.Store, w io.Writer, o ExportOptions) (Stats, error) {
	if o.PageSize <= 0 {
		o.PageSize = defaultStorePageSize
	}
	var only *storage.Namespace
	if o.Namespace != "" {
		err := eachNamespacePage(ctx, s, o.PageSize, func(page []storage.Namespace) (bool, error) {
			for _, n := range page {
				if n.Name == o.Namespace {
					only = &n
				}
				if n.Name >= o.Namespace {
					return false, nil // in name order: it is not further on
				}
			}
			return true, nil
		})
		if err != nil {
			return Stats{}, err
		}
		if only == nil {
			return Stats{}, fmt.Errorf("dump: export of %q: %w", o.Namespace, storage.ErrNamespaceNotFound)
		}
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
	// each calls fn with every namespace to export, a page at a time.
	each := func(fn func(storage.Namespace) error) error {
		if only != nil {
			return fn(*only)
		}
		return eachNamespacePage(ctx, s, o.PageSize, func(page []storage.Namespace) (bool, error) {
			for _, n := range page {
				if err := fn(n); err != nil {
					return false, err
				}
			}
			return true, nil
		})
	}
	var total int64
	if o.Progress != nil {
		err := each(func(n storage.Namespace) error {
			c, err := ops.Count(ctx, storage.InNamespace(n.Name))
			total += c
			return err
		})
		if err != nil {
			return Stats{}, err
		}
	}
	nw, err := newNDJSONWriter(w, status, o, total)
	if err != nil {
		return Stats{}, err
	}
	err = each(func(n storage.Namespace) error {
		count, err := ops.Count(ctx, storage.InNamespace(n.Name))
		if err != nil {
			return err
		}
		return exportNamespace(ctx, ops, nw, n, count)
	})
	if err != nil {
		nw.abandon()
		return nw.st, err
	}
	return nw.finish()
}

// eachNamespacePage calls fn with each page of s's namespaces, in name
// order, read by ListNamespaces with Limit(size) and After the last name of
// the page before, until fn returns false or an error, or no more remain.
func eachNamespacePage(ctx context.Context, s storage.Store, size int, fn func([]storage.Namespace) (bool, error)) error {
	after := ""
	for {
		opts := []storage.Option{storage.Limit(size)}
		if after != "" {
			opts = append(opts, storage.After(after))
		}
		page, err := s.ListNamespaces(ctx, opts...)
		if err != nil {
			return err
		}
		if len(page) > 0 {
			more, err := fn(page)
			if err != nil || !more {
				return err
			}
		}
		if len(page) < size {
			return nil
		}
		after = page[len(page)-1].Name
	}
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
