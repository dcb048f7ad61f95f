package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/mycelia-kernel/storage/internal/cmdline"
	"github.com/mycelia-kernel/storage/routes"
)

// readPage is how many keys, entries or namespaces list, query and ns list
// read at a time: they print each page as it is read, so that a command
// without --limit holds one page, not every result.
var readPage = 500

// jsonStream is a --json answer whose list is printed as it is read:
// {"command":…, HEAD…, "LIST":[…], TAIL…, "ok":…}. "ok" comes last, so that
// a failure after the first page still ends one valid object, with "ok":
// false, "error" and "exitCode" (printedError).
type jsonStream struct {
	c   *cli
	sep string
}

// startStream prints the answer up to the list's opening bracket: command,
// then head's members in order (name, value pairs), then the list's name.
func (c *cli) startStream(list string, head ...any) *jsonStream {
	fmt.Fprintf(c.stdout, "{\n  \"command\": %s", mustMarshal(c.cmd))
	for i := 0; i+1 < len(head); i += 2 {
		fmt.Fprintf(c.stdout, ",\n  %s: %s", mustMarshal(head[i]), mustMarshal(head[i+1]))
	}
	fmt.Fprintf(c.stdout, ",\n  %s: [", mustMarshal(list))
	return &jsonStream{c: c}
}

// item prints one element of the list.
func (j *jsonStream) item(v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, b, "    ", "  "); err != nil {
		return err
	}
	fmt.Fprintf(j.c.stdout, "%s\n    %s", j.sep, ind.Bytes())
	j.sep = ","
	return nil
}

// end closes the list, prints tail's members (name, value pairs) and "ok",
// and returns err as a printedError when there is one (the answer says
// it, with the exit code the process exits with: 130 after Ctrl-C, as
// fail's answers).
func (j *jsonStream) end(err error, tail ...any) error {
	if j.sep != "" {
		fmt.Fprint(j.c.stdout, "\n  ")
	}
	fmt.Fprint(j.c.stdout, "]")
	for i := 0; i+1 < len(tail); i += 2 {
		fmt.Fprintf(j.c.stdout, ",\n  %s: %s", mustMarshal(tail[i]), mustMarshal(tail[i+1]))
	}
	if err != nil {
		fmt.Fprintf(j.c.stdout, ",\n  \"ok\": false,\n  \"error\": %s,\n  \"code\": %s,\n  \"exitCode\": %d\n}\n",
			mustMarshal(err.Error()), mustMarshal(routes.CodeOf(err)), cmdline.ExitCodeFor(j.c.ctx, exitCode(err)))
		return printedError{err}
	}
	fmt.Fprint(j.c.stdout, ",\n  \"ok\": true\n}\n")
	return nil
}

func mustMarshal(v any) []byte {
	b, err := marshal(v)
	if err != nil {
		return []byte("null")
	}
	return b
}

// printedError is an error whose --json answer the command has printed:
// fail only sets the exit code.
type printedError struct{ err error }

func (e printedError) Error() string { return e.err.Error() }
func (e printedError) Unwrap() error { return e.err }

// pages reads a listing a page at a time: read returns a page of at most
// n results after cursor (offset applies to the first page only) and the
// cursor after it ("" when no more remain); emit prints the page. With
// limit > 0 it stops after limit results and returns the cursor to
// continue from ("" when none remain), which is then the next page's.
func pages(limit int, cursor string, read func(n int, cursor string, first bool) (int, string, error), emit func() error) (string, error) {
	first := true
	for {
		n := readPage
		if limit > 0 {
			n = min(n, limit)
		}
		got, next, err := read(n, cursor, first)
		if err != nil {
			return "", err
		}
		first = false
		if err := emit(); err != nil {
			return "", err
		}
		cursor = next
		if limit > 0 {
			limit -= got
			if limit <= 0 {
				return cursor, nil
			}
		}
		if cursor == "" {
			return "", nil
		}
	}
}
