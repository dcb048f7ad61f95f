package dump

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Progress is a snapshot of a running export or import, given to
// ExportOptions.Progress and ImportOptions.Progress.
type Progress struct {
	Namespaces int64 // namespace lines written or read
	Entries    int64 // entry lines written or read (import: committed)
	Bytes      int64 // bytes written or read
	// TotalEntries is the number of entries expected, 0 when unknown.
	TotalEntries int64
	Elapsed      time.Duration
	Done         bool // the last call
}

// progressEvery is how often (in entries) the Progress callbacks run, at
// most; they also run at the end.
const progressEvery = 1000

// ExportOptions are the options of Export; the zero value exports the whole
// store.
type ExportOptions struct {
	// Namespace, when not empty, exports only that namespace.
	Namespace string
	// PageSize is the number of entries read per statement (0 =
	// sqlstore.DefaultExportPageSize).
	PageSize int
	// Progress, when set, is called every so many entries and at the end.
	Progress func(Progress)
}

// Stats is what an export or import went through.
type Stats struct {
	Namespaces int64
	Entries    int64
	Bytes      int64
	Elapsed    time.Duration
}

// countingWriter counts and hashes what passes through it.
type countingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// Export writes the store (or o.Namespace) to w as NDJSON (see the package
// documentation): a header, each namespace followed by its entries, a
// trailer. It reads one consistent snapshot by keyset pages, so its memory
// does not depend on the store's size. On error the output lacks its
// trailer, which Import reports as a truncated file.
func Export(ctx context.Context, s *sqlstore.Store, w io.Writer, o ExportOptions) (Stats, error) {
	status, err := s.Status(ctx)
	if err != nil {
		return Stats{}, err
	}
	total := status.Size
	if o.Namespace != "" {
		if total, err = s.Count(ctx, storage.InNamespace(o.Namespace)); err != nil {
			return Stats{}, err
		}
	}
	nw, err := newNDJSONWriter(w, status, o, total)
	if err != nil {
		return Stats{}, err
	}
	line := entryLine{Type: typeEntry}
	err = s.Export(ctx, sqlstore.ExportOptions{Namespace: o.Namespace, PageSize: o.PageSize},
		func(n sqlstore.NamespaceRecord) error {
			return nw.namespace(namespaceLine{Type: typeNamespace, Name: n.Name, Metadata: n.Metadata,
				CreatedAt: n.CreatedAt, Indexes: n.Indexes, Entries: n.Entries})
		},
		func(r sqlstore.Record) error {
			line.Namespace, line.Key, line.Value, line.Metadata = r.Namespace, r.Key, r.Value, r.Metadata
			line.Version, line.CreatedAt, line.UpdatedAt = r.Version, r.CreatedAt, r.UpdatedAt
			line.CreatedBy, line.UpdatedBy = r.CreatedBy, r.UpdatedBy
			line.ExpiresAt = nil
			if !r.ExpiresAt.IsZero() {
				line.ExpiresAt = &r.ExpiresAt
			}
			return nw.entry(&line)
		})
	if err != nil {
		nw.abandon()
		return nw.st, err
	}
	return nw.finish()
}

// ndjsonWriter writes the lines of one file: the header when made, then
// namespaces and entries, then the trailer, counting and hashing as it goes.
type ndjsonWriter struct {
	bw    *bufio.Writer
	cw    *countingWriter
	enc   *json.Encoder
	o     ExportOptions
	st    Stats
	total int64
	start time.Time
}

// newNDJSONWriter writes the header of an export of status's store (or of
// o.Namespace) to w; total is the number of entries expected, for Progress.
func newNDJSONWriter(w io.Writer, status storage.Status, o ExportOptions, total int64) (*ndjsonWriter, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	cw := &countingWriter{w: bw, h: sha256.New()}
	enc := json.NewEncoder(cw)
	enc.SetEscapeHTML(false)
	nw := &ndjsonWriter{bw: bw, cw: cw, enc: enc, o: o, total: total, start: time.Now()}
	hdr := Header{Type: typeHeader, Format: Format, Version: Version, Dialect: status.Dialect,
		SchemaVersion: status.SchemaVersion, ExportedAt: time.Now().UTC(), Namespace: o.Namespace}
	if err := enc.Encode(hdr); err != nil {
		return nil, err
	}
	return nw, nil
}

func (nw *ndjsonWriter) report(done bool) {
	if nw.o.Progress != nil {
		nw.o.Progress(Progress{Namespaces: nw.st.Namespaces, Entries: nw.st.Entries, Bytes: nw.cw.n,
			TotalEntries: nw.total, Elapsed: time.Since(nw.start), Done: done})
	}
}

func (nw *ndjsonWriter) namespace(l namespaceLine) error {
	nw.st.Namespaces++
	return nw.enc.Encode(l)
}

func (nw *ndjsonWriter) entry(l *entryLine) error {
	if err := nw.enc.Encode(l); err != nil {
		return err
	}
	nw.st.Entries++
	if nw.st.Entries%progressEvery == 0 {
		nw.report(false)
	}
	return nil
}

// abandon flushes what was written, which stays readable without a
// trailer.
func (nw *ndjsonWriter) abandon() { _ = nw.bw.Flush() }

// finish writes the trailer and flushes.
func (nw *ndjsonWriter) finish() (Stats, error) {
	sum := hex.EncodeToString(nw.cw.h.Sum(nil))
	tr := Trailer{Type: typeTrailer, Namespaces: nw.st.Namespaces, Entries: nw.st.Entries, SHA256: sum}
	if err := nw.enc.Encode(tr); err != nil {
		return nw.st, err
	}
	if err := nw.bw.Flush(); err != nil {
		return nw.st, err
	}
	nw.st.Bytes, nw.st.Elapsed = nw.cw.n, time.Since(nw.start)
	nw.total = nw.st.Entries
	nw.report(true)
	return nw.st, nil
}
