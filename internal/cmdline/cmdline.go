// Package cmdline holds what the command-line programs (cmd/store,
// cmd/migrate) share: flags that may stand before and after the command,
// and the choice of the DSN to open.
package cmdline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"

	"github.com/mycelia-kernel/storage/dialect"
)

// EnvDSN names the variable holding the DSN when --dsn is not given.
const EnvDSN = "STORAGE_DSN"

// EnvDirectDSN names the variable holding the direct DSN when --direct-dsn
// is not given: the PostgreSQL server's own address for the migrations
// (and listening) when the DSN goes through a connection pooler
// (sqlstore.WithDirectDSN).
const EnvDirectDSN = "STORAGE_DIRECT_DSN"

// DefaultDSN is the DSN when neither --dsn nor STORAGE_DSN is given.
const DefaultDSN = "sqlite:storage.db"

// Parse parses args with fs, flags standing before, between and after the
// positional arguments, and returns the positional arguments in order. An
// argument "--" is package flag's: it drops it and takes the argument after
// it as positional, and parsing goes on after that one; where the argument
// after a dropped "--" is "--" again, every argument after the second is
// positional. The error is fs.Parse's (flag.ErrHelp for -h or -help); with
// flag.ContinueOnError, fs has printed it and the usage.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
}

// DSN returns the DSN to open: flagValue when it is set, else the value of
// EnvDSN read with getenv, else DefaultDSN. given reports whether one of the
// first two was set.
func DSN(flagValue string, getenv func(string) string) (dsn string, given bool) {
	dsn = flagValue
	if dsn == "" {
		dsn = getenv(EnvDSN)
	}
	if dsn == "" {
		return DefaultDSN, false
	}
	return dsn, true
}

// DirectDSN returns the direct DSN for dsn: flagValue when it is set,
// else the value of EnvDirectDSN read with getenv when dsn is a
// PostgreSQL one ("" otherwise: the variable, a PostgreSQL setting, does
// not make a SQLite DSN a mistake, as the flag given with one is).
func DirectDSN(flagValue, dsn string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if dc, err := dialect.ParseDSN(dsn); err == nil && dc.Dialect != dialect.Postgres {
		return ""
	}
	return getenv(EnvDirectDSN)
}

// CheckSQLiteFile is what a command checks before it opens the SQLite
// database file path: one that may not create it (it only reads, or rolls
// back) refuses a file that does not exist, rather than leave an empty
// database where a mistyped path led; one that may refuses a file whose
// directory does not exist with that reason, which SQLite does not give.
func CheckSQLiteFile(path string, mayCreate bool) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if !mayCreate {
		return fmt.Errorf("sqlite database %s does not exist", path)
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sqlite database %s cannot be created: directory %s does not exist", path, dir)
	}
	return nil
}

// CheckDocumented fails unless the file docFile (a program's doc.go, what
// go doc and pkg.go.dev show its users) names every flag of fs as --NAME;
// for the programs' tests.
func CheckDocumented(fs *flag.FlagSet, docFile string) error {
	doc, err := os.ReadFile(docFile)
	if err != nil {
		return err
	}
	var missing []string
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(doc), "--"+f.Name) {
			missing = append(missing, "--"+f.Name)
		}
	})
	if len(missing) > 0 {
		return fmt.Errorf("%s does not document %s", docFile, strings.Join(missing, ", "))
	}
	return nil
}

// Command is one line of a program's list of commands.
type Command struct {
	Name, Args, Help string
}

// PrintUsage writes a program's help to fs's output: head (which ends by
// introducing the commands), the commands as a table, the flags (which may
// stand before or after the command) and -h, the environment variable
// EnvDSN, then tail.
func PrintUsage(fs *flag.FlagSet, head string, commands []Command, tail string) {
	w := fs.Output()
	fmt.Fprint(w, head)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.Name, c.Args, c.Help)
	}
	_ = tw.Flush()
	fmt.Fprint(w, "\nFlags (before or after the command):\n")
	fs.PrintDefaults()
	fmt.Fprint(w, "  -h, -help\n    \tprint this help\n\nEnvironment:\n  "+EnvDSN+"   the DSN when --dsn is not given\n\n")
	fmt.Fprint(w, tail)
}

