package storage

import (
	"context"
	"iter"

	"github.com/mycelia-kernel/storage/driver"
)

// DefaultPageSize is the page size of ListAll and QueryAll when no Limit
// option is given.
const DefaultPageSize = 1000

// ListAll returns every key that List returns with opts, across all pages,
// as an iterator:
//
//	for key, err := range storage.ListAll(ctx, s, storage.Pattern("user:*")) {
//		if err != nil { ... }
//		...
//	}
//
// It reads page by page with cursors (keyset pagination), so it holds one
// page in memory and stays correct when keys are inserted or deleted while
// it runs: a key present throughout is yielded exactly once. Limit in opts
// sets the page size (default DefaultPageSize), not the total; After starts
// after a cursor and Offset skips results of the first page only. An error
// is yielded once, with the zero key, and ends the iteration; breaking out
// of the loop stops reading.
func ListAll(ctx context.Context, o Ops, opts ...Option) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		opts, later := pageOptions(opts)
		for {
			res, err := o.List(ctx, opts...)
			if err != nil {
				yield("", err)
				return
			}
			for _, k := range res.Keys {
				if !yield(k, nil) {
					return
				}
			}
			if res.Cursor == "" {
				return
			}
			opts = append(later[:len(later):len(later)], After(res.Cursor))
		}
	}
}

// QueryAll returns every entry that Query returns for f with opts, across
// all pages, as an iterator; see ListAll for paging, Limit, After, Offset
// and errors. The order is Query's (SortBy, else key order).
func QueryAll(ctx context.Context, o Ops, f Filter, opts ...Option) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		opts, later := pageOptions(opts)
		for {
			res, err := o.Query(ctx, f, opts...)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, e := range res.Entries {
				if !yield(e, nil) {
					return
				}
			}
			if res.Cursor == "" {
				return
			}
			opts = append(later[:len(later):len(later)], After(res.Cursor))
		}
	}
}

// pageOptions returns the options of the first page (the caller's, with a
// page size when they have none) and the base of the later ones (the same
// less After and Offset), to which each page adds After(cursor).
func pageOptions(opts []Option) (first, later []Option) {
	sized := false
	for _, o := range opts {
		switch o.Kind() {
		case driver.KindLimit:
			sized = true
		case driver.KindCursor, driver.KindOffset:
			continue
		}
		later = append(later, o)
	}
	first = opts
	if !sized {
		first = append(opts[:len(opts):len(opts)], Limit(DefaultPageSize))
		later = append(later, Limit(DefaultPageSize))
	}
	return first, later
}
