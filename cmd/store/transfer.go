package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// importJSON is an import's outcome in --json output.
func importJSON(st dump.ImportStats) map[string]any {
	return map[string]any{
		"entries": st.Entries, "inserted": st.Inserted, "unchanged": st.Unchanged,
		"overwritten": st.Overwritten, "skipped": st.Skipped, "expired": st.Expired,
		"namespaces": st.Namespaces, "namespacesCreated": st.NamespacesCreated,
		"namespacesUpdated": st.NamespacesUpdated, "lines": st.Lines,
		"lastCommittedLine": st.LastCommittedLine, "bytes": st.Bytes,
		"seconds": st.Elapsed.Seconds(),
	}
}

// summary prints the outcome of export, import or copy: as JSON on stdout
// (--json; on stderr when stdout carries the export), or as a line on
// stderr unless --quiet.
func (c *cli) summary(dataOnStdout bool, v map[string]any, format string, args ...any) {
	if c.json {
		if dataOnStdout {
			enc := c.stdout
			c.stdout = c.stderr
			c.printOK(v)
			c.stdout = enc
			return
		}
		c.printOK(v)
		return
	}
	if !c.quiet {
		fmt.Fprintf(c.stderr, format+"\n", args...)
	}
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f/s", float64(n)/d.Seconds())
}

func cmdExport(ctx context.Context, c *cli, args []string) error {
	w := c.stdout
	toStdout := len(args) == 0 || args[0] == "-"
	var out *exportFile
	if !toStdout {
		var err error
		if out, err = createExportFile(args[0]); err != nil {
			return err
		}
		w = out.f
	}
	var st dump.Stats
	err := c.withStore(ctx, false, func(s *sqlstore.Store) error {
		p := c.newProgress("export", 0)
		var err error
		st, err = dump.Export(ctx, s, w, dump.ExportOptions{Namespace: c.namespace, Progress: p.update})
		p.finish(err)
		return err
	})
	if out != nil {
		err = out.finish(err)
	}
	if err != nil {
		return err
	}
	c.summary(toStdout, map[string]any{"namespaces": st.Namespaces, "entries": st.Entries,
		"bytes": st.Bytes, "seconds": st.Elapsed.Seconds()},
		"exported %s in %s (%s) in %v, %s",
		entries(st.Entries), namespaces(st.Namespaces), humanBytes(st.Bytes), st.Elapsed.Round(time.Millisecond), rate(st.Entries, st.Elapsed))
	return nil
}

// exportFile is an export's FILE while it is written: a temporary file
// beside it, renamed over it once the export is complete, so that a failed
// or interrupted export leaves no partial file and an earlier FILE as it
// was. A FILE that exists and is not a regular file (a pipe, /dev/stdout)
// is written directly.
type exportFile struct {
	f      *os.File
	path   string
	direct bool
}

// createExportFile creates the temporary file for path, with path's mode
// when it exists, else 0600 (an export holds the whole store).
func createExportFile(path string) (*exportFile, error) {
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return nil, err
			}
			return &exportFile{f: f, path: path, direct: true}, nil
		}
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	return &exportFile{f: f, path: path}, nil
}

// finish closes the file and, when the export succeeded (err is nil),
// syncs it and renames it over path; otherwise it removes it. It returns
// the first error.
func (e *exportFile) finish(err error) error {
	if e.direct {
		if cerr := e.f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if err == nil {
		err = e.f.Sync()
	}
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(e.f.Name(), e.path)
	}
	if err != nil {
		_ = os.Remove(e.f.Name())
	}
	return err
}

func (c *cli) conflictMode() (sqlstore.ConflictMode, error) {
	m, err := sqlstore.ParseConflictMode(c.onConflict)
	if err != nil {
		return m, usagef("--on-conflict %q: want fail, skip or overwrite", c.onConflict)
	}
	return m, nil
}

