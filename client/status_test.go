package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// downStore is a store whose database cannot be reached: its Status is
// the engine's then, healthy false beside ErrUnavailable.
type downStore struct{ storage.Store }

func (downStore) Status(context.Context) (storage.Status, error) {
	return storage.Status{Dialect: "postgres", Capacity: 7}, &storage.OpError{Op: "status", Err: storage.ErrUnavailable}
}

// TestStatusUnhealthy: the client's Status of a server whose database is
// down returns the status the wire carries (healthy false) beside
// ErrUnavailable, as the engine's Status returns Healthy false with its
// error; a healthy server's is healthy with no error.
func TestStatusUnhealthy(t *testing.T) {
	inner, err := sqlstore.Open(t.Context(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	_, c := serve(t, downStore{inner})
	defer c.Close()
	st, err := c.Status(t.Context())
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Status of a server whose database is down: %v, want ErrUnavailable", err)
	}
	if st.Healthy || st.Dialect != "" || st.Capacity != 0 {
		t.Errorf("Status = %+v beside its error, want healthy false (the wire carries nothing else then)", st)
	}
	_, ok := serve(t, inner)
	defer ok.Close()
	if st, err := ok.Status(t.Context()); err != nil || !st.Healthy || st.Dialect != "sqlite" {
		t.Errorf("Status of a healthy server = %+v, %v", st, err)
	}
}
