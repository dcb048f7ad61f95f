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
	start := time.Now()
	var st Stats
	status, err := s.Status(ctx)
	if err != nil {
		return st, err
	}
	total := status.Size
	if o.Namespace != "" {
		if total, err = s.Count(ctx, storage.InNamespace(o.Namespace)); err != nil {
			return st, err
		}
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	cw := &countingWriter{w: bw, h: sha256.New()}
	enc := json.NewEncoder(cw)
	enc.SetEscapeHTML(false)
	hdr := Header{Type: typeHeader, Format: Format, Version: Version, Dialect: status.Dialect,
		SchemaVersion: status.SchemaVersion, ExportedAt: time.Now().UTC(), Namespace: o.Namespace}
	if err := enc.Encode(hdr); err != nil {
		return st, err
	}
	report := func(done bool) {
		if o.Progress != nil {
			o.Progress(Progress{Namespaces: st.Namespaces, Entries: st.Entries, Bytes: cw.n,
				TotalEntries: total, Elapsed: time.Since(start), Done: done})
		}
	}
	line := entryLine{Type: typeEntry}
	err = s.Export(ctx, sqlstore.ExportOptions{Namespace: o.Namespace, PageSize: o.PageSize},
		func(n sqlstore.NamespaceRecord) error {
			st.Namespaces++
			return enc.Encode(namespaceLine{Type: typeNamespace, Name: n.Name, Metadata: n.Metadata,
				CreatedAt: n.CreatedAt, Indexes: n.Indexes, Entries: n.Entries})
		},
		func(r sqlstore.Record) error {
			line.Namespace, line.Key, line.Value, line.Metadata = r.Namespace, r.Key, r.Value, r.Metadata
			line.Version, line.CreatedAt, line.UpdatedAt = r.Version, r.CreatedAt, r.UpdatedAt
			line.CreatedBy, line.UpdatedBy = r.CreatedBy, r.UpdatedBy
			if err := enc.Encode(&line); err != nil {
				return err
			}
			st.Entries++
			if st.Entries%progressEvery == 0 {
				report(false)
			}
			return nil
		})
	if err != nil {
		_ = bw.Flush() // what was written stays readable, without a trailer
		return st, err
	}
	sum := hex.EncodeToString(cw.h.Sum(nil))
	tr := Trailer{Type: typeTrailer, Namespaces: st.Namespaces, Entries: st.Entries, SHA256: sum}
	if err := enc.Encode(tr); err != nil {
		return st, err
	}
	if err := bw.Flush(); err != nil {
		return st, err
	}
	st.Bytes, st.Elapsed = cw.n, time.Since(start)
	total = st.Entries
	report(true)
	return st, nil
}
