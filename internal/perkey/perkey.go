// Package perkey counts what each key (a principal) holds, up to a bound:
// the servers' per-principal limits on open streams.
package perkey

import "sync"

// Counts counts by key, each up to Max. The zero value with Max set is
// ready; it is safe for concurrent use.
type Counts struct {
	Max int

	mu sync.Mutex
	n  map[string]int
}

// Take counts one more for k and reports true, unless k holds Max
// already.
func (c *Counts) Take(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[k] >= c.Max {
		return false
	}
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[k]++
	return true
}

// Release counts one less for k (after a Take that reported true).
func (c *Counts) Release(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[k]--; c.n[k] <= 0 {
		delete(c.n, k)
	}
}

// Len returns how many keys hold a count (for tests: a key whose count
// went back to zero is forgotten).
func (c *Counts) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.n)
}
