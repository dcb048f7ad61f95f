package client_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestExpiresAtBeyondRFC3339: an ExpiresAt whose year RFC 3339 cannot
// spell (past 9999, before 0) is refused as the engine refuses it: a Set
// with ErrInvalidOption (past 9999, the engine's very message), and a SetMany item (or every item, for the
// batch's option) with a per-key ErrInvalidOption, the other items
// written, the call itself answering nil. Before, the wire refused the
// whole SetMany ("not an RFC 3339 time"), and nothing was written.
func TestExpiresAtBeyondRFC3339(t *testing.T) {
	st, cl := servedAt(t, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	ctx := t.Context()
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1000000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-292277022399, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		msgs := map[string]string{}
		for name, s := range map[string]storage.Store{"engine": st, "client": cl} {
			what := name + " ExpiresAt(" + at.Format(time.RFC3339) + ")"
			err := s.Set(ctx, "k", 1, storage.ExpiresAt(at))
			if !errors.Is(err, storage.ErrInvalidOption) {
				t.Errorf("%s: Set: %v, want ErrInvalidOption", what, err)
			} else {
				msgs[name] = err.Error()
			}
			res, err := s.SetMany(ctx, []storage.Item{{Key: "bad", Value: 1, ExpiresAt: at}, {Key: "good", Value: 1}})
			if err != nil || len(res.Results) != 2 || !errors.Is(res.Results[0].Err, storage.ErrInvalidOption) || res.Results[1].Err != nil {
				t.Errorf("%s: SetMany item: %v, %+v; want nil, the bad item ErrInvalidOption, the good one written", what, err, res.Results)
			}
			res, err = s.SetMany(ctx, []storage.Item{{Key: "a", Value: 1}, {Key: "b", Value: 1, TTL: time.Hour}}, storage.ExpiresAt(at))
			if err != nil || len(res.Results) != 2 || !errors.Is(res.Results[0].Err, storage.ErrInvalidOption) || res.Results[1].Err != nil {
				t.Errorf("%s: SetMany option: %v, %+v; want nil, a ErrInvalidOption, b (its own TTL) written", what, err, res.Results)
			}
			for _, k := range []string{"k", "bad", "a"} {
				if ok, err := s.Has(ctx, k); ok || err != nil {
					t.Errorf("%s: %q written (%v, %v)", what, k, ok, err)
				}
			}
		}
		if at.Year() > 9999 && msgs["engine"] != msgs["client"] { // before year 0 the engine names its time too
			t.Errorf("Set ExpiresAt(%s): the client says %q, the engine %q", at.Format(time.RFC3339), msgs["client"], msgs["engine"])
		}
	}
}

