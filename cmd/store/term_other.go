//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package main

// isTerminal reports false: without a way to tell, progress is plain lines.
func isTerminal(uintptr) bool { return false }