func cmdImport(ctx context.Context, c *cli, args []string) error {
	mode, err := c.conflictMode()
	if err != nil {
		return err
	}
	if c.batchSize <= 0 {
		return usagef("--batch-size must be positive")
	}
	r := c.stdin
	var size int64
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		r = f
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		} else {
			r = newCtxReader(ctx, f) // a FIFO or a device: read until ctx ends
		}
	}
	o := dump.ImportOptions{OnConflict: mode, BatchSize: c.batchSize, Check: c.check}
	var st dump.ImportStats
	runImport := func(s *sqlstore.Store) error {
		verb := "import"
		if c.check {
			verb = "check"
		}
		p := c.newProgress(verb, size)
		o.Progress = p.update
		st, err = dump.Import(ctx, s, r, o)
		p.finish(err)
		return err
	}
	if c.check {
		// The check writes nothing and needs no database, unless one is
		// named for its maximum value size.
		var s *sqlstore.Store
		if c.dsnSet {
			s, err = c.open(ctx, c.dsn, false)
			if err != nil {
				return err
			}
			defer func() { _ = s.Close() }()
		}
		if err := runImport(s); err != nil {
			return err
		}
		v := importJSON(st)
		v["check"] = true
		c.summary(false, v, "checked %s: %s and %s, trailer and checksum ok; nothing written",
			plural(st.Lines, "line", "lines"), namespaces(st.Namespaces), entries(st.Entries))
		return nil
	}
	if err := c.withStore(ctx, true, runImport); err != nil {
		return err
	}
	v := importJSON(st)
	c.summary(false, v, "imported %s (%d new, %d unchanged, %d overwritten, %d skipped, %d expired) and %s in %v, %s",
		entries(st.Entries), st.Inserted, st.Unchanged, st.Overwritten, st.Skipped, st.Expired, namespaces(st.Namespaces),
		st.Elapsed.Round(time.Millisecond), rate(st.Entries, st.Elapsed))
	return nil
}

func cmdCopy(ctx context.Context, c *cli, _ []string) error {
	// The side not given is --dsn's (or STORAGE_DSN's), when one was given.
	if c.dsnSet {
		if c.from == "" {
			c.from = c.dsn
		} else if c.to == "" {
			c.to = c.dsn
		}
	}
	if c.from == "" || c.to == "" {
		return usagef("copy needs --from DSN and --to DSN (one of them may come from --dsn or STORAGE_DSN)")
	}
	if c.from == c.to {
		return usagef("copy: --from and --to are the same DSN")
	}
	mode, err := c.conflictMode()
	if err != nil {
		return err
	}
	from, err := c.open(ctx, c.from, false)
	if err != nil {
		return fmt.Errorf("open --from: %w", err)
	}
	defer func() { _ = from.Close() }()
	// A namespace the source does not have fails here, before the target
	// is opened (created, migrated): a copy that cannot start makes nothing.
	if err := dump.CheckSource(ctx, from, c.namespace); err != nil {
		return err
	}
	to, err := c.open(ctx, c.to, true)
	if err != nil {
		return fmt.Errorf("open --to: %w", err)
	}
	defer func() { _ = to.Close() }()
	p := c.newProgress("copy", 0)
	st, err := dump.Copy(ctx, from, to, dump.CopyOptions{Namespace: c.namespace, OnConflict: mode,
		BatchSize: c.batchSize, Progress: p.update})
	p.finish(err)
	if err != nil {
		return err
	}
	v := importJSON(st)
	c.summary(false, v, "copied %s (%d new, %d unchanged, %d overwritten, %d skipped, %d expired) and %s in %v, %s",
		entries(st.Entries), st.Inserted, st.Unchanged, st.Overwritten, st.Skipped, st.Expired, namespaces(st.Namespaces),
		st.Elapsed.Round(time.Millisecond), rate(st.Entries, st.Elapsed))
	return nil
}

// plural is "1 entry", "2 entries".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func entries(n int64) string    { return plural(n, "entry", "entries") }
func namespaces(n int64) string { return plural(n, "namespace", "namespaces") }
