package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestWatchStreamsServerWide: MaxStreams bounds the streams of all
// principals together, where MaxStreamsPerPrincipal alone let every
// principal hold its own bound, so that many principals together held as
// many streams (connections, goroutines, watch buffers) as they liked. The
// stream beyond is refused before it starts, 503 unavailable with a
// Retry-After, though its principal is under its own bound; one that ends
// makes room again.
func TestWatchStreamsServerWide(t *testing.T) {
	s := newHostileServer(t, testdb.SQLiteFile(t), httpapi.Config{MaxStreamsPerPrincipal: 2, MaxStreams: 3})
	body := `{"options":{"namespace":"shared"}}`
	var open []context.CancelFunc
	defer func() {
		for _, c := range open {
			c()
		}
	}()
	for i, tok := range []string{hAlice, hAlice, hBob} {
		st, env, cancel := s.openWatch(t, tok, body)
		if st != 200 || !env.Success {
			t.Fatalf("watch %d = %d %+v", i+1, st, env.Error)
		}
		open = append(open, cancel)
	}
	resp, cancel := s.watchRequest(t, hBob, body)
	data, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	cancel()
	var env envelope
	_ = json.Unmarshal(data, &env)
	if resp.StatusCode != 503 || env.code() != httpapi.CodeUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("bob's watch beyond the server's bound = %d %s (Retry-After %q); want 503 %s with a Retry-After",
			resp.StatusCode, data, resp.Header.Get("Retry-After"), httpapi.CodeUnavailable)
	}
	// A stream that ends makes room (once the server has seen it go).
	open[0]()
	open = open[1:]
	open = append(open, s.openWatchSoon(t, hBob, body))
}
