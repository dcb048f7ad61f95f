package sqlstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestChaosClose is TestChaos while the store is closed at a random point
// of the run: every call that overlaps or follows Close fails with
// ErrClosed (a transaction's call with ErrTxDone, Close rolled it back),
// or succeeds, or fails with a race's sentinel; never with the driver's
// text, internal, or a panic.
func TestChaosClose(t *testing.T) {
	chaosConfigs(t, func(t *testing.T, _ string, s *Store) {
		allowed := append(slices.Clone(chaosAllowed), storage.ErrClosed, storage.ErrTxDone)
		d := 1500 * time.Millisecond
		log := chaos(t, []*Store{s}, d, allowed, func(ctx context.Context) {
			select {
			case <-time.After(d/5 + time.Duration(rand.Int64N(int64(d/2)))):
			case <-ctx.Done():
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		log.report(t)
		// The run's calls may all have ended with their contexts on a
		// loaded machine before one saw the store closed: a call made now
		// must see it.
		if _, err := s.Get(context.Background(), "k"); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("a get after Close = %v, want ErrClosed", err)
		}
	})
}
