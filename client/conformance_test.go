package client_test

import (
	"context"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// harness runs the suite through client → Mux → routes → sqlstore.
func harness(c testConfig) storetest.Harness {
	return storetest.Harness{
		Name: c.name + "+client",
		New: func(t *testing.T, cfg storetest.Config) storage.Store {
			opts := []sqlstore.Option{sqlstore.WithCapacity(cfg.Capacity)}
			if cfg.MaxValueSize > 0 {
				opts = append(opts, sqlstore.WithMaxValueSize(cfg.MaxValueSize))
			}
			_, cl := serve(t, openEngine(t, c.dsn(t), opts...))
			return cl
		},
		Supports: storetest.Supports{Capacity: true, MaxValueSize: true},
	}
}

func TestConformance(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) { storetest.Run(t, harness(c)) })
	}
}

// txStore runs every data operation of the suite in a transaction of its
// own, begun, committed and rolled back through the client.
type txStore struct{ *client.Store }

func inTx[T any](s *client.Store, ctx context.Context, fn func(tx storage.Tx) (T, error)) (T, error) {
	var zero T
	tx, err := s.Begin(ctx, storage.TxOptions{})
	if err != nil {
		return zero, err
	}
	v, err := fn(tx)
	if err != nil {
		_ = tx.Rollback(ctx)
		return v, err
	}
	if err := tx.Commit(ctx); err != nil {
		return zero, err
	}
	return v, nil
}

type none struct{}

func (s txStore) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.Entry, error) { return tx.Get(ctx, key, opts...) })
}

func (s txStore) Set(ctx context.Context, key string, value any, opts ...storage.Option) error {
	_, err := inTx(s.Store, ctx, func(tx storage.Tx) (none, error) { return none{}, tx.Set(ctx, key, value, opts...) })
	return err
}

func (s txStore) Delete(ctx context.Context, key string, opts ...storage.Option) error {
	_, err := inTx(s.Store, ctx, func(tx storage.Tx) (none, error) { return none{}, tx.Delete(ctx, key, opts...) })
	return err
}

func (s txStore) Has(ctx context.Context, key string, opts ...storage.Option) (bool, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (bool, error) { return tx.Has(ctx, key, opts...) })
}

func (s txStore) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.GetManyResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.GetManyResult, error) { return tx.GetMany(ctx, keys, opts...) })
}

func (s txStore) SetMany(ctx context.Context, items []storage.Item, opts ...storage.Option) (storage.BatchResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.BatchResult, error) { return tx.SetMany(ctx, items, opts...) })
}

func (s txStore) DeleteMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.BatchResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.BatchResult, error) { return tx.DeleteMany(ctx, keys, opts...) })
}

func (s txStore) GetMetadata(ctx context.Context, key string, opts ...storage.Option) (storage.Metadata, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.Metadata, error) { return tx.GetMetadata(ctx, key, opts...) })
}

func (s txStore) SetMetadata(ctx context.Context, key string, md map[string]any, opts ...storage.Option) error {
	_, err := inTx(s.Store, ctx, func(tx storage.Tx) (none, error) { return none{}, tx.SetMetadata(ctx, key, md, opts...) })
	return err
}

func (s txStore) Clear(ctx context.Context, opts ...storage.Option) error {
	_, err := inTx(s.Store, ctx, func(tx storage.Tx) (none, error) { return none{}, tx.Clear(ctx, opts...) })
	return err
}

func (s txStore) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.ListResult, error) { return tx.List(ctx, opts...) })
}

func (s txStore) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.QueryResult, error) { return tx.Query(ctx, f, opts...) })
}

func (s txStore) Count(ctx context.Context, opts ...storage.Option) (int64, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (int64, error) { return tx.Count(ctx, opts...) })
}

// TestConformanceInTx runs the suite with every data operation inside a
// transaction driven by messages.
func TestConformanceInTx(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			h := harness(c)
			newStore := h.New
			h.New = func(t *testing.T, cfg storetest.Config) storage.Store {
				return txStore{newStore(t, cfg).(*client.Store)}
			}
			storetest.Run(t, h)
		})
	}
}

// TestConformanceSecurity runs the suite through client → routes →
// security.NewStore (anonymous callers granted everything) → sqlstore: the
// authorizing layer and the message boundary together stay transparent.
func TestConformanceSecurity(t *testing.T) {
	c := configs[0] // sqlite-memory: the other configurations add nothing here
	storetest.Run(t, storetest.Harness{
		Name: c.name + "+security+client",
		New: func(t *testing.T, cfg storetest.Config) storage.Store {
			opts := []sqlstore.Option{sqlstore.WithCapacity(cfg.Capacity)}
			if cfg.MaxValueSize > 0 {
				opts = append(opts, sqlstore.WithMaxValueSize(cfg.MaxValueSize))
			}
			pol := security.NewPolicy()
			if err := pol.ApplyAnonymous(security.Profile{Name: "all", Scopes: map[string]string{
				"storage://namespace/*": "rw",
				"principal://*":         "rw",
			}}); err != nil {
				t.Fatal(err)
			}
			_, cl := serve(t, security.NewStore(openEngine(t, c.dsn(t), opts...), pol, security.AllowAnonymous()))
			return cl
		},
		Supports: storetest.Supports{Capacity: true, MaxValueSize: true},
	})
}
