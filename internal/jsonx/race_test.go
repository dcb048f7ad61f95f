//go:build race

package jsonx

// sync.Pool drops items at random under the race detector, so allocation
// counts are meaningless there.
func init() { raceEnabled = true }
