package security

import "context"

// ReadsEverything reports whether the principal of ctx may read every
// namespace and every principal's keys (read on both storage://namespace/*
// and principal://*): the rule under which Status reports Size and
// Namespaces. Figures about the whole store, such as the number of open
// transactions, are shown to such principals only. Without a principal it
// is false unless the store allows anonymous callers and they hold those
// grants.
func (s *Store) ReadsEverything(ctx context.Context) bool {
	sub, _, err := s.subject(ctx, "status")
	return err == nil && sub.everything().Has(Read)
}
