package dump_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// fixture is a small export split into lines (without their newlines).
type fixture struct {
	lines []string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	src := openClocked(t, backends[0].DSN(t))
	seed(t, src, 120)
	b := exportBytes(t, src, dump.ExportOptions{})
	return fixture{lines: strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")}
}

func (f fixture) with(line int, text string) []byte {
	ls := append([]string(nil), f.lines...)
	ls[line-1] = text
	return []byte(strings.Join(ls, "\n") + "\n")
}

// entriesBefore counts the entry lines before line.
func (f fixture) entriesBefore(line int) int64 {
	var n int64
	for _, l := range f.lines[:line-1] {
		if strings.HasPrefix(l, `{"type":"entry"`) {
			n++
		}
	}
	return n
}

// entryLine returns the line number of the i-th entry line (from 0).
func (f fixture) entryLine(t *testing.T, i int) int {
	t.Helper()
	for n, l := range f.lines {
		if strings.HasPrefix(l, `{"type":"entry"`) {
			if i == 0 {
				return n + 1
			}
			i--
		}
	}
	t.Fatal("no such entry line")
	return 0
}

func size(t *testing.T, s *sqlstore.Store) int64 {
	t.Helper()
	st, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Size
}

// checkFailure checks that err is an *ImportError at line, wrapping want,
// and that what it says was imported is exactly what the store holds.
func checkFailure(t *testing.T, s *sqlstore.Store, err error, line int64, want error, committed int64) *dump.ImportError {
	t.Helper()
	var ie *dump.ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want *dump.ImportError", err, err)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %v, want it to wrap %v", err, want)
	}
	if ie.Line != line {
		t.Errorf("error at line %d, want %d: %v", ie.Line, line, err)
	}
	if ie.Committed.Entries != committed {
		t.Errorf("error says %d entries committed, want %d: %v", ie.Committed.Entries, committed, err)
	}
	if got := size(t, s); got != ie.Committed.Entries {
		t.Errorf("the store holds %d entries, the error says %d were imported: %v", got, ie.Committed.Entries, err)
	}
	checkCounts(t, s)
	return ie
}

