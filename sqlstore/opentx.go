package sqlstore

// OpenTransactions reports how many transactions are open now (begun and
// neither committed, rolled back nor reaped), for status displays such as
// the web console's.
func (s *Store) OpenTransactions() int { return s.txs.Len() }
