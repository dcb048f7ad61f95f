package cmdline_test

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/cmdline"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		pos  []string
		json bool
		n    string
	}{
		{"none", nil, nil, false, ""},
		{"flags first", []string{"--json", "-n", "x", "get", "k"}, []string{"get", "k"}, true, "x"},
		{"flags after", []string{"get", "k", "--json", "-n=x"}, []string{"get", "k"}, true, "x"},
		{"flags between", []string{"get", "--json", "k"}, []string{"get", "k"}, true, ""},
		{"double dash", []string{"set", "--", "-n", "--json"}, []string{"set", "-n"}, true, ""},
		{"two double dashes", []string{"set", "--", "--", "--json", "-n"}, []string{"set", "--json", "-n"}, false, ""},
		{"flag then double dash", []string{"-n", "y", "--", "a"}, []string{"a"}, false, "y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			json := fs.Bool("json", false, "")
			n := fs.String("n", "", "")
			pos, err := cmdline.Parse(fs, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tc.pos) || *json != tc.json || *n != tc.n {
				t.Errorf("Parse(%q) = %q, json %v, n %q; want %q, %v, %q", tc.args, pos, *json, *n, tc.pos, tc.json, tc.n)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		help bool
	}{
		{[]string{"get", "-h"}, true},
		{[]string{"-help"}, true},
		{[]string{"get", "--nope"}, false},
		{[]string{"-n"}, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("n", "", "")
		pos, err := cmdline.Parse(fs, tc.args)
		if err == nil || errors.Is(err, flag.ErrHelp) != tc.help || pos != nil {
			t.Errorf("Parse(%q) = %q, %v; want an error, ErrHelp %v", tc.args, pos, err, tc.help)
		}
	}
}

func TestDSN(t *testing.T) {
	env := func(v string) func(string) string {
		return func(name string) string {
			if name != cmdline.EnvDSN {
				t.Errorf("getenv(%q), want %s", name, cmdline.EnvDSN)
			}
			return v
		}
	}
	for _, tc := range []struct {
		flag, env, want string
		given           bool
	}{
		{"sqlite:a.db", "sqlite:b.db", "sqlite:a.db", true},
		{"", "sqlite:b.db", "sqlite:b.db", true},
		{"", "", cmdline.DefaultDSN, false},
	} {
		dsn, given := cmdline.DSN(tc.flag, env(tc.env))
		if dsn != tc.want || given != tc.given {
			t.Errorf("DSN(%q) with env %q = %q, %v; want %q, %v", tc.flag, tc.env, dsn, given, tc.want, tc.given)
		}
	}
	if cmdline.DefaultDSN != "sqlite:storage.db" {
		t.Errorf("DefaultDSN = %q", cmdline.DefaultDSN)
	}
}

func TestPrintUsage(t *testing.T) {
	var b strings.Builder
	fs := flag.NewFlagSet("prog", flag.ContinueOnError)
	fs.SetOutput(&b)
	fs.Bool("json", false, "print JSON")
	cmdline.PrintUsage(fs, "Usage: prog COMMAND\n\nCommands:\n", []cmdline.Command{
		{Name: "get", Args: "KEY", Help: "print an entry"},
		{Name: "status", Help: "print the status"},
	}, "Exit status: 0 ok.\n")
	want := "Usage: prog COMMAND\n\nCommands:\n" +
		"  get KEY  print an entry\n" +
		"  status   print the status\n" +
		"\nFlags (before or after the command):\n" +
		"  -json\n    \tprint JSON\n" +
		"  -h, -help\n    \tprint this help\n" +
		"\nEnvironment:\n  STORAGE_DSN   the DSN when --dsn is not given\n\n" +
		"Exit status: 0 ok.\n"
	if got := b.String(); got != want {
		t.Errorf("PrintUsage wrote\n%q\nwant\n%q", got, want)
	}
}
