package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/security"
)

// blockingCaller holds every call until release is closed (whatever the
// call's context says), counting the calls it holds by principal.
type blockingCaller struct {
	release chan struct{}
	mu      sync.Mutex        // protects the fields below
	holding map[string]int    // calls held now, by principal ("" anonymous)
	bodies  map[string]string // every body that reached it, by principal
	arrived chan string       // the principal of each call, as it arrives
}

func newBlockingCaller() *blockingCaller {
	return &blockingCaller{release: make(chan struct{}), holding: map[string]int{}, bodies: map[string]string{},
		arrived: make(chan string, 100)}
}

func (b *blockingCaller) Call(ctx context.Context, _ string, body []byte) ([]byte, error) {
	p, _ := security.PrincipalFrom(ctx)
	b.mu.Lock()
	b.holding[p.PublicKey]++
	b.bodies[p.PublicKey] += string(body) + "\n"
	b.mu.Unlock()
	b.arrived <- p.PublicKey
	<-b.release
	b.mu.Lock()
	b.holding[p.PublicKey]--
	b.mu.Unlock()
	return []byte(`{"success":true}`), nil
}

// send serves one storage request in the background; its status arrives
// on the channel.
func send(h http.Handler, token, body string) chan int {
	done := make(chan int, 1)
	go func() {
		req := httptest.NewRequest(http.MethodPost, StoragePrefix+"get", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		if rr.Code == http.StatusServiceUnavailable && !strings.Contains(rr.Body.String(), CodeUnavailable) {
			done <- -1
			return
		}
		done <- rr.Code
	}()
	return done
}

// waitArrivals waits for n calls to reach b and returns their principals.
func waitArrivals(t *testing.T, b *blockingCaller, n int) []string {
	t.Helper()
	var got []string
	for range n {
		select {
		case p := <-b.arrived:
			got = append(got, p)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d calls reached the caller, want %d", len(got), n)
		}
	}
	return got
}

// noArrival checks that no call reaches b within d.
func noArrival(t *testing.T, b *blockingCaller, d time.Duration) {
	t.Helper()
	select {
	case p := <-b.arrived:
		t.Fatalf("a call of %q reached the caller beyond its principal's bound", p)
	case <-time.After(d):
	}
}

// TestHandlerRequestsPerPrincipal: a principal runs at most
// MaxRequestsPerPrincipal requests in the Caller at once; one beyond
// waits for its turn (it is not refused), and after Timeout is 503
// unavailable without reaching the Caller; another principal's requests,
// and the principal's calls on open transactions, are not held back.
func TestHandlerRequestsPerPrincipal(t *testing.T) {
	const bobToken = "bob-token-0123456789abcd"
	tokens, err := ParseAuthFile([]byte(`{"principals":[{"token":"` + aliceToken + `","pkr":"alice-pk"},{"token":"` + bobToken + `","pkr":"bob-pk"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b := newBlockingCaller()
	h := NewHandler(b, Config{Auth: tokens, MaxRequestsPerPrincipal: 2, Timeout: 2 * time.Second, Logger: discardLogger()})
	get := `{"key":"k"}`

	// Two of alice's run; the third waits.
	first := []chan int{send(h, aliceToken, get), send(h, aliceToken, get)}
	waitArrivals(t, b, 2)
	third := send(h, aliceToken, get)
	noArrival(t, b, 200*time.Millisecond)
	// Bob's request runs beside them, and so do alice's calls on a
	// transaction (a commit, a data call in one).
	bob := send(h, bobToken, get)
	commit := send(h, aliceToken, `{"transactionId":"tx1"}`)
	inTx := send(h, aliceToken, `{"key":"k","options":{"namespace":"n","transactionId":"tx1"}}`)
	if got := strings.Join(waitArrivals(t, b, 3), ","); strings.Count(got, "bob-pk") != 1 || strings.Count(got, "alice-pk") != 2 {
		t.Errorf("arrivals %q: want bob's and alice's two transaction calls", got)
	}
	noArrival(t, b, 100*time.Millisecond) // the third is still waiting
	// A fourth of alice's waits its Timeout and is refused.
	fourth := send(h, aliceToken, get)
	select {
	case st := <-fourth:
		t.Fatalf("a request beyond the bound answered %d before its timeout", st)
	case <-time.After(time.Second):
	}
	// The third, waiting since before it, times out too (2 s): both are
	// 503 unavailable, neither reached the caller.
	for _, c := range []chan int{third, fourth} {
		select {
		case st := <-c:
			if st != http.StatusServiceUnavailable {
				t.Errorf("a request that waited past its timeout = %d, want 503 unavailable", st)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a request beyond the bound waited past its timeout")
		}
	}
	b.mu.Lock()
	if n := strings.Count(b.bodies["alice-pk"], get); n != 2 {
		t.Errorf("%d of alice's plain requests reached the caller, want 2", n)
	}
	b.mu.Unlock()
	close(b.release)
	for _, c := range append(first, bob, commit, inTx) {
		if st := <-c; st != http.StatusOK {
			t.Errorf("a request within the bound = %d", st)
		}
	}
	// The bound queues: 6 requests at once all succeed, two at a time.
	b2 := newBlockingCaller()
	h = NewHandler(b2, Config{Auth: tokens, MaxRequestsPerPrincipal: 2, Logger: discardLogger()})
	var all []chan int
	for range 6 {
		all = append(all, send(h, aliceToken, get))
	}
	waitArrivals(t, b2, 2)
	noArrival(t, b2, 100*time.Millisecond)
	close(b2.release)
	waitArrivals(t, b2, 4)
	for _, c := range all {
		if st := <-c; st != http.StatusOK {
			t.Errorf("a queued request = %d, want 200", st)
		}
	}
}

// TestHandlerRequestsAnonymous: anonymous requests count as one
// principal; the default bound is DefaultMaxRequestsPerPrincipal.
func TestHandlerRequestsAnonymous(t *testing.T) {
	b := newBlockingCaller()
	h := NewHandler(b, Config{AllowAnonymous: true, Timeout: 300 * time.Millisecond, Logger: discardLogger()})
	var held []chan int
	for range DefaultMaxRequestsPerPrincipal {
		held = append(held, send(h, "", `{}`))
	}
	waitArrivals(t, b, DefaultMaxRequestsPerPrincipal)
	if st := <-send(h, "", `{}`); st != http.StatusServiceUnavailable {
		t.Errorf("an anonymous request beyond the bound = %d, want 503 unavailable", st)
	}
	noArrival(t, b, 0)
	close(b.release)
	for _, c := range held {
		if st := <-c; st != http.StatusOK {
			t.Errorf("an anonymous request within the bound = %d", st)
		}
	}
}

// TestOnTransaction: the calls that run on an open transaction, and only
// those, are recognized; what it takes for one, the routes either run on
// the transaction or refuse.
func TestOnTransaction(t *testing.T) {
	for _, tc := range []struct {
		body string
		want bool
	}{
		{`{"transactionId":"t"}`, true},
		{`{"key":"k","options":{"transactionId":"t"}}`, true},
		{`{"options":{"namespace":"n","transactionId":"t"},"entries":[]}`, true},
		{`{"key":"k"}`, false},
		{`{"key":"transactionId","value":{"transactionId":"t"}}`, false},
		{`{"key":"k","options":{"namespace":"transactionId"}}`, false},
		{`{"key":"k","options":{"transaction\u0049d":"t"}}`, false}, // counted; the routes refuse it anyway
		{`{"transactionId":null}`, false},
		{`{"options":"transactionId"}`, false},
		{`not json "transactionId"`, false},
	} {
		if got := onTransaction([]byte(tc.body)); got != tc.want {
			t.Errorf("onTransaction(%s) = %v, want %v", tc.body, got, tc.want)
		}
	}
}
