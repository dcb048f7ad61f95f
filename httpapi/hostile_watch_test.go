package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/routes"
)

// openWatch opens a watch stream as token and returns its status and,
// on a refusal, its envelope; a started stream's first line has been
// read, and cancel ends it.
func (s *testServer) openWatch(t testing.TB, token, body string) (int, envelope, context.CancelFunc) {
	t.Helper()
	resp, cancel := s.watchRequest(t, token, body) //nolint:bodyclose // closed on a refusal, or when the stream ends
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	if err != nil && resp.StatusCode == 200 {
		t.Fatalf("watch: %d, reading its head: %v", resp.StatusCode, err)
	}
	var env envelope
	if err := json.Unmarshal(line, &env); err != nil {
		t.Fatalf("watch: %d %q: %v", resp.StatusCode, line, err)
	}
	if resp.StatusCode != 200 {
		_ = resp.Body.Close()
		cancel()
		return resp.StatusCode, env, func() {}
	}
	return resp.StatusCode, env, func() { cancel(); _ = resp.Body.Close() }
}

// watchRequest sends a watch request as token; cancel ends it. The
// caller closes the response's body.
func (s *testServer) watchRequest(t testing.TB, token, body string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/storage/watch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.srv.Client().Do(req) //nolint:bodyclose // the caller's
	if err != nil {
		cancel()
		t.Fatalf("watch: %v", err)
	}
	return resp, cancel
}

// TestHostileWatchStreams: one principal may hold only so many watch
// streams open at once (each holds a goroutine, a connection and up to
// the engine's watch buffer): the next is refused, 429
// too_many_streams (it was 503 unavailable, which told clients to retry),
// while other principals still watch; closing one makes room again.
func TestHostileWatchStreams(t *testing.T) {
	const most = httpapi.DefaultMaxStreamsPerPrincipal
	s := newHostileServer(t, testdb.SQLiteFile(t), httpapi.Config{})
	body := `{"options":{"namespace":"shared"}}`
	var open []context.CancelFunc
	defer func() {
		for _, c := range open {
			c()
		}
	}()
	for i := range most {
		st, env, cancel := s.openWatch(t, hAlice, body)
		if st != 200 || !env.Success {
			t.Fatalf("alice's watch %d = %d %+v", i+1, st, env.Error)
		}
		open = append(open, cancel)
	}
	if st, env, _ := s.openWatch(t, hAlice, body); st != http.StatusTooManyRequests || env.code() != routes.CodeTooManyStreams {
		t.Errorf("alice's watch %d = %d %+v; want 429 %s", most+1, st, env.Error, routes.CodeTooManyStreams)
	}
	if st, env, cancel := s.openWatch(t, hBob, body); st != 200 || !env.Success {
		t.Errorf("bob's watch beside alice's = %d %+v", st, env.Error)
	} else {
		open = append(open, cancel)
	}
	// Closing one of alice's makes room (once the server has seen it go).
	open[0]()
	open = append(open, s.openWatchSoon(t, hAlice, body))
}

// openWatchSoon opens a watch as token once the server has room for it
// (a stream that just ended may still count for a moment), within 5
// seconds; the returned func ends it.
func (s *testServer) openWatchSoon(t testing.TB, token, body string) context.CancelFunc {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, env, cancel := s.openWatch(t, token, body)
		if st == 200 {
			return cancel
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch after one ended = %d %+v", st, env.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHostileStalledWatch: a client that opens a watch and never reads it
// cannot hold the stream (its goroutine, its connection and the engine's
// buffer of events) forever: a line the client does not take within
// Config.Timeout ends the stream and closes the connection.
func TestHostileStalledWatch(t *testing.T) {
	const timeout = 2 * time.Second
	s := newHostileServer(t, testdb.SQLiteFile(t), httpapi.Config{Timeout: timeout})
	body := `{"options":{"namespace":"shared"}}`
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/storage/watch HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		hAlice, len(body), body)
	// Read up to the stream's head, then stop reading.
	br := bufio.NewReaderSize(conn, 64)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, `"success":true`) {
			break
		}
	}
	// Far more than the socket buffers hold, far less than the engine's
	// watch buffer (so the engine never cuts the watch off as lagged).
	big := `{"key":"big","value":"` + strings.Repeat("x", 1<<20) + `","options":{"namespace":"shared"}}`
	for range 32 {
		s.must(t, "set", hBob, big)
	}
	time.Sleep(timeout + 3*time.Second)
	// Now read: a stream the server ended reaches its end; one it still
	// holds delivers everything, then waits for more.
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	rest, err := io.ReadAll(br)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a stream not read for %v is still open (%d bytes read after it, ending %q)", timeout+3*time.Second, len(rest), rest[max(0, len(rest)-300):])
	}
	t.Logf("the stalled stream ended: %d bytes after the stall, then %v", len(rest), err)
}

// TestHostileBytesInFlightPerPrincipal: one principal sending slow large
// bodies holds at most its share of Config.MaxBytesInFlight, so other
// principals' requests are still let in; its own requests beyond its
// share wait, then are 503 unavailable.
func TestHostileBytesInFlightPerPrincipal(t *testing.T) {
	const body = 256 << 10
	s := newHostileServer(t, testdb.SQLiteFile(t), httpapi.Config{
		MaxBodyBytes: body, MaxBytesInFlight: 4 * body, Timeout: 2 * time.Second})
	// Alice announces four large bodies and sends them slowly: before,
	// they held the whole budget.
	writers, done := s.slowBodies(t, hAlice, 4, body)
	time.Sleep(300 * time.Millisecond)
	// Bob is let in, large body or small.
	mid := `{"key":"b","value":"` + strings.Repeat("x", body/2) + `","options":{"namespace":"shared"}}`
	if st, env := s.call(t, "set", hBob, mid); st != 200 {
		t.Errorf("bob's set beside alice's slow bodies = %d %+v", st, env.Error)
	}
	if st, env := s.call(t, "get", hBob, `{"key":"b","options":{"namespace":"shared"}}`); st != 200 {
		t.Errorf("bob's get beside alice's slow bodies = %d %+v", st, env.Error)
	}
	for _, pw := range writers {
		_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	for range 4 {
		<-done
	}
}
