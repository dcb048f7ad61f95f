package console

import "time"

// SetPageBytes sets what one entries or query page reads (PageBytes) until
// the returned func is called; tests lower it so that small values reach
// it. Call it before the console serves, and restore it after it ends.
func SetPageBytes(n int64) (restore func()) {
	old := pageBytes
	pageBytes = n
	return func() { pageBytes = old }
}

// SetPageReadTime sets how long the query page runs its queries
// (PageReadTime) until the returned func is called. Call it before the
// console serves.
func SetPageReadTime(d time.Duration) (restore func()) {
	old := pageReadTime
	pageReadTime = d
	return func() { pageReadTime = old }
}
