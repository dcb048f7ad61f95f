package dump

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// errImportStopped stops the export side of a copy whose import ended.
var errImportStopped = errors.New("dump: copy: the import side stopped")

// CopyOptions are the options of Copy.
type CopyOptions struct {
	// Namespace, when not empty, copies only that namespace.
	Namespace string
	// OnConflict and BatchSize are as in ImportOptions.
	OnConflict sqlstore.ConflictMode
	BatchSize  int
	// Progress reports the import side: entries committed to the target.
	Progress func(Progress)
}

// Copy streams an export of from into an import to to, through a pipe: no
// temporary file, and memory bounded as for Export and Import. The stream
// is the NDJSON format, trailer and checksum included, so a copy checks
// itself exactly as an import of a file does. The result is the import's;
// an error of the export side ends the stream without a trailer and is
// returned alongside the import's ErrTruncated.
//
// A Namespace that from does not have is ErrNamespaceNotFound, before
// anything is written to to (see CheckSource).
func Copy(ctx context.Context, from, to *sqlstore.Store, o CopyOptions) (ImportStats, error) {
	if err := CheckSource(ctx, from, o.Namespace); err != nil {
		return ImportStats{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	total := int64(0)
	if o.Namespace != "" {
		n, err := from.Count(ctx, storage.InNamespace(o.Namespace))
		if err != nil {
			return ImportStats{}, err
		}
		total = n
	} else {
		st, err := from.Status(ctx)
		if err != nil {
			return ImportStats{}, err
		}
		total = st.Size
	}
	pr, pw := io.Pipe()
	exportErr := make(chan error, 1)
	go func() {
		_, err := Export(ctx, from, pw, ExportOptions{Namespace: o.Namespace})
		// Closing with nil gives the reader io.EOF; with an error, that error.
		_ = pw.CloseWithError(err)
		exportErr <- err
	}()
	st, err := Import(ctx, to, pr, ImportOptions{OnConflict: o.OnConflict, BatchSize: o.BatchSize,
		Progress: o.Progress, TotalEntries: total})
	// Stop the exporter if the import ended first, then wait for it.
	_ = pr.CloseWithError(errImportStopped)
	cancel()
	eerr := <-exportErr
	if err != nil {
		if eerr != nil && !errors.Is(eerr, context.Canceled) && !errors.Is(eerr, errImportStopped) {
			return st, fmt.Errorf("%w (export side: %w)", err, eerr)
		}
		return st, err
	}
	return st, nil
}

// CheckSource checks that from has namespace ns (any store when ns is ""),
// as Copy does before it writes anything: a namespace from does not have is
// storage.ErrNamespaceNotFound. A caller that opens the target only for
// the copy (and so may create it) checks first, so that a copy that cannot
// start creates nothing.
func CheckSource(ctx context.Context, from *sqlstore.Store, ns string) error {
	if ns == "" {
		return nil
	}
	// An export of the namespace with no callbacks reads the namespace's
	// row only: ErrNamespaceNotFound when it is missing.
	return from.Export(ctx, sqlstore.ExportOptions{Namespace: ns}, nil, nil)
}