// TestTTLPastYear9999: with the store's clock near the end of year 9999, a
// TTL (or an ExpiresAt within MaxTTL) whose expiry falls after it is
// refused with ErrInvalidOption by the engine and through the wire alike,
// nothing written, and an expiry at the last microsecond of 9999 is
// written and read back through the wire. Before, the write succeeded and
// every read of the entry through the wire (Get, GetMetadata, GetMany,
// List, Query, History, Watch) failed with an internal error that wrapped
// no sentinel: RFC 3339 cannot spell the year 10000.
func TestTTLPastYear9999(t *testing.T) {
	for _, c := range testdb.Except(configs, "sqlite-file") {
		t.Run(c.Name, func(t *testing.T) {
			t0 := time.Date(9999, 12, 31, 23, 59, 58, 0, time.UTC)
			clock := storetest.NewClock(t0)
			st := teststore.Open(t, c.DSN(t), sqlstore.WithClock(clock.Now), sqlstore.WithSweepInterval(-1))
			_, cl := serve(t, st)
			ctx := t.Context()
			last := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
			for name, s := range map[string]storage.Store{"engine": st, "client": cl} {
				for _, o := range []storage.Option{storage.WithTTL(3 * time.Second), storage.WithTTL(2*time.Second + time.Microsecond), storage.ExpiresAt(last.Add(time.Microsecond))} {
					if err := s.Set(ctx, "k", 1, o); !errors.Is(err, storage.ErrInvalidOption) {
						t.Errorf("%s: Set with an expiry past 9999: %v, want ErrInvalidOption", name, err)
					}
					res, err := s.SetMany(ctx, []storage.Item{{Key: "m", Value: 1}}, o)
					if err != nil || len(res.Results) != 1 || !errors.Is(res.Results[0].Err, storage.ErrInvalidOption) {
						t.Errorf("%s: SetMany with an expiry past 9999: %v, %+v; want the item ErrInvalidOption", name, err, res.Results)
					}
				}
				res, err := s.SetMany(ctx, []storage.Item{{Key: "m", Value: 1, TTL: 5 * time.Second}})
				if err != nil || len(res.Results) != 1 || !errors.Is(res.Results[0].Err, storage.ErrInvalidOption) {
					t.Errorf("%s: SetMany item TTL past 9999: %v, %+v; want the item ErrInvalidOption", name, err, res.Results)
				}
				for _, k := range []string{"k", "m"} {
					if ok, err := s.Has(ctx, k); ok || err != nil {
						t.Errorf("%s: %q written (%v, %v)", name, k, ok, err)
					}
				}
			}
			// Whatever the engine accepts, the wire reads back.
			if err := st.Set(ctx, "a", 1, storage.WithTTL(time.Second+999999*time.Microsecond)); err != nil {
				t.Fatalf("Set expiring at the last microsecond of 9999: %v", err)
			}
			if err := st.Set(ctx, "b", 1, storage.ExpiresAt(last)); err != nil {
				t.Fatalf("Set ExpiresAt(last microsecond of 9999): %v", err)
			}
			for _, k := range []string{"a", "b"} {
				e, err := cl.Get(ctx, k)
				if err != nil || !e.ExpiresAt.Equal(last) {
					t.Errorf("client Get(%q): %v, expires %v; want %v", k, err, e.ExpiresAt, last)
				}
			}
			if l, err := cl.List(ctx); err != nil || len(l.Keys) != 2 {
				t.Errorf("client List: %v, %v", l.Keys, err)
			}
			if evs, err := cl.History(ctx, "a"); err != nil || len(evs) != 1 || !evs[0].ExpiresAt.Equal(last) {
				t.Errorf("client History: %+v, %v", evs, err)
			}
		})
	}
}

// TestClockBeyondRFC3339: a store whose clock reads a time RFC 3339
// cannot spell (after year 9999, before year 0) stamps its writes with the
// nearest time it can (the last microsecond of 9999, the first of year
// 0), so whatever the engine writes the wire reads back, and PostgreSQL
// (whose timestamptz ends at 4713 BC) stores it. Before, a write stamped
// the clock's own time: every read of the entry through the wire (Get,
// History) failed with an internal error ("cannot encode the response"),
// and on PostgreSQL a clock before 4713 BC failed every call with the
// server's "timestamp out of range", which wraps no sentinel.
func TestClockBeyondRFC3339(t *testing.T) {
	first := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	for _, c := range testdb.Except(configs, "sqlite-file") {
		t.Run(c.Name, func(t *testing.T) {
			clock := storetest.NewClock(time.Time{})
			st := teststore.Open(t, c.DSN(t), sqlstore.WithClock(clock.Now), sqlstore.WithSweepInterval(-1))
			_, cl := serve(t, st)
			ctx := t.Context()
			for i, tc := range []struct {
				clock, want time.Time
			}{
				{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), last},
				{time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC), last}, // past an int64 of microseconds
				{time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC), first},
				{time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC), first},
			} {
				clock.Set(tc.clock)
				what := "clock " + tc.clock.String()
				e, w := fmt.Sprint("e", i), fmt.Sprint("w", i)
				if err := st.Set(ctx, e, 1); err != nil {
					t.Fatalf("%s: engine Set: %v", what, err)
				}
				if err := cl.Set(ctx, w, 1); err != nil {
					t.Fatalf("%s: client Set: %v", what, err)
				}
				for _, k := range []string{e, w} {
					e, err := cl.Get(ctx, k)
					if err != nil || !e.CreatedAt.Equal(tc.want) || !e.UpdatedAt.Equal(tc.want) {
						t.Errorf("%s: client Get(%q): %v, created %v, updated %v; want %v", what, k, err, e.CreatedAt, e.UpdatedAt, tc.want)
					}
					evs, err := cl.History(ctx, k)
					if err != nil || len(evs) != 1 || !evs[0].At.Equal(tc.want) {
						t.Errorf("%s: client History(%q): %+v, %v; want one put at %v", what, k, evs, err, tc.want)
					}
				}
				if l, err := cl.List(ctx); err != nil || len(l.Keys) != 2*(i+1) {
					t.Errorf("%s: client List: %v, %v; want %d keys", what, l.Keys, err, 2*(i+1))
				}
			}
		})
	}
}

