package httpapi

import "time"

// PrincipalEntries returns how many principals h's per-principal bounds
// hold an entry for: request bytes, requests in the store, open streams.
func PrincipalEntries(h *Handler) (bytes, running, streams int) {
	return h.bytes.Stats().Keys, h.running.Stats().Keys, h.streams.Len()
}

// SetKeepAliveEvery sets how often idle streams started from now on send
// a keep-alive line, and returns a function that restores the period.
func SetKeepAliveEvery(d time.Duration) (restore func()) {
	old := keepAliveEvery.Swap(int64(d))
	return func() { keepAliveEvery.Store(old) }
}
