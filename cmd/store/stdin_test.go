package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestStdinInterrupted: Ctrl-C (the end of run's context) stops a command
// that waits for stdin at once, writing nothing. Before the fix set, meta,
// query and import read stdin to its end whatever the context: the first
// Ctrl-C at "store set k" waiting for a terminal did nothing, and with a
// stuck pipe the command waited for as long as the pipe did (then set said
// "the value is not JSON" of what it had read).
func TestStdinInterrupted(t *testing.T) {
	dsn := testdb.SQLiteFile(t)
	env := map[string]string{"STORAGE_DSN": dsn}
	runCLI(t, env, "", "set", "k", `1`).want(t, exitOK)
	for _, args := range [][]string{
		{"set", "k2"},
		{"set", "k2", "-"},
		{"meta", "k", "-"},
		{"query", "-"},
		{"count", "-"},
		{"import"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			pr, pw := io.Pipe() // input that never comes
			defer pw.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan result, 1)
			go func() {
				var o, e bytes.Buffer
				code := run(ctx, args, pr, &o, &e, func(k string) string { return env[k] })
				done <- result{code, o.String(), e.String()}
			}()
			time.Sleep(100 * time.Millisecond)
			cancel()
			select {
			case r := <-done:
				if r.code != exitFailure || !strings.Contains(r.stderr, "context canceled") {
					t.Errorf("exit %d, want %d with the context's end\nstdout: %s\nstderr: %s", r.code, exitFailure, r.stdout, r.stderr)
				}
			case <-time.After(5 * time.Second):
				pw.Close() // let it end
				<-done
				t.Fatalf("still reading stdin 5 s after the context ended")
			}
		})
	}
	runCLI(t, env, "", "has", "k2").want(t, exitNotFound)
	m := runCLI(t, env, "", "--json", "meta", "k").want(t, exitOK).decode(t)
	if m["version"] != float64(1) {
		t.Errorf("meta k after the interrupted meta: %v, want version 1", m)
	}
}

// TestCtxReaderReads: until its context ends, ctxReader reads what its
// reader holds, as any io.Reader (testing/iotest's checks, one byte at a
// time and in halves too).
func TestCtxReaderReads(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef\n"), 10000)
	for _, r := range []io.Reader{
		bytes.NewReader(content),
		iotest.OneByteReader(bytes.NewReader(content)),
		iotest.HalfReader(bytes.NewReader(content)),
		iotest.DataErrReader(bytes.NewReader(content)),
	} {
		if err := iotest.TestReader(newCtxReader(context.Background(), r), content); err != nil {
			t.Error(err)
		}
	}
}
