package routes_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/routes"
)

// TestWatchReceiverGoneAtHead: a stream whose receiver is gone when the
// head is sent (emit fails) ends at once, without waiting for an event
// of a store that may stay quiet for hours: before, the watch, its
// goroutine and its buffer stayed until the next change.
func TestWatchReceiverGoneAtHead(t *testing.T) {
	m, _ := newMux(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	lines := 0
	go func() {
		defer close(done)
		resp, err := m.Stream(ctx, routes.RouteWatch, []byte(`{}`), func([]byte) error {
			lines++
			return errors.New("the receiver is gone")
		})
		if resp != nil || err != nil {
			t.Errorf("stream: %s, %v", resp, err)
		}
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the stream of a receiver gone at its head still runs after 3s")
	}
	if lines != 1 {
		t.Errorf("%d lines emitted, want the head only", lines)
	}
}
