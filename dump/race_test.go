//go:build race

package dump_test

// raceEnabled: the race detector makes big tests slow; they run smaller.
const raceEnabled = true
