package dump

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"reflect"
	"strconv"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// DefaultBatchSize is the number of entries Import writes per transaction.
const DefaultBatchSize = 1000

// batchBytes bounds a batch's JSON: a batch is written when it holds
// BatchSize entries or this many bytes of keys, values and metadata,
// whichever comes first, so that large values keep memory bounded.
const batchBytes = 4 << 20

// ImportOptions are the options of Import; the zero value writes batches of
// DefaultBatchSize entries and fails on the first conflicting key.
type ImportOptions struct {
	// OnConflict is what to do with an entry whose key already holds other
	// content. An entry whose key holds identical content is always skipped
	// (counted as unchanged), which makes Import idempotent.
	OnConflict sqlstore.ConflictMode
	// BatchSize is the number of entries per transaction (0 =
	// DefaultBatchSize); a batch is also written early when its values
	// reach 4 MiB.
	BatchSize int
	// Check reads and validates the whole file, trailer and checksum
	// included, and writes nothing; the returned Stats count the lines
	// validated. The store is only asked for its maximum
	// value size; it may be nil (then the default maximum applies).
	Check bool
	// Progress, when set, is called after every batch and at the end.
	Progress func(Progress)
	// TotalEntries, when known, is passed on in Progress.
	TotalEntries int64
}

// ImportStats is what Import did.
type ImportStats struct {
	Stats
	// Entries counts the committed entries by outcome; Stats.Entries is
	// their sum.
	sqlstore.RestoreResult
	// NamespacesCreated counts the namespaces the import created: by a
	// namespace line, or by an entry whose namespace has no line and was
	// missing (RestoreResult.NewNamespaces counts those alone).
	// NamespacesUpdated counts namespace lines that updated an existing
	// empty namespace (or overwrote one); the others were unchanged or
	// skipped.
	NamespacesCreated int64
	NamespacesUpdated int64
	// Lines is the number of lines read; LastCommittedLine the last line
	// whose entry (or namespace) is committed.
	Lines             int64
	LastCommittedLine int64
	Header            Header
}

// ImportError is a failed import: the line at fault and exactly what was
// committed before it. Everything on lines up to Committed.LastCommittedLine
// is in the store; nothing after it is, except what lies in no batch.
type ImportError struct {
	Line int64 // the line at fault; 0 when the fault is not one line's
	Err  error
	// Committed is what was imported before the failure.
	Committed ImportStats
	// RolledBackFrom and RolledBackTo are the lines of the batch that was
	// rolled back (0 when none was).
	RolledBackFrom, RolledBackTo int64
}

func (e *ImportError) Error() string {
	var b bytes.Buffer
	b.WriteString("dump: ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(trimPrefix(e.Err.Error()))
	c := e.Committed
	if c.Entries == 1 {
		b.WriteString("; imported 1 entry")
	} else {
		fmt.Fprintf(&b, "; imported %d entries", c.Entries)
	}
	if c.LastCommittedLine > 0 {
		fmt.Fprintf(&b, " through line %d", c.LastCommittedLine)
	}
	if e.RolledBackFrom > 0 {
		fmt.Fprintf(&b, "; the batch of lines %d-%d was rolled back", e.RolledBackFrom, e.RolledBackTo)
	}
	return b.String()
}

func (e *ImportError) Unwrap() error { return e.Err }

func trimPrefix(s string) string {
	for _, p := range []string{"dump: ", "storage: "} {
		if len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}

// lineReader reads lines of bounded length, counting and hashing them.
type lineReader struct {
	r    *bufio.Reader
	h    hash.Hash
	max  int
	buf  []byte
	n    int64 // lines read
	read int64 // bytes read
}

// next returns the next line without its newline; io.EOF at the end.
// A final line without a newline is returned as a line.
func (lr *lineReader) next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.r.ReadSlice('\n')
		lr.buf = append(lr.buf, chunk...)
		if len(lr.buf) > lr.max {
			return nil, fmt.Errorf("%w: line is longer than %d bytes", ErrMalformed, lr.max)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(lr.buf) == 0 {
				return nil, io.EOF
			}
			break
		}
		if err != nil {
			return nil, err
		}
		break
	}
	lr.n++
	lr.read += int64(len(lr.buf))
	line := lr.buf
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	return line, nil
}

// Import reads an export from r and writes it to s. See the package
// documentation for what is checked and what is committed when. Errors
// about the file or its content are *ImportError.
func Import(ctx context.Context, s *sqlstore.Store, r io.Reader, o ImportOptions) (ImportStats, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	maxValue := storage.DefaultMaxValueSize
	if s != nil && s.Config().MaxValueSize > 0 {
		maxValue = s.Config().MaxValueSize
	}
	im := &importer{s: s, o: o, maxValue: maxValue, start: time.Now(),
		lr:    &lineReader{r: bufio.NewReaderSize(r, 1<<20), h: sha256.New(), max: 2*maxValue + 64<<10},
		batch: make([]sqlstore.Record, 0, min(o.BatchSize, 4096)), seen: map[string]int64{}}
	err := im.run(ctx)
	if o.Check {
		im.st.Namespaces, im.st.Entries = im.nsLines, im.checked
	}
	im.st.Lines = im.lr.n
	im.st.Bytes = im.lr.read
	im.st.Elapsed = time.Since(im.start)
	im.report(true)
	return im.st, err
}

