package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSetShortTTL: a set whose entry expires before the command reads it
// back (--ttl 1us) still wrote it, and says so: exit 0, with the version
// and revision the write made and its expiry, not "not found" for a write that happened.
func TestSetShortTTL(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "short.db")
	env := map[string]string{"STORAGE_DSN": dsn}
	for i, ttl := range []string{"1ns", "1us", "50us"} {
		r := runCLI(t, env, "", "set", "k", `1`, "--ttl", ttl, "--json").want(t, exitOK)
		m := r.decode(t)
		if m["version"] != float64(1) || m["revision"] == nil || m["expiresAt"] == nil {
			t.Errorf("set --ttl %s --json = %v; want version 1, a revision and the expiry", ttl, m)
		}
		r = runCLI(t, env, "", "set", "k", `1`, "--ttl", ttl).want(t, exitOK)
		if !strings.Contains(r.stdout, "version 1") {
			t.Errorf("set --ttl %s (%d) = %q; want version 1", ttl, i, r.stdout)
		}
	}
}
