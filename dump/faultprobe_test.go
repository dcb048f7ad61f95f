package dump_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// dumpTally counts the outcomes of Export and Import by class and keeps
// the defects: an error that wraps no sentinel (of package storage, or
// dump's own for the file) or several, one not allowed, the context's
// with a live context, driver text.
type dumpTally struct {
	mu     sync.Mutex
	counts map[string]map[string]int
	bad    map[string]int
}

func (d *dumpTally) classify(ctx context.Context, op string, err error, allowed []error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.counts == nil {
		d.counts, d.bad = map[string]map[string]int{}, map[string]int{}
	}
	if d.counts[op] == nil {
		d.counts[op] = map[string]int{}
	}
	if err == nil {
		d.counts[op]["nil"]++
		return
	}
	var wrapped []error
	for _, s := range append(storage.Sentinels(), dump.ErrMalformed, dump.ErrTruncated, dump.ErrCorrupt) {
		if errors.Is(err, s) {
			wrapped = append(wrapped, s)
		}
	}
	isCtx := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	ended := ctx.Err() != nil
	var pe *pgconn.PgError
	detail := ""
	if errors.As(err, &pe) {
		detail = fmt.Sprintf(" [%s %s: %s]", pe.Code, pe.ConstraintName, pe.Message)
	}
	switch {
	case len(wrapped) > 0 && isCtx:
		d.counts[op]["untyped"]++
		d.bad[fmt.Sprintf("%s: %q wraps the context's error and %v", op, err, wrapped)]++
		return
	case len(wrapped) == 0 && isCtx:
		d.counts[op]["context"]++
		if !ended {
			d.bad[fmt.Sprintf("%s: the context's error %q with a live context", op, err)]++
		}
		return
	case len(wrapped) != 1:
		d.counts[op]["untyped"]++
		d.bad[fmt.Sprintf("%s: %q wraps %d sentinels %v (%T)%s", op, err, len(wrapped), wrapped, errors.Unwrap(err), detail)]++
		return
	}
	name := strings.TrimPrefix(strings.TrimPrefix(wrapped[0].Error(), "storage: "), "dump: ")
	if ended {
		name += " (ctx ended)"
	}
	d.counts[op][name]++
	ok := slices.Contains(allowed, wrapped[0])
	if ended {
		ok = ok || slices.Contains([]error{storage.ErrTxDone, storage.ErrTooManyTx, storage.ErrCommitUnknown}, wrapped[0])
	}
	if !ok {
		d.bad[fmt.Sprintf("%s: unexpected %q (context ended: %v)%s", op, err, ended, detail)]++
	}
	for _, leak := range []string{"SQLSTATE", "failed to connect", "sql: ", "(SQLITE_", "pgx", "pgconn", "conn closed", "EOF"} {
		if strings.Contains(err.Error(), leak) {
			d.bad[fmt.Sprintf("%s: %q carries driver text %q", op, err, leak)]++
		}
	}
}

func (d *dumpTally) report(t *testing.T, label string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	ops := make([]string, 0, len(d.counts))
	for op := range d.counts {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	for _, op := range ops {
		classes := make([]string, 0, len(d.counts[op]))
		for c := range d.counts[op] {
			classes = append(classes, c)
		}
		sort.Strings(classes)
		fmt.Fprintf(&b, "\n  %-22s", op)
		for _, c := range classes {
			fmt.Fprintf(&b, " %s=%d", c, d.counts[op][c])
		}
	}
	t.Logf("%s:%s", label, b.String())
	bad := make([]string, 0, len(d.bad))
	for s := range d.bad {
		bad = append(bad, s)
	}
	sort.Strings(bad)
	for i, s := range bad {
		if i == 20 {
			t.Errorf("... and %d more defects", len(bad)-20)
			break
		}
		t.Errorf("%s: %d× %s", label, d.bad[s], s)
	}
}

// dumpProbe runs, for d, Export (of the store, of one namespace, and
// ExportStore) and Import (of a valid file, each conflict mode) on s,
// with contexts that end at random points, against clears, recursive
// deletes and index builds of the namespaces they read and write, while
// extra (a fault) runs beside them.
func dumpProbe(t *testing.T, s *sqlstore.Store, d time.Duration, allowed []error, extra func(ctx context.Context)) *dumpTally {
	t.Helper()
	tally := &dumpTally{}
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
					tally.classify(cctx, "Export", err, allowed)
				case 1:
					_, err := dump.Export(cctx, s, io.Discard, dump.ExportOptions{Namespace: ns, PageSize: 1 + r.IntN(64)})
					tally.classify(cctx, "Export namespace", err, append(slices.Clone(allowed), storage.ErrNamespaceNotFound))
				case 2:
					_, err := dump.ExportStore(cctx, s, io.Discard, dump.ExportOptions{PageSize: 1 + r.IntN(64)})
					tally.classify(cctx, "ExportStore", err, allowed)
				case 3, 4:
					_, err := dump.Import(cctx, s, bytes.NewReader(file), dump.ImportOptions{BatchSize: 1 + r.IntN(64),
						OnConflict: sqlstore.ConflictMode(r.IntN(3))})
					tally.classify(cctx, "Import", err, allowed)
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
					tally.classify(cctx, "race", err, allowed)
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

func probeDuration(t *testing.T) time.Duration {
	d := 4 * time.Second
	if v := os.Getenv("STORAGE_TEST_PROBE"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("STORAGE_TEST_PROBE: %v", err)
		}
	}
	return d
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
			tally := dumpProbe(t, s, probeDuration(t), dumpRaceAllowed, nil)
			tally.report(t, b.Name)
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
	tally := dumpProbe(t, s, probeDuration(t), allowed, func(ctx context.Context) {
		conn, err := pgx.Connect(context.Background(), pgtest.AdminDSN(t))
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			var n int
			err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM (
				SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()
				ORDER BY (state <> 'idle') DESC, random() LIMIT 1) p`, app).Scan(&n)
			if err != nil && ctx.Err() == nil {
				t.Errorf("terminate: %v", err)
				return
			}
			killed += n
			time.Sleep(time.Duration(5+rand.IntN(30)) * time.Millisecond)
		}
	})
	t.Logf("%d backends terminated", killed)
	tally.report(t, "terminate")
}
