package teststore_test

import (
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

func TestHarnessOptions(t *testing.T) {
	var opened *sqlstore.Store
	h := teststore.Harness("x", func(t *testing.T, opts ...sqlstore.Option) storage.Store {
		opened = teststore.Open(t, testdb.SQLiteMemory(t), opts...)
		return opened
	})
	if h.Name != "x" || !h.Supports.Capacity || !h.Supports.MaxValueSize {
		t.Fatalf("Harness = %+v", h)
	}
	st := h.New(t, storetest.Config{Capacity: 1, MaxValueSize: 16})
	if st != opened {
		t.Fatal("Harness.New did not return newStore's store")
	}
	ctx := t.Context()
	if err := st.Set(ctx, "big", "0123456789abcdefghij"); !errors.Is(err, storage.ErrValueTooLarge) {
		t.Errorf("Set over MaxValueSize = %v, want ErrValueTooLarge", err)
	}
	if err := st.Set(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, "b", 1); !errors.Is(err, storage.ErrCapacityExceeded) {
		t.Errorf("Set over Capacity = %v, want ErrCapacityExceeded", err)
	}
	if n := len(teststore.Options(storetest.Config{})); n != 1 {
		t.Errorf("Options of a zero Config: %d options, want 1 (capacity 0: none)", n)
	}
}

func TestGrantAll(t *testing.T) {
	inner := teststore.Open(t, testdb.SQLiteMemory(t))
	st := security.NewStore(inner, teststore.GrantAll(t), security.AllowAnonymous())
	ctx := t.Context()
	if err := st.CreateNamespace(ctx, "users"); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, "k", 1, storage.InNamespace("users")); err != nil {
		t.Errorf("anonymous Set under GrantAll: %v", err)
	}
	denied := security.NewStore(inner, security.NewPolicy(), security.AllowAnonymous())
	if err := denied.Set(ctx, "k", 1, storage.InNamespace("users")); !errors.Is(err, storage.ErrPermissionDenied) {
		t.Errorf("anonymous Set without a grant = %v, want ErrPermissionDenied", err)
	}
}
