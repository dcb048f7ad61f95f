package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestHistoryMissingKey: history of a key that has no retained change and
// does not exist fails as get of it does (exit 3, not found), in both
// output forms; a deleted key whose changes are retained still shows them
// (exit 0), and --after N of a key with nothing after N is an empty answer
// (exit 0), as a poll expects. Before, history of a key that never existed
// printed an empty table and exited 0.
func TestHistoryMissingKey(t *testing.T) {
	onTargets(t, func(t *testing.T, cli func(args ...string) result) {
		cli("set", "a", `{"n":1}`).want(t, exitOK)
		cli("get", "nosuch").want(t, exitNotFound)
		r := cli("history", "nosuch").want(t, exitNotFound)
		if !strings.Contains(r.stderr, "not found") || strings.Contains(r.stdout, "REVISION") {
			t.Fatalf("history of a missing key: stdout %q, stderr %q", r.stdout, r.stderr)
		}
		cli("history", "nosuch", "--after", "0").want(t, exitNotFound)
		m := cli("--json", "history", "nosuch").want(t, exitNotFound).decode(t)
		if m["ok"] != false || m["exitCode"] != float64(exitNotFound) {
			t.Fatalf("history --json of a missing key: %v", m)
		}
		cli("-n", "nons", "history", "a").want(t, exitNotFound)

		// A deleted key's retained changes are its history.
		cli("delete", "a").want(t, exitOK)
		h, _ := eventsOf(t, cli("--json", "history", "a"))
		if len(h) != 2 || h[1]["type"] != "delete" {
			t.Fatalf("history of a deleted key: %v", h)
		}
		last := revOf(t, h[1])
		// Nothing after the last change: an empty answer, not an error.
		h, _ = eventsOf(t, cli("--json", "history", "a", "--after", itoa(last)))
		if len(h) != 0 {
			t.Fatalf("history --after the last change: %v", h)
		}
		cli("history", "nosuch", "--after", itoa(last)).want(t, exitOK)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
