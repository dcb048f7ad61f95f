package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionAndShortUsage: --version prints the build's version line, and
// an unknown flag prints one line and the usage line (exit 2), not the
// whole flag list, as the other binaries do.
func TestVersionAndShortUsage(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "storebench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "storebench ") {
		t.Errorf("--version: %q, %v", out, err)
	}
	out, err = exec.Command(bin, "--nope").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("--nope: %v, want exit 2", err)
	}
	if want := "flag provided but not defined: -nope\nusage: storebench [flags]; storebench -h for help\n"; string(out) != want {
		t.Errorf("--nope printed %q, want %q", out, want)
	}
}
