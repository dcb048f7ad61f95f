package httpapi

// PrincipalEntries returns how many principals h's per-principal bounds
// hold an entry for: request bytes, requests in the store, open streams.
func PrincipalEntries(h *Handler) (bytes, running, streams int) {
	return h.bytes.Stats().Keys, h.running.Stats().Keys, h.streams.Len()
}
