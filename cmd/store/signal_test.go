//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/testutil/proctest"
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
	proctest.WaitOpenFile(t, cmd.Process.Pid, path)
	proctest.Interrupt(t, cmd, &stdout)
}
