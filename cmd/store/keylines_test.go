package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestKeyLines: list prints one key a line, and query's table one entry a
// line, whatever the key holds: a key with a newline, a carriage return or
// a tab, or one that begins with a quote, is printed Go-quoted, and reads
// back with strconv.Unquote; a plain key (spaces and letters of any script
// included) is printed as it is. Before the fix a key with a newline was two
// lines of list, two keys that do not exist for a script reading it.
func TestKeyLines(t *testing.T) {
	env := map[string]string{"STORAGE_DSN": testdb.SQLiteFile(t)}
	keys := []string{"plain", "with space", "ключ", "a\nb", "cr\rx", "tab\tkey", `"quoted"`, "bell\a"}
	for _, k := range keys {
		runCLI(t, env, "", "set", k, `1`).want(t, exitOK)
	}
	plain := map[string]bool{"plain": true, "with space": true, "ключ": true}
	decode := func(line string) string {
		if plain[line] {
			return line
		}
		k, err := strconv.Unquote(line)
		if err != nil {
			t.Errorf("line %q is neither a plain key nor a quoted one: %v", line, err)
		}
		return k
	}
	lines := strings.Split(strings.TrimSuffix(runCLI(t, env, "", "list").want(t, exitOK).stdout, "\n"), "\n")
	var got []string
	for _, l := range lines {
		got = append(got, decode(l))
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("list printed %d lines %q, read back as %q; want the %d keys %q", len(lines), lines, got, len(want), want)
	}

	lines = strings.Split(strings.TrimSuffix(runCLI(t, env, "", "query").want(t, exitOK).stdout, "\n"), "\n")
	if len(lines) != len(keys)+1 {
		t.Fatalf("query printed %d lines, want a header and %d entries:\n%s", len(lines), len(keys), strings.Join(lines, "\n"))
	}
	got = got[:0]
	for _, l := range lines[1:] {
		key, _, _ := strings.Cut(strings.TrimRight(l, " "), "  ")
		got = append(got, decode(key))
	}
	if !slices.Equal(got, want) {
		t.Errorf("query's KEY column read back as %q; want %q", got, want)
	}

	out := runCLI(t, env, "", "get", "a\nb").want(t, exitOK).stdout
	if !strings.Contains(out, "key:       \"a\\nb\"\n") {
		t.Errorf("get of key %q: want its key line quoted, got\n%s", "a\nb", out)
	}
}
