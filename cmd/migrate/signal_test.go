//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
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
	waitOpenFile(t, cmd.Process.Pid, lock.Name())
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("migrate interrupted: %v, want exit 130", err)
	}
	var m map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	if m["ok"] != false || m["exitCode"] != float64(130) {
		t.Errorf("JSON answer %v, want ok false and exitCode 130 (the exit code)", m)
	}
}

// waitOpenFile waits until process pid has the file name open.
func waitOpenFile(t *testing.T, pid int, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	for {
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && target == name {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("process %d never opened %s", pid, name)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