// Version is a program's version line, read from its build info: the main
// module's version (a release tag, or "(devel)" for a build from a
// checkout), the VCS revision and time when the build recorded them
// ("+dirty" for a modified tree), and the Go version.
func Version(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (no build info)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	line := program + " " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		line += " " + rev
		if at != "" {
			line += " " + at
		}
	}
	return line + " " + bi.GoVersion
}

// ParseFailed ends a run whose flags did not parse (err from Parse, with
// fs.Usage doing nothing): for -h or -help it prints the whole help and
// returns 0; otherwise the flag package has already printed what is wrong
// in one line, and it adds the one-line usage short and returns 2.
func ParseFailed(err error, fs *flag.FlagSet, help func(), short string) int {
	if errors.Is(err, flag.ErrHelp) {
		help()
		return 0
	}
	fmt.Fprintln(fs.Output(), short)
	return 2
}

// Signals cancels a context on SIGINT or SIGTERM, as signal.NotifyContext
// does, and remembers which signal came, so that a program interrupted at
// the terminal exits 130 (128 + SIGINT) like other terminal tools.
type Signals struct {
	stop func()
	got  atomic.Int32 // the signal's number, 0 until one arrives
}

// NotifySignals returns a context that ends at the first SIGINT or SIGTERM.
// After that first signal it stops listening, so a second one kills the
// process at once, as usual. Call Stop when done.
func NotifySignals(parent context.Context) (context.Context, *Signals) {
	s := &Signals{}
	ctx, cancel := context.WithCancel(context.WithValue(parent, signalsKey{}, s))
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}
	go func() {
		select {
		case sig := <-ch:
			if n, ok := sig.(syscall.Signal); ok {
				s.got.Store(int32(n))
			}
			signal.Stop(ch)
			cancel()
		case <-done:
		}
	}()
	return ctx, s
}

// Stop stops listening for signals and releases the context.
func (s *Signals) Stop() { s.stop() }

// Received reports the signal that arrived, 0 when none.
func (s *Signals) Received() syscall.Signal { return syscall.Signal(s.got.Load()) }

// ExitCode is code, or 128 + the signal's number when a signal arrived and
// code reports a failure (an interrupted run is not a success).
func (s *Signals) ExitCode(code int) int {
	if n := s.got.Load(); n != 0 && code != 0 {
		return 128 + int(n)
	}
	return code
}

// signalsKey is the context key under which NotifySignals's context
// carries its Signals.
type signalsKey struct{}

// ExitCodeFor is the exit code a program whose run ends with code exits
// with, when ctx comes from NotifySignals (its Signals' ExitCode; for
// another context, code): what a --json answer reports as "exitCode", so
// that an interrupted run says 130 where it exits 130.
func ExitCodeFor(ctx context.Context, code int) int {
	if s, ok := ctx.Value(signalsKey{}).(*Signals); ok {
		return s.ExitCode(code)
	}
	return code
}

// WantsJSON reports whether args, which did not parse, ask for --json:
// a program answers even a flag it cannot parse as JSON on stdout then.
func WantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}

// WriteAnswer writes a --json answer on w, indented, with a newline:
// {"command":command,"ok":ok, then the members of body}, body being a
// JSON object (nil or {}: none). Every answer of the commands begins with
// command and ok, so that a reader sees the same shape every time.
func WriteAnswer(w io.Writer, command string, ok bool, body []byte) {
	var name bytes.Buffer
	enc := json.NewEncoder(&name)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(command)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"command":%s,"ok":%t`, bytes.TrimSpace(name.Bytes()), ok)
	if len(body) >= 2 {
		if inner := bytes.TrimSpace(body[1 : len(body)-1]); len(inner) > 0 {
			b.WriteByte(',')
			b.Write(inner)
		}
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		out = b
	}
	out.WriteByte('\n')
	_, _ = w.Write(out.Bytes())
}
