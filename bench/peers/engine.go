package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Namespace holds every system's dataset; Namespace2 the engine's second
// dataset (twoFields).
const (
	Namespace  = "peers"
	Namespace2 = "peers2"
)

// engineSys is the storage engine (sqlstore) on SQLite or PostgreSQL.
type engineSys struct {
	name, durability string
	s                *sqlstore.Store
	in, in2          storage.Option
	path             string // SQLite file, "" on PostgreSQL
	schema           string // PostgreSQL schema
}

func openEngine(ctx context.Context, name, durability, dsn, path, schema string) (*engineSys, error) {
	s, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	for ns, fields := range map[string][]string{Namespace: {"n"}, Namespace2: {"n", "t"}} {
		err = s.CreateNamespace(ctx, ns, storage.WithIndexes(fields...))
		if err != nil && !errors.Is(err, storage.ErrNamespaceExists) {
			_ = s.Close()
			return nil, err
		}
	}
	return &engineSys{name: name, durability: durability, s: s, in: storage.InNamespace(Namespace),
		in2: storage.InNamespace(Namespace2), path: path, schema: schema}, nil
}

func (e *engineSys) Name() string       { return e.name }
func (e *engineSys) Durability() string { return e.durability }

func rec(en storage.Entry) Rec { return Rec{Key: en.Key, Value: en.Value, Version: en.Version} }

func (e *engineSys) Get(ctx context.Context, key string) (Rec, bool, error) {
	en, err := e.s.Get(ctx, key, e.in)
	if errors.Is(err, storage.ErrNotFound) {
		return Rec{}, false, nil
	}
	return rec(en), err == nil, err
}

func (e *engineSys) Has(ctx context.Context, key string) (bool, error) {
	return e.s.Has(ctx, key, e.in)
}

func (e *engineSys) Set(ctx context.Context, key string, v []byte) error {
	return e.s.Set(ctx, key, json.RawMessage(v), e.in)
}

func recs(es []storage.Entry) []Rec {
	out := make([]Rec, len(es))
	for i, en := range es {
		out[i] = rec(en)
	}
	return out
}

func (e *engineSys) GetMany(ctx context.Context, keys []string) ([]Rec, error) {
	r, err := e.s.GetMany(ctx, keys, e.in)
	out := make([]Rec, 0, len(r.Entries))
	for _, en := range r.Entries {
		out = append(out, rec(en))
	}
	return out, err
}

func (e *engineSys) SetMany(ctx context.Context, keys []string, values [][]byte) error {
	return e.setMany(ctx, keys, values, e.in)
}

func (e *engineSys) SetMany2(ctx context.Context, keys []string, values [][]byte) error {
	return e.setMany(ctx, keys, values, e.in2)
}

func (e *engineSys) setMany(ctx context.Context, keys []string, values [][]byte, in storage.Option) error {
	items := make([]storage.Item, len(keys))
	for i, k := range keys {
		items[i] = storage.Item{Key: k, Value: json.RawMessage(values[i])}
	}
	res, err := e.s.SetMany(ctx, items, in)
	if err == nil {
		err = res.Err()
	}
	return err
}

func (e *engineSys) QueryEq(ctx context.Context, v int) ([]Rec, error) {
	r, err := e.s.Query(ctx, storage.Eq("n", v), e.in)
	return recs(r.Entries), err
}

func (e *engineSys) QueryTop(ctx context.Context, lo, hi, limit int) ([]Rec, error) {
	r, err := e.s.Query(ctx, storage.And(storage.Gte("n", lo), storage.Lt("n", hi)), e.in,
		storage.SortBy(storage.Desc("n")), storage.Limit(limit))
	return recs(r.Entries), err
}

func (e *engineSys) Count(ctx context.Context, lo, hi int) (int64, error) {
	return e.s.Count(ctx, e.in, storage.Where(storage.And(storage.Gte("n", lo), storage.Lt("n", hi))))
}

func (e *engineSys) ListPrefix(ctx context.Context, prefix string, limit int) ([]Rec, error) {
	r, err := e.s.List(ctx, e.in, storage.Pattern(prefix+"*"), storage.Limit(limit))
	if err != nil {
		return nil, err
	}
	out := make([]Rec, len(r.Keys))
	for i, k := range r.Keys {
		out[i] = Rec{Key: k}
	}
	return out, nil
}

func (e *engineSys) RMW(ctx context.Context, key string) error {
	tx, err := e.s.Begin(ctx, storage.TxOptions{})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	en, err := tx.Get(ctx, key, e.in)
	if err != nil {
		return err
	}
	b, err := bump(en.Value)
	if err != nil {
		return err
	}
	if err := tx.Set(ctx, key, json.RawMessage(b), e.in); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (e *engineSys) DiskBytes(ctx context.Context) (int64, error) {
	if e.path != "" {
		return fileBytes(e.path, e.path+"-wal")
	}
	return pgSchemaBytes(ctx, e.s.Backend().Pool, e.schema)
}

func (e *engineSys) Close() error { return e.s.Close() }

// fileBytes sums the sizes of the files that exist.
func fileBytes(paths ...string) (int64, error) {
	var n int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		n += st.Size()
	}
	return n, nil
}
