package sqlstore

import (
	"fmt"
	"sync"
	"testing"
)

// TestGenMap: a key used once per generation stays however many others
// come and go; the map holds at most two generations; forget removes a key
// from both.
func TestGenMap(t *testing.T) {
	const bound = 4
	var c genMap[string, int]
	c.put("hot", 1, bound)
	for i := range 100 {
		c.put(fmt.Sprint("s", i), i, bound)
		if v, ok := c.get("hot", bound); !ok || v != 1 {
			t.Fatalf("after %d other keys: hot = %d, %v; want 1, true", i+1, v, ok)
		}
		if n := c.len(); n > 2*bound+1 {
			t.Fatalf("after %d other keys: %d held, bound %d a generation", i+1, n, bound)
		}
	}
	if _, ok := c.get("s0", bound); ok {
		t.Error("s0, used once 100 keys ago, is still held")
	}
	if v, ok := c.get("s99", bound); !ok || v != 99 {
		t.Errorf("s99 = %d, %v; want 99, true", v, ok)
	}
	c.put("s99", 7, bound)
	if v, _ := c.get("s99", bound); v != 7 {
		t.Errorf("s99 after put 7 = %d", v)
	}
	// A key in both generations (moved to the current one by get) is
	// forgotten in both.
	for i := range bound + 1 {
		c.put(fmt.Sprint("t", i), i, bound) // rotates: hot is in the old generation
	}
	if _, ok := c.get("hot", bound); !ok {
		t.Fatal("hot dropped")
	}
	if !c.forget("hot") {
		t.Error("forget(hot) = false")
	}
	if _, ok := c.get("hot", bound); ok {
		t.Error("hot still held after forget")
	}
	if c.forget("hot") {
		t.Error("forget(hot) again = true")
	}
}

// TestGenMapConcurrent: puts, gets and forgets from many goroutines (run
// with -race) keep the bound and never give another key's value.
func TestGenMapConcurrent(t *testing.T) {
	const bound = 16
	var c genMap[int, int]
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := (i*7 + w) % 100
				if v, ok := c.get(k, bound); ok && v != k*10 {
					t.Errorf("get(%d) = %d", k, v)
					return
				}
				c.put(k, k*10, bound)
				if i%13 == 0 {
					c.forget(k)
				}
			}
		})
	}
	wg.Wait()
	if n := c.len(); n > 2*(bound+8) {
		t.Errorf("%d held, bound %d a generation", n, bound)
	}
}
