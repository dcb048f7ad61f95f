package admit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// take acquires and fails the test unless it is granted at once.
func take(t *testing.T, g *Gate, key string, w int64) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	rel, err := g.Acquire(ctx, key, w)
	if err != nil {
		t.Fatalf("Acquire(%s, %d): %v", key, w, err)
	}
	return rel
}

// later acquires in the background and sends key on got when granted,
// then waits for release on its own channel.
func later(t *testing.T, g *Gate, key string, w int64, got chan<- string) (release chan struct{}) {
	t.Helper()
	release = make(chan struct{})
	go func() {
		rel, err := g.Acquire(t.Context(), key, w)
		if err != nil {
			got <- "error " + err.Error()
			return
		}
		got <- key
		<-release
		rel()
	}()
	// Let it queue, in this order.
	g.mu.Lock()
	n := g.waiting
	g.mu.Unlock()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if g.Stats().Waiting > n {
			break
		}
	}
	return release
}

func grantOrder(t *testing.T, got <-chan string, n int) []string {
	t.Helper()
	var order []string
	for range n {
		select {
		case k := <-got:
			order = append(order, k)
		case <-time.After(2 * time.Second):
			t.Fatalf("granted %v, then nothing", order)
		}
	}
	return order
}

// TestGateRoundRobin: the next request served is of the key served least
// recently (never first), so a key that comes while others wait is served
// before all their requests; each key's queue in its order.
func TestGateRoundRobin(t *testing.T) {
	g := &Gate{Total: 1, PerKey: 1}
	ra := take(t, g, "a", 1)
	got := make(chan string, 16)
	rels := map[string][]chan struct{}{}
	for _, k := range []string{"a", "a", "a", "b", "b", "b", "c"} {
		rels[k] = append(rels[k], later(t, g, k, 1, got))
	}
	ra()
	var order []string
	for range 7 {
		k := grantOrder(t, got, 1)[0]
		order = append(order, k)
		close(rels[k][0])
		rels[k] = rels[k][1:]
	}
	if o := strings.Join(order, ""); o != "bcababa" {
		t.Errorf("order %s, want bcababa", o)
	}
	if s := g.Stats(); s.Waiting != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestGatePerKey: a key at PerKey waits while another key's request is
// served; its queue is bounded by MaxWaitingPerKey; a canceled request
// leaves its place.
func TestGatePerKey(t *testing.T) {
	g := &Gate{Total: 10, PerKey: 1, MaxWaitingPerKey: 1}
	ra := take(t, g, "a", 1)
	got := make(chan string, 4)
	rel := later(t, g, "a", 1, got)
	if _, err := g.Acquire(t.Context(), "a", 1); !errors.Is(err, ErrQueueFull) {
		t.Errorf("beyond MaxWaitingPerKey: %v", err)
	}
	take(t, g, "b", 1)()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	g.MaxWaitingPerKey = 2
	if _, err := g.Acquire(ctx, "a", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting past ctx: %v", err)
	}
	ra()
	if o := grantOrder(t, got, 1); o[0] != "a" {
		t.Errorf("granted %v", o)
	}
	close(rel)
	time.Sleep(10 * time.Millisecond)
	if s := g.Stats(); s.Held != 0 || s.Waiting != 0 || len(g.keys) != 0 {
		t.Errorf("after all released: %+v, %d keys", s, len(g.keys))
	}
}

// TestGateWeights: a large head is not overtaken by a later key's small
// request.
func TestGateWeights(t *testing.T) {
	g := &Gate{Total: 10, PerKey: 8}
	ra := take(t, g, "a", 5)
	got := make(chan string, 4)
	r1 := later(t, g, "b", 8, got)
	r2 := later(t, g, "c", 1, got)
	select {
	case k := <-got:
		t.Fatalf("%s granted while b's large request waits", k)
	case <-time.After(20 * time.Millisecond):
	}
	ra()
	grantOrder(t, got, 2) // both fit now
	close(r1)
	close(r2)
}

// TestGateClasses: a key whose head's class is full is passed over; the
// others' requests of another class are served meanwhile.
func TestGateClasses(t *testing.T) {
	g := &Gate{Total: 3, PerKey: 3, ClassTotal: []int64{1}}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	ra, err := g.AcquireClass(ctx, "a", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	rel := make(chan struct{})
	go func() {
		r, err := g.AcquireClass(t.Context(), "b", 1, 1)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- "b"
		<-rel
		r()
	}()
	for g.Stats().Waiting < 1 {
		time.Sleep(time.Millisecond)
	}
	take(t, g, "c", 1)() // class 0: served beside the full class
	select {
	case k := <-got:
		t.Fatalf("%s granted while its class is full", k)
	case <-time.After(20 * time.Millisecond):
	}
	ra()
	if o := grantOrder(t, got, 1); o[0] != "b" {
		t.Errorf("granted %v", o)
	}
	close(rel)
}

// TestGateSplit: units left to Total let another key in while their key
// still counts them under PerKey: its next request waits for the release,
// another key's does not.
func TestGateSplit(t *testing.T) {
	g := &Gate{Total: 2, PerKey: 2}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	var leaves, ends []func()
	for range 2 {
		leave, end, err := g.AcquireSplit(ctx, "a", 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		leaves, ends = append(leaves, leave), append(ends, end)
	}
	got := make(chan string, 4)
	relA := later(t, g, "a", 1, got)
	relB := later(t, g, "b", 1, got)
	for _, leave := range leaves {
		leave()
		leave() // once
	}
	if k := <-got; k != "b" {
		t.Fatalf("granted %s first, want b (a holds its two places under PerKey)", k)
	}
	select {
	case k := <-got:
		t.Fatalf("%s granted while a's places are held", k)
	case <-time.After(50 * time.Millisecond):
	}
	if st := g.Stats(); st.Kept != 2 || st.Held != 1 {
		t.Errorf("stats %+v: want 2 kept (a's), 1 held (b's)", st)
	}
	ends[0]()
	if k := <-got; k != "a" {
		t.Fatalf("granted %s, want a", k)
	}
	ends[1]()
	close(relA)
	close(relB)
	for deadline := time.Now().Add(time.Second); g.Stats().Held != 0 || g.Stats().Keys != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v after every release, want none", g.Stats())
		}
	}
}
