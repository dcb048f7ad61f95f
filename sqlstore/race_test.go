//go:build race

package sqlstore

// raceEnabled is true when the tests run with the race detector, which
// slows the pure-Go SQLite driver by an order of magnitude: the long
// randomized tests then run a tenth of their cases.
const raceEnabled = true