type importer struct {
	s        *sqlstore.Store
	o        ImportOptions
	maxValue int
	start    time.Time
	lr       *lineReader
	st       ImportStats
	// batch holds the entries not yet written, read from lines
	// batchFrom..batchTo.
	batch              []sqlstore.Record
	batchFrom, batchTo int64
	batchSize          int // bytes of keys, values and metadata in batch
	// seen maps the keys of the batch to their lines (duplicates in a file
	// are an error, not a silent overwrite).
	seen map[string]int64
	// counts of lines read, for the trailer
	nsLines, entryLines int64
	// checked counts what Check validated.
	checked int64
}

func (im *importer) report(done bool) {
	if im.o.Progress == nil {
		return
	}
	entries := im.st.Entries
	if im.o.Check {
		entries = im.checked
	}
	im.o.Progress(Progress{Namespaces: im.nsLines, Entries: entries, Bytes: im.lr.read,
		TotalEntries: im.o.TotalEntries, Elapsed: time.Since(im.start), Done: done})
}

// fail wraps err with the line and what is committed. Pending entries that
// are not written are not part of it.
func (im *importer) fail(line int64, err error) error {
	im.st.Lines = im.lr.n
	im.st.Bytes = im.lr.read
	im.st.Elapsed = time.Since(im.start)
	return &ImportError{Line: line, Err: err, Committed: im.st}
}

func (im *importer) run(ctx context.Context) error {
	hdrLine, err := im.lr.next()
	if cerr := ctx.Err(); cerr != nil && err != nil {
		// The input ended because the run was interrupted (Ctrl-C ends
		// the program that feeds a pipe too): say so, not "truncated".
		return im.fail(0, cerr)
	}
	if errors.Is(err, io.EOF) {
		return im.fail(0, fmt.Errorf("%w: the file is empty", ErrTruncated))
	}
	if err != nil {
		return im.fail(1, err)
	}
	if err := im.header(hdrLine); err != nil {
		return im.fail(1, err)
	}
	im.lr.h.Write(hdrLine)
	im.lr.h.Write([]byte{'\n'})
	for {
		if err := ctx.Err(); err != nil {
			return im.abort(ctx, 0, err)
		}
		raw, err := im.lr.next()
		if cerr := ctx.Err(); cerr != nil && err != nil {
			return im.abort(ctx, 0, cerr) // interrupted, as above
		}
		if errors.Is(err, io.EOF) {
			// Commit what was read: it is valid, and rerunning with the
			// whole file skips it as identical.
			if ferr := im.flush(ctx); ferr != nil {
				return ferr
			}
			return im.fail(0, fmt.Errorf("%w after line %d", ErrTruncated, im.lr.n))
		}
		lineNo := im.lr.n + 1
		if err != nil {
			return im.abort(ctx, lineNo, err)
		}
		lineNo = im.lr.n
		var l anyLine
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return im.abort(ctx, lineNo, fmt.Errorf("%w: %w", ErrMalformed, err))
		}
		if dec.More() {
			return im.abort(ctx, lineNo, fmt.Errorf("%w: more than one JSON value on the line", ErrMalformed))
		}
		if err := loneSurrogate(raw); err != nil {
			return im.abort(ctx, lineNo, err)
		}
		if err := l.spelling(int64(im.st.Header.Version)); err != nil {
			return im.abort(ctx, lineNo, err)
		}
		switch l.Type {
		case typeEntry:
			if err := im.entry(ctx, lineNo, &l); err != nil {
				return err
			}
		case typeNamespace:
			if err := im.namespace(ctx, lineNo, &l); err != nil {
				return err
			}
		case typeTrailer:
			return im.trailer(ctx, lineNo, &l)
		case typeHeader:
			return im.abort(ctx, lineNo, fmt.Errorf("%w: a second header", ErrMalformed))
		case "":
			return im.abort(ctx, lineNo, missing("a", "type"))
		default:
			return im.abort(ctx, lineNo, fmt.Errorf("%w: unknown line type %q", ErrMalformed, l.Type))
		}
		im.lr.h.Write(raw)
		im.lr.h.Write([]byte{'\n'})
	}
}

