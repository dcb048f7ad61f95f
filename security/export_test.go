package security

// TrackedTxs is how many transaction owners s remembers (tests).
func TrackedTxs(s *Store) int {
	n := 0
	s.txs.Range(func(any, any) bool { n++; return true })
	return n
}