func TestImportMalformed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mid := f.entryLine(t, 55)
	entry := f.lines[mid-1]
	cases := []struct {
		name string
		line int
		text string
		want error
	}{
		{"not json", mid, `{"type":"entry",`, dump.ErrMalformed},
		{"garbage", mid, `hello`, dump.ErrMalformed},
		{"unknown type", mid, `{"type":"blob"}`, dump.ErrMalformed},
		{"no type", mid, `{"key":"x"}`, dump.ErrMalformed},
		{"unknown field", mid, strings.Replace(entry, `"type":"entry"`, `"type":"entry","color":"red"`, 1), dump.ErrMalformed},
		{"missing value", mid, `{"type":"entry","namespace":"alpha","key":"x","metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, dump.ErrMalformed},
		{"missing key", mid, `{"type":"entry","namespace":"alpha","value":1,"metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, dump.ErrMalformed},
		{"empty key", mid, `{"type":"entry","namespace":"alpha","key":"","value":1,"metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, storage.ErrInvalidKey},
		{"bad namespace", mid, `{"type":"entry","namespace":"a/b","key":"x","value":1,"metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, storage.ErrInvalidNamespace},
		{"duplicate object key", mid, `{"type":"entry","namespace":"alpha","key":"x","value":{"a":1,"a":2},"metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, storage.ErrInvalidValue},
		{"metadata not object", mid, `{"type":"entry","namespace":"alpha","key":"x","value":1,"metadata":[],"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, storage.ErrInvalidValue},
		{"version 0", mid, `{"type":"entry","namespace":"alpha","key":"x","value":1,"metadata":{},"version":0,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, storage.ErrInvalidValue},
		{"expiry past 9999 in UTC", mid, `{"type":"entry","namespace":"alpha","key":"x","value":1,"metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z","expiresAt":"9999-12-31T23:00:00-05:00"}`, storage.ErrInvalidValue},
		{"created past 9999 in UTC", mid, `{"type":"entry","namespace":"alpha","key":"x","value":1,"metadata":{},"version":1,"createdAt":"9999-12-31T23:00:00-05:00","updatedAt":"2024-01-01T00:00:00Z"}`, storage.ErrInvalidValue},
		{"namespace created past 9999 in UTC", 2, `{"type":"namespace","name":"alpha","metadata":{},"createdAt":"9999-12-31T23:00:00-05:00","entries":0}`, storage.ErrInvalidValue},
		{"bad time", mid, `{"type":"entry","namespace":"alpha","key":"x","value":1,"metadata":{},"version":1,"createdAt":"yesterday","updatedAt":"2024-01-01T00:00:00Z"}`, dump.ErrMalformed},
		{"two values", mid, entry + ` {}`, dump.ErrMalformed},
		{"second header", mid, f.lines[0], dump.ErrMalformed},
		{"bad header", 1, `{"type":"header","format":"other","version":1}`, dump.ErrMalformed},
		{"header version", 1, strings.Replace(f.lines[0], `"version":2`, `"version":9`, 1), dump.ErrMalformed},
		{"empty line", mid, ``, dump.ErrMalformed},
		{"lone surrogate key", mid, `{"type":"entry","namespace":"alpha","key":"sur\ud800","value":1,"metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, storage.ErrInvalidKey},
		{"lone low surrogate key", mid, `{"type":"entry","namespace":"alpha","key":"\udfffx","value":1,"metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, storage.ErrInvalidKey},
		{"lone surrogate value", mid, `{"type":"entry","namespace":"alpha","key":"x","value":"\ud800","metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z"}`, storage.ErrInvalidValue},
		{"lone surrogate actor", mid, `{"type":"entry","namespace":"alpha","key":"x","value":1,"metadata":{},"version":1,"createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z","createdBy":"\ud800"}`, dump.ErrMalformed},
		{"bad namespace line", 2, `{"type":"namespace","name":"no/slash","metadata":{},"createdAt":"2024-01-01T00:00:00Z","entries":0}`, storage.ErrInvalidNamespace},
		{"changed value", mid, strings.Replace(entry, `"version":`, `"createdBy":"mallory","version":`, 1), dump.ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := teststore.Open(t, backends[0].DSN(t))
			_, err := dump.Import(ctx, s, bytes.NewReader(f.with(c.line, c.text)), dump.ImportOptions{BatchSize: 10})
			line, committed := int64(c.line), f.entriesBefore(c.line)
			if errors.Is(c.want, dump.ErrCorrupt) { // found at the trailer, after every line
				line, committed = int64(len(f.lines)), f.entriesBefore(len(f.lines))
			}
			ie := checkFailure(t, s, err, line, c.want, committed)
			if ie.RolledBackFrom != 0 {
				t.Errorf("a malformed line rolled back lines %d-%d; the valid lines before it should be committed", ie.RolledBackFrom, ie.RolledBackTo)
			}
			if !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), "imported ") {
				t.Errorf("message %q does not say the line and what was imported", err)
			}

			// The check mode finds the same fault and writes nothing.
			empty := teststore.Open(t, backends[0].DSN(t))
			_, err = dump.Import(ctx, empty, bytes.NewReader(f.with(c.line, c.text)), dump.ImportOptions{Check: true})
			if !errors.Is(err, c.want) {
				t.Errorf("check: %v, want %v", err, c.want)
			}
			if n := size(t, empty); n != 0 {
				t.Errorf("check wrote %d entries", n)
			}
		})
	}
	t.Run("line after trailer", func(t *testing.T) {
		s := teststore.Open(t, backends[0].DSN(t))
		b := []byte(strings.Join(f.lines, "\n") + "\n" + f.lines[5] + "\n")
		_, err := dump.Import(ctx, s, bytes.NewReader(b), dump.ImportOptions{})
		_ = checkFailure(t, s, err, int64(len(f.lines)+1), dump.ErrMalformed, f.entriesBefore(len(f.lines)))
	})
	t.Run("duplicate key in a batch", func(t *testing.T) {
		s := teststore.Open(t, backends[0].DSN(t))
		l := f.entryLine(t, 3)
		b := f.with(l+1, f.lines[l-1])
		_, err := dump.Import(ctx, s, bytes.NewReader(b), dump.ImportOptions{BatchSize: 1000})
		_ = checkFailure(t, s, err, int64(l+1), dump.ErrMalformed, f.entriesBefore(l+1))
	})
}

func TestImportTruncated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	whole := []byte(strings.Join(f.lines, "\n") + "\n")
	cut := f.entryLine(t, 70)
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			// Cut in the middle of a line: that line is malformed.
			s := teststore.Open(t, b.DSN(t))
			prefix := strings.Join(f.lines[:cut-1], "\n") + "\n" + f.lines[cut-1][:40]
			_, err := dump.Import(ctx, s, strings.NewReader(prefix), dump.ImportOptions{BatchSize: 16})
			_ = checkFailure(t, s, err, int64(cut), dump.ErrMalformed, f.entriesBefore(cut))

			// Cut at a line boundary: every line is imported, and the file
			// is reported truncated.
			s2 := teststore.Open(t, b.DSN(t))
			prefix = strings.Join(f.lines[:cut], "\n") + "\n"
			_, err = dump.Import(ctx, s2, strings.NewReader(prefix), dump.ImportOptions{BatchSize: 16})
			_ = checkFailure(t, s2, err, 0, dump.ErrTruncated, f.entriesBefore(cut+1))

			// Rerunning with the whole file finishes the job.
			for _, st := range []*sqlstore.Store{s, s2} {
				before := size(t, st)
				res, err := dump.Import(ctx, st, bytes.NewReader(whole), dump.ImportOptions{BatchSize: 16})
				if err != nil {
					t.Fatal(err)
				}
				if int64(res.Unchanged) != before || res.Inserted != 120-int(before) {
					t.Errorf("resume: %+v, had %d entries", res.RestoreResult, before)
				}
				if size(t, st) != 120 {
					t.Errorf("after resume: %d entries", size(t, st))
				}
				checkCounts(t, st)
			}
		})
	}
}

func TestImportCancelled(t *testing.T) {
	f := newFixture(t)
	whole := []byte(strings.Join(f.lines, "\n") + "\n")
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			s := teststore.Open(t, b.DSN(t))
			ctx, cancel := context.WithCancel(context.Background())
			batches := 0
			_, err := dump.Import(ctx, s, bytes.NewReader(whole), dump.ImportOptions{BatchSize: 16,
				Progress: func(dump.Progress) {
					if batches++; batches == 3 {
						cancel()
					}
				}})
			cancel()
			var ie *dump.ImportError
			if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want an *ImportError wrapping context.Canceled", err)
			}
			if got := size(t, s); got != ie.Committed.Entries || got == 0 || got == 120 {
				t.Fatalf("store holds %d entries, error says %d: %v", got, ie.Committed.Entries, err)
			}
			checkCounts(t, s)
			res, err := dump.Import(context.Background(), s, bytes.NewReader(whole), dump.ImportOptions{})
			if err != nil || int64(res.Unchanged) != ie.Committed.Entries || size(t, s) != 120 {
				t.Fatalf("resume: %+v, %v", res, err)
			}
		})
	}
}

// cancelAtEOF is an input that ends when the run is interrupted, as a pipe
// does when Ctrl-C ends the program feeding it: it cancels, then reports
// the end of the input.
type cancelAtEOF struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c cancelAtEOF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.cancel()
	}
	return n, err
}

// TestImportInterruptedInput: an input that ends because the import was
// interrupted is reported as the interruption (context.Canceled), not as
// a truncated file, whether it ended after the header or before it.
func TestImportInterruptedInput(t *testing.T) {
	f := newFixture(t)
	for _, lines := range []int{0, 5} {
		t.Run(fmt.Sprint(lines, " lines"), func(t *testing.T) {
			s := teststore.Open(t, backends[0].DSN(t))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			in := ""
			if lines > 0 {
				in = strings.Join(f.lines[:lines], "\n") + "\n"
			}
			_, err := dump.Import(ctx, s, cancelAtEOF{strings.NewReader(in), cancel}, dump.ImportOptions{BatchSize: 16})
			var ie *dump.ImportError
			if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) || errors.Is(err, dump.ErrTruncated) {
				t.Fatalf("error %v, want an *ImportError wrapping context.Canceled and not ErrTruncated", err)
			}
		})
	}
}

func TestImportConflicts(t *testing.T) {
	f := newFixture(t)
	whole := []byte(strings.Join(f.lines, "\n") + "\n")
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			prepare := func(t *testing.T) *sqlstore.Store {
				s := teststore.Open(t, b.DSN(t))
				if err := s.Set(ctx, "k/000010", "mine", storage.InNamespace("alpha")); err != nil {
					t.Fatal(err)
				}
				return s
			}
			var conflictLine int
			for i, l := range f.lines {
				if strings.Contains(l, `"namespace":"alpha","key":"k/000010"`) {
					conflictLine = i + 1
				}
			}
			if conflictLine == 0 {
				t.Fatal("no alpha k/000010 line")
			}

			s := prepare(t)
			_, err := dump.Import(ctx, s, bytes.NewReader(whole), dump.ImportOptions{BatchSize: 16})
			var ie *dump.ImportError
			if !errors.As(err, &ie) || !errors.Is(err, storage.ErrAlreadyExists) || ie.Line != int64(conflictLine) {
				t.Fatalf("error %v, want a conflict at line %d", err, conflictLine)
			}
			if ie.RolledBackFrom == 0 || ie.RolledBackFrom > ie.Line || ie.RolledBackTo < ie.Line {
				t.Errorf("rolled back %d-%d, want a batch holding line %d", ie.RolledBackFrom, ie.RolledBackTo, ie.Line)
			}
			if !strings.Contains(err.Error(), `key "k/000010"`) || !strings.Contains(err.Error(), "rolled back") {
				t.Errorf("message %q", err)
			}
			// What the store holds is what was imported, plus the key that was there.
			if got := size(t, s); got != ie.Committed.Entries+1 {
				t.Errorf("store holds %d, error says %d imported (+1 there before)", got, ie.Committed.Entries)
			}
			checkCounts(t, s)
			// Resume with skip: the rest goes in, the key keeps its value.
			res, err := dump.Import(ctx, s, bytes.NewReader(whole), dump.ImportOptions{OnConflict: sqlstore.ConflictSkip})
			if err != nil || res.Skipped != 1 || size(t, s) != 120 {
				t.Fatalf("skip: %+v %v", res, err)
			}
			e, err := s.Get(ctx, "k/000010", storage.InNamespace("alpha"))
			if err != nil || string(e.Value) != `"mine"` {
				t.Fatalf("after skip: %s %v", e.Value, err)
			}
			// Overwrite: the record replaces it, version and all.
			res, err = dump.Import(ctx, s, bytes.NewReader(whole), dump.ImportOptions{OnConflict: sqlstore.ConflictOverwrite})
			if err != nil || res.Overwritten != 1 || res.Unchanged != 119 {
				t.Fatalf("overwrite: %+v %v", res, err)
			}
			e, err = s.Get(ctx, "k/000010", storage.InNamespace("alpha"))
			if err != nil || string(e.Value) == `"mine"` {
				t.Fatalf("after overwrite: %s %v", e.Value, err)
			}
			checkCounts(t, s)

			// A namespace with entries and other metadata is a conflict too.
			s3 := teststore.Open(t, b.DSN(t))
			if err := s3.CreateNamespace(ctx, "alpha", storage.WithNamespaceMetadata(map[string]any{"other": 1})); err != nil {
				t.Fatal(err)
			}
			if err := s3.Set(ctx, "zzz", 1, storage.InNamespace("alpha")); err != nil {
				t.Fatal(err)
			}
			_, err = dump.Import(ctx, s3, bytes.NewReader(whole), dump.ImportOptions{})
			if !errors.Is(err, storage.ErrAlreadyExists) || !strings.Contains(err.Error(), `namespace "alpha"`) {
				t.Fatalf("namespace conflict: %v", err)
			}
		})
	}
}

func TestImportCapacity(t *testing.T) {
	f := newFixture(t)
	whole := []byte(strings.Join(f.lines, "\n") + "\n")
	s := teststore.Open(t, backends[0].DSN(t), sqlstore.WithCapacity(50))
	_, err := dump.Import(context.Background(), s, bytes.NewReader(whole), dump.ImportOptions{BatchSize: 16})
	var ie *dump.ImportError
	if !errors.As(err, &ie) || !errors.Is(err, storage.ErrCapacityExceeded) {
		t.Fatalf("error %v, want capacity exceeded", err)
	}
	if got := size(t, s); got != ie.Committed.Entries || got > 50 {
		t.Fatalf("store holds %d, error says %d", got, ie.Committed.Entries)
	}
}
