//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mycelia-kernel/storage/internal/testutil/proctest"
)

// TestInterruptedJSONExitCode: migrate --json interrupted by Ctrl-C (here
// while it waits for another migrator's lock) exits 130, and its JSON
// answer's "exitCode" says 130 too. It said 1: the JSON was written before
// main turned the code into 130.
func TestInterruptedJSONExitCode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	mustRun(t, "--dsn", "sqlite:"+path, "up-to", "2")
	lock, err := os.OpenFile(path+".migrate.lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil { // another migrator
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd := exec.Command(binary, "--json", "--dsn", "sqlite:"+path, "up")
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once it has the lock file open it waits for the lock, its signal
	// handler long installed.
	proctest.WaitOpenFile(t, cmd.Process.Pid, lock.Name())
	proctest.Interrupt(t, cmd, &stdout)
}