// abort commits the pending batch (its lines all precede line, and are
// valid), then fails with err at line. When ctx is done nothing more is
// written: the pending batch is dropped and the error says where the
// committed part ends.
func (im *importer) abort(ctx context.Context, line int64, err error) error {
	if ctx.Err() == nil {
		if ferr := im.flush(ctx); ferr != nil {
			return ferr
		}
	}
	return im.fail(line, err)
}

// header reads the first line: a header of version 1 or 2, whose members
// are the header's alone, spelled as its version spells them.
func (im *importer) header(raw []byte) error {
	var l anyLine
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return fmt.Errorf("%w: bad header: %w", ErrMalformed, err)
	}
	if l.Type != typeHeader || l.Format == nil || *l.Format != Format {
		return fmt.Errorf("%w: the first line is not a %s header", ErrMalformed, Format)
	}
	if l.Version == nil || *l.Version < 1 || *l.Version > Version {
		v := "none"
		if l.Version != nil {
			v = strconv.FormatInt(*l.Version, 10)
		}
		return fmt.Errorf("%w: format version %s, this build reads versions 1 to %d", ErrMalformed, v, Version)
	}
	if err := l.spelling(*l.Version); err != nil {
		return err
	}
	other := l
	other.Type, other.Format, other.Version, other.Dialect, other.SchemaVersion = "", nil, nil, "", 0
	other.ExportedAt, other.Namespace, other.v1Names = time.Time{}, nil, v1Names{}
	if !reflect.DeepEqual(other, anyLine{}) {
		return fmt.Errorf("%w: bad header: it has members of another line type", ErrMalformed)
	}
	h := Header{Type: l.Type, Format: *l.Format, Version: int(*l.Version), Dialect: l.Dialect,
		SchemaVersion: l.SchemaVersion, ExportedAt: l.ExportedAt}
	if l.Namespace != nil {
		h.Namespace = *l.Namespace
	}
	im.st.Header = h
	return nil
}