// TestExpiresAtZoneYear: an ExpiresAt given in a zone where its year is
// not its year in UTC is decided by its UTC time, through the wire as by
// the engine: 00:30 on 1 January 10000 at +01:00 is 23:30 on 31 December
// 9999 in UTC, an expiry the engine takes (with its clock late in 9999),
// and 23:30 on 31 December 9999 at -01:00 is in year 10000 in UTC, which
// both refuse. Before, the client sent the time in its own zone, and the
// server refused the first ("not an RFC 3339 time": the year 10000) where
// the engine wrote it, and failed the whole SetMany for one item's.
func TestExpiresAtZoneYear(t *testing.T) {
	st, cl := servedAt(t, time.Date(9999, 12, 31, 22, 0, 0, 0, time.UTC))
	ctx := t.Context()
	good := time.Date(10000, 1, 1, 0, 30, 0, 0, time.FixedZone("+01", 3600))
	bad := time.Date(9999, 12, 31, 23, 30, 0, 0, time.FixedZone("-01", -3600))
	for name, s := range map[string]storage.Store{"engine": st, "client": cl} {
		if err := s.Set(ctx, name+"-set", 1, storage.ExpiresAt(good)); err != nil {
			t.Errorf("%s: Set ExpiresAt(%v): %v", name, good, err)
		} else if e, err := cl.Get(ctx, name+"-set"); err != nil || !e.ExpiresAt.Equal(good) {
			t.Errorf("%s: Set ExpiresAt(%v), then Get: %v, expires %v", name, good, err, e.ExpiresAt)
		}
		if err := s.Set(ctx, name+"-bad", 1, storage.ExpiresAt(bad)); !errors.Is(err, storage.ErrInvalidOption) {
			t.Errorf("%s: Set ExpiresAt(%v): %v, want ErrInvalidOption", name, bad, err)
		}
		res, err := s.SetMany(ctx, []storage.Item{{Key: name + "-item", Value: 1, ExpiresAt: good}, {Key: name + "-baditem", Value: 1, ExpiresAt: bad}})
		if err != nil || len(res.Results) != 2 || res.Results[0].Err != nil || !errors.Is(res.Results[1].Err, storage.ErrInvalidOption) {
			t.Errorf("%s: SetMany: %v, %+v; want the first item written, the second ErrInvalidOption", name, err, res.Results)
		}
	}
}

// servedAt opens a store on configs[0] whose clock stands at t0 (no
// sweeper), and a client over it.
func servedAt(t *testing.T, t0 time.Time) (*sqlstore.Store, *client.Store) {
	t.Helper()
	st := teststore.Open(t, configs[0].DSN(t), sqlstore.WithClock(storetest.NewClock(t0).Now), sqlstore.WithSweepInterval(-1))
	_, cl := serve(t, st)
	return st, cl
}
