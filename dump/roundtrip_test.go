package dump_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestRoundTrip exports a seeded SQLite store, imports it into PostgreSQL,
// exports that and imports it into a fresh SQLite store: every namespace
// and entry is identical at each step, and the entry counts kept by the
// triggers match the rows. -dump.n=100000 runs it at scale.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	n := roundTripN()
	src := openClocked(t, backends[0].DSN(t))
	seed(t, src, n)
	want := take(t, src)
	if len(want.entries) != n {
		t.Fatalf("seeded %d entries, want %d", len(want.entries), n)
	}

	t0 := time.Now()
	file1 := exportBytes(t, src, dump.ExportOptions{})
	t.Logf("sqlite export: %d entries, %d bytes, %v", n, len(file1), time.Since(t0))

	pg := teststore.Open(t, backends[1].DSN(t))
	t0 = time.Now()
	st, err := dump.Import(ctx, pg, bytes.NewReader(file1), dump.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("postgres import: %+v in %v", st.RestoreResult, time.Since(t0))
	if st.Inserted != n || st.Entries != int64(n) {
		t.Fatalf("import stats %+v, want %d inserted", st, n)
	}
	sameSnapshot(t, "sqlite -> postgres", want, take(t, pg))
	checkCounts(t, pg)

	t0 = time.Now()
	file2 := exportBytes(t, pg, dump.ExportOptions{})
	t.Logf("postgres export: %d bytes, %v", len(file2), time.Since(t0))
	back := teststore.Open(t, backends[0].DSN(t))
	t0 = time.Now()
	if _, err := dump.Import(ctx, back, bytes.NewReader(file2), dump.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("sqlite import: %v", time.Since(t0))
	sameSnapshot(t, "postgres -> sqlite", want, take(t, back))
	checkCounts(t, back)

	// Idempotent: importing again changes nothing and counts every entry
	// as unchanged.
	st, err = dump.Import(ctx, back, bytes.NewReader(file2), dump.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Unchanged != n || st.Inserted != 0 {
		t.Fatalf("second import: %+v, want %d unchanged", st.RestoreResult, n)
	}
	sameSnapshot(t, "reimport", want, take(t, back))
	checkCounts(t, back)
}

// TestCopy copies between every pair of backends, whole and one namespace.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	for _, from := range backends {
		for _, to := range backends {
			t.Run(from.Name+"-to-"+to.Name, func(t *testing.T) {
				src := openClocked(t, from.DSN(t))
				seed(t, src, 400)
				dst := teststore.Open(t, to.DSN(t))
				var last dump.Progress
				st, err := dump.Copy(ctx, src, dst, dump.CopyOptions{BatchSize: 64, Progress: func(p dump.Progress) { last = p }})
				if err != nil {
					t.Fatal(err)
				}
				if st.Inserted != 400 || !last.Done || last.Entries != 400 || last.TotalEntries != 400 {
					t.Fatalf("stats %+v, last progress %+v", st, last)
				}
				sameSnapshot(t, "copy", take(t, src), take(t, dst))
				checkCounts(t, dst)

				// One namespace into an empty store.
				one := teststore.Open(t, to.DSN(t))
				st, err = dump.Copy(ctx, src, one, dump.CopyOptions{Namespace: "beta"})
				if err != nil {
					t.Fatal(err)
				}
				if st.Inserted != 100 || st.Namespaces != 1 {
					t.Fatalf("namespace copy: %+v", st)
				}
				got := take(t, one)
				var beta []sqlstore.Record
				for _, r := range take(t, src).entries {
					if r.Namespace == "beta" {
						beta = append(beta, r)
					}
				}
				var gotBeta []sqlstore.Record
				for _, r := range got.entries {
					if r.Namespace == "beta" {
						gotBeta = append(gotBeta, r)
					}
				}
				sameSnapshot(t, "namespace copy", snapshot{entries: beta}, snapshot{entries: gotBeta})
				if len(got.entries) != len(gotBeta) {
					t.Fatalf("namespace copy wrote %d entries outside beta", len(got.entries)-len(gotBeta))
				}
				checkCounts(t, one)
			})
		}
	}
}
