//go:build linux

// Package proctest helps tests that run a program in a child process and
// signal it: WaitOpenFile tells when the child has reached a point (it
// holds a file open), and Interrupt checks how a --json run answers
// Ctrl-C.
package proctest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// WaitOpenFile waits, for up to 30 seconds, until process pid has the
// file name (an absolute path) open, as /proc shows it.
func WaitOpenFile(t testing.TB, pid int, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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

// Interrupt sends SIGINT to cmd, started with --json and its stdout in
// stdout, waits for it, and fails the test unless it exited 130 and its
// JSON answer says ok false and "exitCode": 130.
func Interrupt(t testing.TB, cmd *exec.Cmd, stdout *bytes.Buffer) {
	t.Helper()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("interrupted: %v, want exit 130\n%s", err, stdout.String())
	}
	var m map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	if m["ok"] != false || m["exitCode"] != float64(130) {
		t.Errorf("JSON answer %v, want ok false and exitCode 130 (the exit code)", m)
	}
}
