package cmdline_test

import (
	"bytes"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/cmdline"
)

func TestParseFailedKeepsMistakesShort(t *testing.T) {
	var out bytes.Buffer
	fs := flag.NewFlagSet("prog", flag.ContinueOnError)
	fs.SetOutput(&out)
	fs.Bool("known", false, "a flag with a long help text that must not be printed for a mistake")
	fs.Usage = func() {}
	help := func() { fmt.Fprintln(fs.Output(), "THE WHOLE HELP") }

	_, err := cmdline.Parse(fs, []string{"--unknown"})
	if code := cmdline.ParseFailed(err, fs, help, "usage: prog [flags]"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	got := out.String()
	if !strings.Contains(got, "flag provided but not defined: -unknown") || !strings.Contains(got, "usage: prog [flags]") {
		t.Errorf("unknown flag printed %q", got)
	}
	if strings.Contains(got, "THE WHOLE HELP") || strings.Contains(got, "long help text") {
		t.Errorf("a mistake printed the whole help: %q", got)
	}
	if n := strings.Count(got, "\n"); n != 2 {
		t.Errorf("a mistake printed %d lines, want 2: %q", n, got)
	}

	out.Reset()
	_, err = cmdline.Parse(fs, []string{"-h"})
	if code := cmdline.ParseFailed(err, fs, help, "usage: prog [flags]"); code != 0 || !strings.Contains(out.String(), "THE WHOLE HELP") {
		t.Errorf("-h: exit %d, printed %q", code, out.String())
	}
}

func TestVersion(t *testing.T) {
	v := cmdline.Version("prog")
	if !strings.HasPrefix(v, "prog ") || !strings.Contains(v, "go1.") {
		t.Errorf("Version = %q, want the program, a version and the Go version", v)
	}
}
