//go:build !race

package dump_test

const raceEnabled = false
