package dump_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/errprobe"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// dumpProbe runs, for d, Export (of the store, of one namespace, and
// ExportStore) and Import (of a valid file, each conflict mode) on s,
// with contexts that end at random points, against clears, recursive
// deletes and index builds of the namespaces they read and write, while
// extra (a fault) runs beside them.
func dumpProbe(t *testing.T, s *sqlstore.Store, d time.Duration, allowed []error, extra func(ctx context.Context)) *errprobe.Tally {
	t.Helper()
	tally := &errprobe.Tally{Extra: []error{dump.ErrMalformed, dump.ErrTruncated, dump.ErrCorrupt}}
	seed(t, s, 300)
	file := exportBytes(t, s, dump.ExportOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
				switch r.IntN(3) {
				case 0:
					cctx, ccancel = context.WithTimeout(ctx, time.Duration(r.IntN(20000))*time.Microsecond)
				case 1:
					cctx, ccancel = context.WithCancel(ctx)
					time.AfterFunc(time.Duration(r.IntN(15000))*time.Microsecond, ccancel)
				}
				ns := seedNamespaces[r.IntN(2)].name
				switch r.IntN(6) {
				case 0:
					_, err := dump.Export(cctx, s, io.Discard, dump.ExportOptions{PageSize: 1 + r.IntN(64)})
					tally.Classify(cctx, "Export", err, allowed, 0)
				case 1:
					_, err := dump.Export(cctx, s, io.Discard, dump.ExportOptions{Namespace: ns, PageSize: 1 + r.IntN(64)})
					tally.Classify(cctx, "Export namespace", err, append(slices.Clone(allowed), storage.ErrNamespaceNotFound), 0)
				case 2:
					_, err := dump.ExportStore(cctx, s, io.Discard, dump.ExportOptions{PageSize: 1 + r.IntN(64)})
					tally.Classify(cctx, "ExportStore", err, allowed, 0)
				case 3, 4:
					_, err := dump.Import(cctx, s, bytes.NewReader(file), dump.ImportOptions{BatchSize: 1 + r.IntN(64),
						OnConflict: sqlstore.ConflictMode(r.IntN(3))})
					tally.Classify(cctx, "Import", err, allowed, 0)
				case 5:
					var err error
					switch r.IntN(4) {
					case 0:
						err = s.Clear(cctx, storage.InNamespace(ns))
					case 1:
						err = s.DeleteNamespace(cctx, ns, storage.Recursive())
					case 2:
						err = s.CreateIndex(cctx, ns, "n")
					case 3:
						err = s.DropIndex(cctx, ns, "n")
					}
					tally.Classify(cctx, "race", err, allowed, 0)
				}
				ccancel()
			}
		})
	}
	if extra != nil {
		wg.Go(func() { extra(ctx) })
	}
	wg.Wait()
	return tally
}

// dumpRaceAllowed are the sentinels the races may cause: Import fails
// (ErrAlreadyExists, ErrConflict) under ConflictFail when a key it writes
// holds other content, ErrTxConflict when a namespace it writes is
// deleted meanwhile; the racing calls their own answers.
var dumpRaceAllowed = []error{
	storage.ErrAlreadyExists, storage.ErrConflict, storage.ErrTxConflict, storage.ErrNamespaceNotFound,
	storage.ErrNamespaceExists, storage.ErrIndexExists, storage.ErrIndexNotFound, storage.ErrCompacted,
}

// TestProbeDumpErrorsTyped: Export, ExportStore and Import with contexts
// that end at random points, against clears, recursive deletes and index
// builds of the namespaces they read and write (SQLite on a file,
// PostgreSQL): every error wraps exactly one sentinel a race may cause,
// or is the context's once the call's context ended.
func TestProbeDumpErrorsTyped(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			s := openClocked(t, b.DSN(t))
			tally := dumpProbe(t, s, errprobe.Duration(t), dumpRaceAllowed, nil)
			tally.Report(t, b.Name)
		})
	}
}

// TestProbeDumpErrorsTypedTerminate is TestProbeDumpErrorsTyped on
// PostgreSQL while another connection terminates the store's backends at
// random: ErrUnavailable (and ErrCommitUnknown for the racing writes)
// besides.
func TestProbeDumpErrorsTypedTerminate(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	var b [4]byte
	_, _ = crand.Read(b[:])
	app := "dumpprobe_" + hex.EncodeToString(b[:])
	s := openClocked(t, testdb.Postgres(t, "dump", "pool_max_conns", "6", "application_name", app))
	allowed := append(slices.Clone(dumpRaceAllowed), storage.ErrUnavailable, storage.ErrCommitUnknown)
	killed := 0
	tally := dumpProbe(t, s, errprobe.Duration(t), allowed, func(ctx context.Context) {
		killed = pgtest.TerminateWhere(t, ctx, "application_name", app)
	})
	t.Logf("%d backends terminated", killed)
	tally.Report(t, "terminate")
}
