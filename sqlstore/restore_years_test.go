package sqlstore

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
)

// TestRestoreTimesJSONCanCarry: Restore and RestoreNamespace refuse a
// time (created, updated, expiry) whose year, in UTC, is outside 0 to
// 9999, with ErrInvalidValue and nothing written. RFC 3339 (the wire's
// and the dump's times) cannot spell one: before, such a record was
// stored, and from then on every read of it over the wire (get,
// getMetadata, history, and any query or page it lands in) and every
// export failed with "internal ... year outside of range [0,9999]". A
// time whose own offset keeps its year in range but whose UTC does not
// (9999-12-31T23:00:00-05:00, which a dump line can spell) is refused
// too. And the times at the edges (year 0, 9999-12-31T23:59:59.999999Z),
// and an expiry past 2255, read back as restored on both dialects.
func TestRestoreTimesJSONCanCarry(t *testing.T) {
	now := time.Now().UTC()
	far := time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(-50, 1, 1, 0, 0, 0, 0, time.UTC)
	edge := time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("-05:00", -5*3600))
	rec := func(mod func(*Record)) Record {
		r := Record{Namespace: "n", Key: "k", Value: json.RawMessage(`1`), Metadata: json.RawMessage(`{}`),
			Version: 1, CreatedAt: now, UpdatedAt: now}
		mod(&r)
		return r
	}
	bad := map[string]Record{
		"expiry past 9999":       rec(func(r *Record) { r.ExpiresAt = far }),
		"expiry past 9999 (UTC)": rec(func(r *Record) { r.ExpiresAt = edge }),
		"created past 9999":      rec(func(r *Record) { r.CreatedAt, r.UpdatedAt = far, far }),
		"updated past 9999":      rec(func(r *Record) { r.UpdatedAt = far }),
		"created before year 0":  rec(func(r *Record) { r.CreatedAt = early }),
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			for name, r := range bad {
				if err := CheckRecord(r, 0); !errors.Is(err, storage.ErrInvalidValue) {
					t.Errorf("CheckRecord(%s): %v, want ErrInvalidValue", name, err)
				}
				_, err := s.Restore(ctx, []Record{r}, ConflictOverwrite)
				var re *RecordError
				if !errors.Is(err, storage.ErrInvalidValue) || !errors.As(err, &re) {
					t.Errorf("Restore(%s): %v, want a RecordError wrapping ErrInvalidValue", name, err)
				}
				if e, err := s.Get(ctx, "k", storage.InNamespace("n")); err == nil {
					if _, jerr := json.Marshal(routes.EntryOf(e)); jerr != nil {
						t.Errorf("Restore(%s) stored an entry the wire cannot send: %v", name, jerr)
					}
					must(t, s.Delete(ctx, "k", storage.InNamespace("n")))
				}
			}
			for _, at := range []time.Time{far, early, edge} {
				_, err := s.RestoreNamespace(ctx, NamespaceRecord{Name: "ns-" + at.Format("2006"), Metadata: json.RawMessage(`{}`), CreatedAt: at}, ConflictOverwrite)
				if !errors.Is(err, storage.ErrInvalidValue) {
					t.Errorf("RestoreNamespace(created %s): %v, want ErrInvalidValue", at.Format(time.RFC3339), err)
				}
			}
			// An expiry beyond 2255 (past 2^53 µs from the epoch) is kept to
			// the microsecond on both dialects (PostgreSQL rounded it, as
			// it multiplied an interval by a float).
			far2 := time.Date(2300, 1, 1, 0, 0, 0, 1000, time.UTC)
			fr := rec(func(r *Record) { r.Key, r.ExpiresAt = "far", far2 })
			if _, err := s.Restore(ctx, []Record{fr}, ConflictOverwrite); err != nil {
				t.Fatalf("Restore of an expiry in 2300: %v", err)
			}
			if e, err := s.Get(ctx, "far", storage.InNamespace("n")); err != nil || !e.ExpiresAt.Equal(far2) {
				t.Errorf("an expiry restored at %v reads back as %v (%v)", far2, e.ExpiresAt, err)
			}
			if res, err := s.Restore(ctx, []Record{fr}, ConflictOverwrite); err != nil || res.Unchanged != 1 {
				t.Errorf("the same record again: %+v, %v; want unchanged", res, err)
			}
			// The edges themselves are fine.
			good := rec(func(r *Record) {
				r.CreatedAt = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
				r.ExpiresAt = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
			})
			if _, err := s.Restore(ctx, []Record{good}, ConflictOverwrite); err != nil {
				t.Errorf("Restore of times at the edges: %v", err)
			}
			e, err := s.Get(ctx, "k", storage.InNamespace("n"))
			if err != nil || !e.CreatedAt.Equal(good.CreatedAt) || !e.ExpiresAt.Equal(good.ExpiresAt) {
				t.Errorf("the entry restored with times at the edges: created %v, expires %v, %v", e.CreatedAt, e.ExpiresAt, err)
			} else if _, err := json.Marshal(routes.EntryOf(e)); err != nil {
				t.Errorf("the entry restored with times at the edges: %v", err)
			}
		})
	}
}
