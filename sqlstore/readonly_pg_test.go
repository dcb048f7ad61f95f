package sqlstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
)

// TestPostgresReadOnlyServer: a server that refuses writes (SQLSTATE 25006:
// a standby, a primary being demoted during a failover, or
// default_transaction_read_only) answers every write with ErrUnavailable,
// which RunInTx retries and which says nothing was written, never with the
// driver's error; reads go on.
func TestPostgresReadOnlyServer(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewSchema(t, "ro")
	rw, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if err := rw.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(ctx, dsn+"&default_transaction_read_only=on", WithoutMigrate())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()

	if _, err := ro.Get(ctx, "k"); err != nil {
		t.Fatalf("a read on a read-only server: %v", err)
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s on a read-only server: %v, want ErrUnavailable", what, err)
		}
		if err != nil && strings.Contains(err.Error(), "SQLSTATE") {
			t.Errorf("%s: the driver's text reaches the caller: %v", what, err)
		}
	}
	check("Set", ro.Set(ctx, "k", 2))
	check("Delete", ro.Delete(ctx, "k"))
	_, err = ro.SetMany(ctx, []storage.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}}, storage.Atomic())
	check("SetMany", err)
	tx, err := ro.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("Tx.Set", tx.Set(ctx, "k", 3))
	_ = tx.Rollback(ctx)

	if e, err := rw.Get(ctx, "k"); err != nil || string(e.Value) != "1" {
		t.Fatalf("after the refused writes: %s, %v", e.Value, err)
	}
}
