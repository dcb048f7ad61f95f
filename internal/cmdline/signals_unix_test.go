//go:build unix

package cmdline_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/internal/cmdline"
)

func TestSignalsExitCode(t *testing.T) {
	ctx, sig := cmdline.NotifySignals(context.Background())
	defer sig.Stop()
	if got := sig.ExitCode(1); got != 1 {
		t.Errorf("no signal: ExitCode(1) = %d", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGINT did not end the context")
	}
	if sig.Received() != syscall.SIGINT {
		t.Errorf("Received = %v", sig.Received())
	}
	if got := sig.ExitCode(1); got != 130 {
		t.Errorf("after SIGINT a failed run exits %d, want 130", got)
	}
	if got := sig.ExitCode(0); got != 0 {
		t.Errorf("after SIGINT a run that finished exits %d, want 0", got)
	}
}
