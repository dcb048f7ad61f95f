package dump_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestExpiryRoundTrip: export skips what has expired and carries expiry
// times; import keeps them, and counts what has expired by its own clock.
func TestExpiryRoundTrip(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			t0 := time.Now().UTC().Truncate(time.Second)
			clock := storetest.NewClock(t0)
			src := teststore.Open(t, b.DSN(t), sqlstore.WithClock(clock.Now), sqlstore.WithSweepInterval(-1))
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(src.Set(ctx, "gone", 1, storage.WithTTL(time.Second)))
			must(src.Set(ctx, "soon", 2, storage.WithTTL(time.Minute)))
			must(src.Set(ctx, "late", 3, storage.WithTTL(time.Hour)))
			must(src.Set(ctx, "never", 4))
			clock.Advance(time.Second) // "gone" has expired, unswept

			var buf bytes.Buffer
			st, err := dump.Export(ctx, src, &buf, dump.ExportOptions{})
			must(err)
			if st.Entries != 3 || strings.Contains(buf.String(), `"gone"`) {
				t.Fatalf("export wrote %d entries (want 3, without the expired one):\n%s", st.Entries, buf.String())
			}
			if !strings.Contains(buf.String(), `"expiresAt":"`+t0.Add(time.Hour).Format("2006-01-02T15:04:05Z")) {
				t.Errorf("export lacks the expiry of \"late\":\n%s", buf.String())
			}
			// ExportStore (any storage.Store) writes the same entry lines.
			var viaStore bytes.Buffer
			if st, err := dump.ExportStore(ctx, src, &viaStore, dump.ExportOptions{}); err != nil || st.Entries != 3 {
				t.Fatalf("ExportStore: %d entries, %v", st.Entries, err)
			}
			if strings.Contains(viaStore.String(), `"gone"`) ||
				!strings.Contains(viaStore.String(), `"expiresAt":"`+t0.Add(time.Hour).Format("2006-01-02T15:04:05Z")) {
				t.Errorf("ExportStore and expiry:\n%s", viaStore.String())
			}

			// Imported while "soon" is still live: every expiry is kept.
			dstClock := storetest.NewClock(t0.Add(time.Second))
			dst := teststore.Open(t, b.DSN(t), sqlstore.WithClock(dstClock.Now), sqlstore.WithSweepInterval(-1))
			is, err := dump.Import(ctx, dst, bytes.NewReader(buf.Bytes()), dump.ImportOptions{})
			must(err)
			if is.Inserted != 3 || is.Expired != 0 {
				t.Errorf("import: %+v, want 3 inserted", is.RestoreResult)
			}
			for k, want := range map[string]time.Time{"soon": t0.Add(time.Minute), "late": t0.Add(time.Hour), "never": {}} {
				e, err := dst.Get(ctx, k)
				must(err)
				if !e.ExpiresAt.Equal(want) {
					t.Errorf("imported %q expires at %v, want %v", k, e.ExpiresAt, want)
				}
			}
			// Again: unchanged, as a repeated import always is.
			is, err = dump.Import(ctx, dst, bytes.NewReader(buf.Bytes()), dump.ImportOptions{})
			must(err)
			if is.Unchanged != 3 {
				t.Errorf("second import: %+v, want 3 unchanged", is.RestoreResult)
			}

			// Imported two minutes later: "soon" has expired on the way.
			later := teststore.Open(t, b.DSN(t), sqlstore.WithClock(storetest.NewClock(t0.Add(2*time.Minute)).Now), sqlstore.WithSweepInterval(-1))
			is, err = dump.Import(ctx, later, bytes.NewReader(buf.Bytes()), dump.ImportOptions{})
			must(err)
			if is.Inserted != 2 || is.Expired != 1 {
				t.Errorf("late import: %+v, want 2 inserted, 1 expired", is.RestoreResult)
			}
			if _, err := later.Get(ctx, "soon"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("late import wrote the expired entry: %v", err)
			}

			// An expired entry under an imported key is as good as missing.
			dstClock.Advance(time.Minute) // "soon" expires in dst
			must(dst.Set(ctx, "late", "changed", storage.WithTTL(time.Second)))
			dstClock.Advance(time.Second) // so does the changed "late"
			is, err = dump.Import(ctx, dst, bytes.NewReader(buf.Bytes()), dump.ImportOptions{})
			must(err)
			if is.Inserted != 1 || is.Unchanged != 1 || is.Expired != 1 {
				t.Errorf("import over expired entries: %+v, want 1 inserted (late), 1 unchanged, 1 expired (soon)", is.RestoreResult)
			}
			e, err := dst.Get(ctx, "late")
			must(err)
			if string(e.Value) != "3" || !e.ExpiresAt.Equal(t0.Add(time.Hour)) {
				t.Errorf("late after import over its expired entry: %s, %v", e.Value, e.ExpiresAt)
			}

			// Copy likewise.
			cp := teststore.Open(t, b.DSN(t), sqlstore.WithClock(storetest.NewClock(t0.Add(time.Second)).Now), sqlstore.WithSweepInterval(-1))
			cs, err := dump.Copy(ctx, src, cp, dump.CopyOptions{})
			must(err)
			if cs.Inserted != 3 {
				t.Errorf("copy: %+v, want 3 inserted", cs.RestoreResult)
			}
		})
	}
}

// TestImportExpiryYearOne: an entry line whose expiresAt is the first
// instant of year 1 (Go's zero time, in any zone) has long expired: the
// import skips it and counts it expired, as any other past expiry. Before,
// the zero time read as no expiry, and the import wrote the entry to live
// for ever.
func TestImportExpiryYearOne(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	src := teststore.Open(t, backends[0].DSN(t), sqlstore.WithClock(storetest.NewClock(t0).Now), sqlstore.WithSweepInterval(-1))
	if err := src.Set(ctx, "k", 1, storage.ExpiresAt(t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := dump.Export(ctx, src, &buf, dump.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	exp := `"expiresAt":"` + t0.Add(time.Hour).Format(time.RFC3339) + `"`
	if !strings.Contains(buf.String(), exp) {
		t.Fatalf("the export lacks %s:\n%s", exp, buf.String())
	}
	for _, at := range []string{"0001-01-01T00:00:00Z", "0001-01-01T01:00:00+01:00"} {
		dst := teststore.Open(t, backends[0].DSN(t), sqlstore.WithClock(storetest.NewClock(t0).Now), sqlstore.WithSweepInterval(-1))
		lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
		in := ndjson(t, strings.Split(strings.Replace(strings.Join(lines[:len(lines)-1], "\n"), exp, `"expiresAt":"`+at+`"`, 1), "\n")...)
		is, err := dump.Import(ctx, dst, bytes.NewReader(in), dump.ImportOptions{})
		if err != nil || is.Inserted != 0 || is.Expired != 1 {
			t.Errorf("import of an entry expiring at %s: %+v, %v; want it skipped, counted expired", at, is, err)
		}
		if ok, err := dst.Has(ctx, "k"); ok || err != nil {
			t.Errorf("import of an entry expiring at %s: Has = %v, %v; want false", at, ok, err)
		}
	}
}
