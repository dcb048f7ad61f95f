package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestLocalOptionsRefusedAsTheEngineDoes: Written and OnStart have no
// field on the wire (the client fills the one and calls the other itself),
// so the server never sees them and cannot refuse them. The client passed
// them over on every operation: Written given to Get, Clear, SetMany or
// DeleteMany, OnStart given to any operation but Watch, was ignored where
// the engine answers ErrInvalidOption. Now the client refuses them as the
// engine does, on the operations that do not take them.
func TestLocalOptionsRefusedAsTheEngineDoes(t *testing.T) {
	ctx := context.Background()
	eng, cl := engineAndClient(t)
	if err := eng.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	var w storage.WriteResult
	calls := map[string]func(s storage.Store, o storage.Option) error{
		"get":     func(s storage.Store, o storage.Option) error { _, err := s.Get(ctx, "k", o); return err },
		"has":     func(s storage.Store, o storage.Option) error { _, err := s.Has(ctx, "k", o); return err },
		"getMany": func(s storage.Store, o storage.Option) error { _, err := s.GetMany(ctx, []string{"k"}, o); return err },
		"setMany": func(s storage.Store, o storage.Option) error {
			_, err := s.SetMany(ctx, []storage.Item{{Key: "k", Value: 1}}, o)
			return err
		},
		"deleteMany": func(s storage.Store, o storage.Option) error {
			_, err := s.DeleteMany(ctx, []string{"absent"}, o)
			return err
		},
		"getMetadata": func(s storage.Store, o storage.Option) error { _, err := s.GetMetadata(ctx, "k", o); return err },
		"clear": func(s storage.Store, o storage.Option) error {
			return s.Clear(ctx, storage.InNamespace("nothing-here"), o)
		},
		"list":  func(s storage.Store, o storage.Option) error { _, err := s.List(ctx, o); return err },
		"query": func(s storage.Store, o storage.Option) error { _, err := s.Query(ctx, storage.Filter{}, o); return err },
		"count": func(s storage.Store, o storage.Option) error { _, err := s.Count(ctx, o); return err },
		"set":   func(s storage.Store, o storage.Option) error { return s.Set(ctx, "k", 1, o) },
	}
	for name, call := range calls {
		for _, o := range []struct {
			name string
			opt  storage.Option
		}{{"Written", storage.Written(&w)}, {"OnStart", storage.OnStart(func(int64) {})}} {
			if name == "set" && o.name == "Written" {
				continue // Set takes it
			}
			for _, s := range []struct {
				name string
				st   storage.Store
			}{{"engine", eng}, {"client", cl}} {
				if err := call(s.st, o.opt); !errors.Is(err, storage.ErrInvalidOption) {
					t.Errorf("%s: %s with %s: %v, want ErrInvalidOption", s.name, name, o.name, err)
				}
			}
		}
	}
	// The operations that take Written still do.
	w = storage.WriteResult{}
	if err := cl.Set(ctx, "k", 2, storage.Written(&w)); err != nil || w.Revision == 0 {
		t.Errorf("client: Set with Written: %v, %+v", err, w)
	}
}

// TestDeleteManyTakesNoCondition: DeleteMany has no compare-and-delete
// (storage.Ops documents it): IfVersion and IfRevision are ErrInvalidOption
// in process and over the wire, and nothing is deleted.
func TestDeleteManyTakesNoCondition(t *testing.T) {
	ctx := context.Background()
	eng, cl := engineAndClient(t)
	var w storage.WriteResult
	if err := eng.Set(ctx, "k", 1, storage.Written(&w)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name string
		st   storage.Store
	}{{"engine", eng}, {"client", cl}} {
		for _, o := range []storage.Option{storage.IfRevision(w.Revision), storage.IfVersion(w.Version)} {
			if _, err := s.st.DeleteMany(ctx, []string{"k"}, o); !errors.Is(err, storage.ErrInvalidOption) {
				t.Errorf("%s: DeleteMany with %v: %v, want ErrInvalidOption", s.name, o.Kind(), err)
			}
		}
	}
	if ok, err := eng.Has(ctx, "k"); !ok || err != nil {
		t.Errorf("k after the refused DeleteMany calls: %v %v", ok, err)
	}
}

// engineAndClient returns a store in a private in-memory SQLite database
// and a client over it, both closed when t ends.
func engineAndClient(t *testing.T) (*sqlstore.Store, *client.Store) {
	t.Helper()
	eng, err := sqlstore.Open(context.Background(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	_, cl := serve(t, eng)
	t.Cleanup(func() { _ = cl.Close() })
	return eng, cl
}
