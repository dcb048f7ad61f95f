package client

// TrackedTxs is how many transactions s remembers (tests).
func TrackedTxs(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.txs)
}
