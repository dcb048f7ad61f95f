// Package cmdline holds what the command-line programs (cmd/store,
// cmd/migrate) share: flags that may stand before and after the command,
// and the choice of the DSN to open.
package cmdline

import (
	"flag"
	"fmt"
	"text/tabwriter"
)

// EnvDSN names the variable holding the DSN when --dsn is not given.
const EnvDSN = "STORAGE_DSN"

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
