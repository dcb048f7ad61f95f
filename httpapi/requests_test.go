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
	return sendOp(h, "get", token, body)
}

// sendOp is send to the route op.
func sendOp(h http.Handler, op, token, body string) chan int {
	done := make(chan int, 1)
	go func() {
		req := httptest.NewRequest(http.MethodPost, StoragePrefix+op, strings.NewReader(body))
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
		// A value nested deeper than encoding/json decodes: the routes
		// decode the rest of the body (routes.decodeRequest), so this call
		// runs on its transaction.
		{`{"key":"k","value":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `,"options":{"transactionId":"t"}}`, true},
	} {
		if got := onTransaction([]byte(tc.body)); got != tc.want {
			t.Errorf("onTransaction(%s) = %v, want %v", tc.body, got, tc.want)
		}
	}
}

// The tokens of threeTokens, beside aliceToken.
const bobToken, carolToken = "bob-token-0123456789abcd", "carol-token-0123456789ab"

// threeTokens are the tokens of alice, bob and carol.
func threeTokens(t *testing.T) *Tokens {
	t.Helper()
	tokens, err := ParseAuthFile([]byte(`{"principals":[{"token":"` + aliceToken + `","pkr":"alice-pk"},{"token":"` +
		bobToken + `","pkr":"bob-pk"},{"token":"` + carolToken + `","pkr":"carol-pk"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// stepCaller holds each call until a value is sent on step.
type stepCaller struct {
	step    chan struct{}
	arrived chan string // the principal of each call, as it arrives
	mu      sync.Mutex
	in, max int // calls in it now, and at most
}

func (c *stepCaller) Call(ctx context.Context, _ string, _ []byte) ([]byte, error) {
	p, _ := security.PrincipalFrom(ctx)
	c.mu.Lock()
	c.in++
	c.max = max(c.max, c.in)
	c.mu.Unlock()
	c.arrived <- p.PublicKey
	<-c.step
	c.mu.Lock()
	c.in--
	c.mu.Unlock()
	return []byte(`{"success":true}`), nil
}

// wantNext fails the test unless the next call to reach c, within 5 s,
// is principal p's (want says which call that is).
func (c *stepCaller) wantNext(t *testing.T, p, want string) {
	t.Helper()
	select {
	case got := <-c.arrived:
		if got != p {
			t.Fatalf("%s's call reached the caller, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no call reached the caller in 5 s, want %s", want)
	}
}

// TestHandlerRequestsInStore: all principals together run at most
// MaxRequestsInStore requests in the Caller at once, and the waiting ones
// are served in turn across principals, the principal served least
// recently first: a principal that comes while two others flood waits
// for about one request of each, not for all of theirs; each
// principal's requests in the order they came; a principal's requests
// beyond MaxWaitingPerPrincipal waiting are refused at once.
func TestHandlerRequestsInStore(t *testing.T) {
	tokens := threeTokens(t)
	c := &stepCaller{step: make(chan struct{}), arrived: make(chan string, 1000)}
	h := NewHandler(c, Config{Auth: tokens, MaxRequestsInStore: 2, MaxRequestsPerPrincipal: 2, Logger: discardLogger()})
	arrival := func() string {
		t.Helper()
		select {
		case p := <-c.arrived:
			return p
		case <-time.After(5 * time.Second):
			t.Fatal("no call reached the caller")
			return ""
		}
	}
	var all []chan int
	for range 2 {
		all = append(all, send(h, aliceToken, `{"key":"k"}`))
	}
	arrival()
	arrival()
	// Carol's three and alice's two more wait (the store is full), then
	// bob's one.
	for range 3 {
		all = append(all, send(h, carolToken, `{"key":"k"}`))
	}
	for range 2 {
		all = append(all, send(h, aliceToken, `{"key":"k"}`))
	}
	time.Sleep(100 * time.Millisecond)
	all = append(all, send(h, bobToken, `{"key":"k"}`))
	time.Sleep(100 * time.Millisecond)
	select {
	case p := <-c.arrived:
		t.Fatalf("a call of %s reached the caller beyond MaxRequestsInStore", p)
	default:
	}
	// Each call that ends lets one in: carol (never served, waiting
	// before bob), bob (never served), then alice, carol, alice, carol.
	// (A request leaves the store before its answer is written, and its
	// principal's place after: the next step waits for that, so that each
	// turn is given with the ending request's principal still counting it.)
	var order []string
	for range 6 {
		c.step <- struct{}{}
		order = append(order, strings.TrimSuffix(arrival(), "-pk"))
		for deadline := time.Now().Add(5 * time.Second); h.running.Stats().Kept > 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("a request left the store, and its answer was not written in 5 s")
			}
		}
	}
	if got := strings.Join(order, ","); got != "carol,bob,alice,carol,alice,carol" {
		t.Errorf("served %s, want carol,bob,alice,carol,alice,carol", got)
	}
	for range 2 {
		c.step <- struct{}{}
	}
	for _, ch := range all {
		if st := <-ch; st != http.StatusOK {
			t.Errorf("a request = %d", st)
		}
	}
	if c.max != 2 {
		t.Errorf("%d calls in the caller at once, want 2", c.max)
	}

	// A principal's requests beyond MaxWaitingPerPrincipal waiting are
	// refused at once, another principal's still served.
	c2 := &stepCaller{step: make(chan struct{}), arrived: make(chan string, 1000)}
	h = NewHandler(c2, Config{Auth: tokens, MaxRequestsInStore: 1, MaxRequestsPerPrincipal: 1, Logger: discardLogger()})
	held := send(h, aliceToken, `{}`)
	<-c2.arrived
	var waiting []chan int
	for range MaxWaitingPerPrincipal {
		waiting = append(waiting, send(h, aliceToken, `{}`))
	}
	for deadline := time.Now().Add(5 * time.Second); h.running.Stats().Waiting < MaxWaitingPerPrincipal; {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting", h.running.Stats().Waiting)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case st := <-send(h, aliceToken, `{}`):
		if st != http.StatusServiceUnavailable {
			t.Errorf("a request beyond MaxWaitingPerPrincipal = %d, want 503 unavailable", st)
		}
	case <-time.After(2 * time.Second):
		t.Error("a request beyond MaxWaitingPerPrincipal waited")
	}
	bob := send(h, bobToken, `{}`)
	for h.running.Stats().Waiting < MaxWaitingPerPrincipal+1 {
		time.Sleep(time.Millisecond)
	}
	c2.step <- struct{}{} // alice's first ends: bob's is served next
	if p := <-c2.arrived; p != "bob-pk" {
		t.Errorf("after alice's, %s was served, want bob", p)
	}
	close(c2.step)
	for _, ch := range append(waiting, held, bob) {
		if st := <-ch; st != http.StatusOK {
			t.Errorf("a request = %d", st)
		}
	}
}

// TestHandlerWritesInStore: writes beyond MaxWritesInStore wait while
// another principal's read is served (SQLite's one writer: writes stuck
// behind a transaction would otherwise fill MaxRequestsInStore and keep
// every read out).
func TestHandlerWritesInStore(t *testing.T) {
	tokens := threeTokens(t)
	c := &stepCaller{step: make(chan struct{}), arrived: make(chan string, 10)}
	h := NewHandler(c, Config{Auth: tokens, MaxRequestsInStore: 3, MaxWritesInStore: 1, Logger: discardLogger()})
	set := `{"key":"k","value":1}`
	a := sendOp(h, "set", aliceToken, set)
	<-c.arrived
	carol := sendOp(h, "setMany", carolToken, `{"entries":[]}`)
	for h.running.Stats().Waiting < 1 {
		time.Sleep(time.Millisecond)
	}
	bob := sendOp(h, "count", bobToken, `{}`)
	c.wantNext(t, "bob-pk", "bob's read, not behind the writes")
	// Alice's write and bob's read end: carol's write goes in.
	c.step <- struct{}{}
	c.step <- struct{}{}
	if p := <-c.arrived; p != "carol-pk" {
		t.Errorf("%s's call reached the caller, want carol's", p)
	}
	close(c.step)
	for _, ch := range []chan int{a, carol, bob} {
		if st := <-ch; st != http.StatusOK {
			t.Errorf("a request = %d", st)
		}
	}
}

// TestHandlerHistoryIsAScan: history counts under MaxScansInStore, as
// list, query and count do, so that one principal's histories cannot
// hold every connection while another's get waits. Its cost grows with
// the key's changes in the log, not with its answer: on SQLite it walks
// the key's chain of changes for each part of its answer, and a history
// of a key of 20,000 changes (the log keeps a million) took 6 s, of
// 30,000 changes 13 s (a limit of 1: 0.4 s), up to Config.Timeout; four
// of one principal held all four of SQLite's readers. Here alice's
// second history waits beside her first with MaxScansInStore 1 while
// bob's get is served.
func TestHandlerHistoryIsAScan(t *testing.T) {
	c := &stepCaller{step: make(chan struct{}), arrived: make(chan string, 10)}
	h := NewHandler(c, Config{Auth: threeTokens(t), MaxRequestsInStore: 3, MaxScansInStore: 1, Logger: discardLogger()})
	hist := `{"key":"k","options":{"namespace":"n"}}`
	first := sendOp(h, "history", aliceToken, hist)
	<-c.arrived
	second := sendOp(h, "history", aliceToken, hist)
	deadline := time.Now().Add(5 * time.Second)
	for h.running.Stats().Waiting < 1 {
		select {
		case <-c.arrived:
			t.Fatal("a second history ran beside the first with MaxScansInStore 1")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the second history neither waited nor ran")
		}
		time.Sleep(time.Millisecond)
	}
	bob := sendOp(h, "get", bobToken, `{"key":"k"}`)
	c.wantNext(t, "bob-pk", "bob's get, not behind alice's histories")
	close(c.step)
	for _, ch := range []chan int{first, second, bob} {
		if st := <-ch; st != http.StatusOK {
			t.Errorf("a request = %d", st)
		}
	}
}
