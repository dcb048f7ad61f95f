package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
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
	c := configs[0]
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	st := teststore.Open(t, c.DSN(t), sqlstore.WithClock(storetest.NewClock(t0).Now), sqlstore.WithSweepInterval(-1))
	_, cl := serve(t, st)
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
