package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestWatchBufferBytes: a watch stream whose client stops reading holds
// at most --watch-buffer-bytes of events in the server (besides what the
// sockets hold), then is cut off with watch_lagged. The server used the
// engine's default, 64 MiB per watch: with 16 streams per principal, one
// principal's stalled streams could hold 1 GiB. 32 MiB of events written
// behind a stalled stream all arrived later, none was cut.
func TestWatchBufferBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildServer(t)
	s := start(t, bin, "--dsn", "sqlite:"+t.TempDir()+"/w.db", "--insecure-anonymous")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/storage/watch",
		strings.NewReader(`{"options":{"namespace":"w"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 1<<20)
	if head, err := br.ReadBytes('\n'); err != nil || resp.StatusCode != 200 {
		t.Fatalf("watch: %d %q %v", resp.StatusCode, head, err)
	}
	// The stream is not read while 128 values of 256 KiB are written.
	anon := s.client(t, "")
	pad := strings.Repeat("x", 256<<10)
	const n = 128
	for i := range n {
		if err := anon.Set(t.Context(), fmt.Sprintf("k%03d", i), map[string]any{"pad": pad}, storage.InNamespace("w")); err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
	}
	time.Sleep(3 * time.Second) // past the engine's patience with a full buffer
	events, lagged := 0, false
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // a keep-alive: the writes took longer than its interval
		}
		var ev struct {
			Type  string `json:"type"`
			Error *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(line, &ev) != nil {
			t.Fatalf("line %.100q", line)
		}
		if ev.Error != nil {
			lagged = ev.Error.Code == "watch_lagged"
			if !lagged {
				t.Fatalf("stream error %q, want watch_lagged", ev.Error.Code)
			}
			break
		}
		if ev.Type == "put" {
			if events++; events == n {
				break
			}
		}
	}
	if !lagged {
		t.Fatalf("a stalled stream got all %d events (%d MiB) later: the server held them for it", events, n/4)
	}
	t.Logf("cut off with watch_lagged after %d of %d events", events, n)
}
