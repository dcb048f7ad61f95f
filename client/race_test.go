//go:build race

package client_test

// raceEnabled: the race detector is on, and the engine runs many times
// slower; tests that load it scale down.
const raceEnabled = true