func (im *importer) namespace(ctx context.Context, line int64, l *anyLine) error {
	if l.Name == nil {
		return im.abort(ctx, line, missing("namespace", "name"))
	}
	if l.Metadata == nil {
		return im.abort(ctx, line, missing("namespace", "metadata"))
	}
	if l.CreatedAt.IsZero() {
		return im.abort(ctx, line, missing("namespace", im.spell("createdAt")))
	}
	if _, err := storage.ParseNamespace(*l.Name); err != nil {
		return im.abort(ctx, line, fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	if _, err := driver.CheckMetadataJSON(l.Metadata, im.maxValue); err != nil {
		return im.abort(ctx, line, fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	if err := sqlstore.CheckTime(im.spell("createdAt"), l.CreatedAt); err != nil {
		return im.abort(ctx, line, fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	if len(l.Indexes) > 0 {
		// As CreateNamespace checks WithIndexes: paths into the value or
		// $metadata.
		opts := []storage.NamespaceOption{storage.WithIndexes(l.Indexes...)}
		if _, err := driver.ResolveNamespaceOptions("createNamespace", opts); err != nil {
			return im.abort(ctx, line, fmt.Errorf("%w: indexes: %w", ErrMalformed, err))
		}
	}
	if h := im.st.Header.Namespace; h != "" && *l.Name != h {
		return im.abort(ctx, line, fmt.Errorf("%w: namespace %q in an export of namespace %q", ErrMalformed, *l.Name, h))
	}
	im.nsLines++
	// The entries before it go first, in their own transaction.
	if err := im.flush(ctx); err != nil {
		return err
	}
	if im.o.Check {
		return nil
	}
	out, err := im.s.RestoreNamespace(ctx, sqlstore.NamespaceRecord{Name: *l.Name, Metadata: l.Metadata, CreatedAt: l.CreatedAt, Indexes: l.Indexes}, im.o.OnConflict)
	if err != nil {
		return im.fail(line, err)
	}
	switch out {
	case "created":
		im.st.NamespacesCreated++
	case "updated", "overwritten":
		im.st.NamespacesUpdated++
	}
	im.st.Namespaces++
	im.st.LastCommittedLine = line
	return nil
}

// spell is a member's name as the file's version spells it.
func (im *importer) spell(name string) string {
	if im.st.Header.Version >= 2 {
		return name
	}
	switch name {
	case "namespace":
		return "ns"
	case "createdAt":
		return "created_at"
	case "updatedAt":
		return "updated_at"
	}
	return name
}

func (im *importer) entry(ctx context.Context, line int64, l *anyLine) error {
	switch {
	case l.Namespace == nil:
		return im.abort(ctx, line, missing("entry", im.spell("namespace")))
	case l.Key == nil:
		return im.abort(ctx, line, missing("entry", "key"))
	case l.Value == nil:
		return im.abort(ctx, line, missing("entry", "value"))
	case l.Metadata == nil:
		return im.abort(ctx, line, missing("entry", "metadata"))
	case l.Version == nil:
		return im.abort(ctx, line, missing("entry", "version"))
	case l.CreatedAt.IsZero():
		return im.abort(ctx, line, missing("entry", im.spell("createdAt")))
	case l.UpdatedAt.IsZero():
		return im.abort(ctx, line, missing("entry", im.spell("updatedAt")))
	}
	rec := sqlstore.Record{Namespace: *l.Namespace, Key: *l.Key, Value: l.Value, Metadata: l.Metadata,
		Version: *l.Version, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
		CreatedBy: l.CreatedBy, UpdatedBy: l.UpdatedBy}
	if l.ExpiresAt != nil {
		rec.ExpiresAt = l.ExpiresAt.UTC()
		if rec.ExpiresAt.IsZero() {
			// The first instant of year 1, long past, not "none" (which a
			// Record's zero ExpiresAt means): a microsecond later is as
			// past, and the restore skips the entry as expired.
			rec.ExpiresAt = rec.ExpiresAt.Add(time.Microsecond)
		}
	}
	if err := sqlstore.CheckRecord(rec, im.maxValue); err != nil {
		return im.abort(ctx, line, fmt.Errorf("%w: namespace %q key %q: %w", ErrMalformed, rec.Namespace, rec.Key, err))
	}
	if h := im.st.Header.Namespace; h != "" && rec.Namespace != h {
		return im.abort(ctx, line, fmt.Errorf("%w: namespace %q in an export of namespace %q", ErrMalformed, rec.Namespace, h))
	}
	id := rec.Namespace + "\x00" + rec.Key
	if first, dup := im.seen[id]; dup {
		return im.abort(ctx, line, fmt.Errorf("%w: namespace %q key %q appears twice (lines %d and %d)",
			ErrMalformed, rec.Namespace, rec.Key, first, line))
	}
	im.entryLines++
	if im.o.Check {
		im.checked++
		if im.checked%progressEvery == 0 {
			im.report(false)
		}
		return nil
	}
	im.seen[id] = line
	if len(im.batch) == 0 {
		im.batchFrom = line
	}
	im.batch = append(im.batch, rec)
	im.batchTo = line
	im.batchSize += len(rec.Key) + len(rec.Value) + len(rec.Metadata)
	if len(im.batch) >= im.o.BatchSize || im.batchSize >= batchBytes {
		return im.flush(ctx)
	}
	return nil
}

// flush writes the pending batch in one transaction.
func (im *importer) flush(ctx context.Context) error {
	if len(im.batch) == 0 || im.o.Check {
		return nil
	}
	res, err := im.s.Restore(ctx, im.batch, im.o.OnConflict)
	if err != nil {
		line := int64(0)
		var re *sqlstore.RecordError
		if errors.As(err, &re) && re.Index >= 0 && re.Index < len(im.batch) {
			r := im.batch[re.Index]
			line = im.seen[r.Namespace+"\x00"+r.Key]
		}
		im.st.Lines, im.st.Bytes, im.st.Elapsed = im.lr.n, im.lr.read, time.Since(im.start)
		return &ImportError{Line: line, Err: err, Committed: im.st, RolledBackFrom: im.batchFrom, RolledBackTo: im.batchTo}
	}
	im.st.Add(res)
	im.st.NamespacesCreated += int64(res.NewNamespaces)
	im.st.Entries += int64(res.Total())
	im.st.LastCommittedLine = im.batchTo
	clear(im.batch) // drop the references to the values
	im.batch = im.batch[:0]
	im.batchSize = 0
	clear(im.seen)
	im.report(false)
	return nil
}

func (im *importer) trailer(ctx context.Context, line int64, l *anyLine) error {
	if l.Namespaces == nil || l.Entries == nil || l.SHA256 == nil {
		return im.abort(ctx, line, missing("trailer", "namespaces, entries and sha256"))
	}
	sum := hex.EncodeToString(im.lr.h.Sum(nil))
	switch {
	case *l.Namespaces != im.nsLines || *l.Entries != im.entryLines:
		return im.abort(ctx, line, fmt.Errorf("%w: it counts %d namespaces and %d entries, the file has %d and %d",
			ErrCorrupt, *l.Namespaces, *l.Entries, im.nsLines, im.entryLines))
	case *l.SHA256 != sum:
		return im.abort(ctx, line, fmt.Errorf("%w: checksum %s, the lines before it hash to %s", ErrCorrupt, *l.SHA256, sum))
	}
	if err := im.flush(ctx); err != nil {
		return err
	}
	// Nothing may follow the trailer.
	for {
		raw, err := im.lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return im.fail(im.lr.n, err)
		}
		if len(bytes.TrimSpace(raw)) > 0 {
			return im.fail(im.lr.n, fmt.Errorf("%w: a line after the trailer", ErrMalformed))
		}
	}
}
