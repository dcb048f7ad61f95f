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
	"strings"
	"testing"
	"time"
)

// TestInterruptedJSONExitCode: store --json interrupted by Ctrl-C (here an
// import waiting for stdin) exits 130, and its JSON answer's "exitCode"
// says 130 too. It said 1: the JSON was written before main turned the
// code into 130. The test runs main in a child process (this test binary,
// STORE_TEST_MAIN set).
func TestInterruptedJSONExitCode(t *testing.T) {
	if args := os.Getenv("STORE_TEST_MAIN"); args != "" {
		os.Args = append([]string{"store"}, strings.Split(args, "\x1f")...)
		main()
		return
	}
	path := filepath.Join(t.TempDir(), "store.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterruptedJSONExitCode$")
	cmd.Env = append(os.Environ(), "STORE_TEST_MAIN="+strings.Join([]string{"--json", "--dsn", "sqlite:" + path, "import"}, "\x1f"))
	stdin, err := cmd.StdinPipe() // kept open: the import waits for it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A header, and no more: the import opens the store and waits for
	// the next line. Once it has the database open it is past its signal
	// handler's installation.
	if _, err := stdin.Write([]byte(`{"type":"header","format":"mycelia-storage-ndjson","version":2}` + "\n")); err != nil {
		t.Fatal(err)
	}
	waitOpenFile(t, cmd.Process.Pid, path)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("store interrupted: %v, want exit 130\n%s", err, stdout.String())
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
