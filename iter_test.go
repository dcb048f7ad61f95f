package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// pagedOps serves List and Query from a sorted key list with cursors, and
// records the options of each call, as a store would see them.
type pagedOps struct {
	storage.Ops
	keys  []string
	calls [][]storage.Option
	fail  int // the call that fails, 1-based; 0: none
}

func (p *pagedOps) page(opts []storage.Option) ([]string, string, error) {
	p.calls = append(p.calls, opts)
	if p.fail == len(p.calls) {
		return nil, "", errors.New("boom")
	}
	limit, start := -1, 0
	for _, o := range opts {
		switch o.Kind() {
		case driver.KindLimit, driver.KindCursor, driver.KindOffset:
		default:
			continue
		}
		c, err := driver.ResolveOptions("list", o.Kind(), []storage.Option{o})
		if err != nil {
			return nil, "", err
		}
		switch o.Kind() {
		case driver.KindLimit:
			limit = c.Limit
		case driver.KindCursor:
			start = slices.Index(p.keys, c.Cursor) + 1
		case driver.KindOffset:
			start += c.Offset
		}
	}
	rest := p.keys[min(start, len(p.keys)):]
	if limit >= 0 && len(rest) > limit {
		return rest[:limit], rest[limit-1], nil
	}
	return rest, "", nil
}

func (p *pagedOps) List(_ context.Context, opts ...storage.Option) (storage.ListResult, error) {
	keys, cur, err := p.page(opts)
	return storage.ListResult{Keys: keys, Cursor: cur}, err
}

func (p *pagedOps) Query(_ context.Context, _ storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	keys, cur, err := p.page(opts)
	var es []storage.Entry
	for _, k := range keys {
		es = append(es, storage.Entry{Key: k})
	}
	return storage.QueryResult{Entries: es, Cursor: cur}, err
}

func keysOf(n int) []string {
	var ks []string
	for i := range n {
		ks = append(ks, fmt.Sprintf("k%04d", i))
	}
	return ks
}

func TestListAllPages(t *testing.T) {
	ctx := context.Background()
	p := &pagedOps{keys: keysOf(25)}
	var got []string
	for k, err := range storage.ListAll(ctx, p, storage.Limit(10), storage.Offset(2)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if want := p.keys[2:]; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(p.calls) != 3 {
		t.Errorf("%d calls, want 3 pages of 10", len(p.calls))
	}
	for i, c := range p.calls[1:] {
		for _, o := range c {
			if o.Kind() == driver.KindOffset {
				t.Errorf("page %d repeats the offset", i+2)
			}
		}
	}

	// Without Limit the page size is DefaultPageSize; breaking out stops.
	p = &pagedOps{keys: keysOf(2*storage.DefaultPageSize + 1)}
	n := 0
	for _, err := range storage.ListAll(ctx, p) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == storage.DefaultPageSize+1 {
			break
		}
	}
	if len(p.calls) != 2 {
		t.Errorf("break after the first row of page 2: %d calls, want 2", len(p.calls))
	}
}

func TestQueryAllYieldsTheErrorOnce(t *testing.T) {
	p := &pagedOps{keys: keysOf(5), fail: 2}
	var keys []string
	var errs int
	for e, err := range storage.QueryAll(context.Background(), p, storage.All(), storage.Limit(2)) {
		if err != nil {
			errs++
			continue
		}
		keys = append(keys, e.Key)
	}
	if errs != 1 || !slices.Equal(keys, p.keys[:2]) {
		t.Errorf("keys %v, %d errors; want the first page then one error", keys, errs)
	}
}
