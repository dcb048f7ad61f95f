package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// mEntry is the model of one entry: its value's n, version and expiry.
type mEntry struct {
	n       int
	version int64
	exp     time.Time
}

// TestExpiryModel runs random writes with random expiries (WithTTL,
// ExpiresAt, KeepTTL, none; Set, create-only, compare-and-swap, SetMany
// with each item's own expiry or the batch's KeepTTL and its versions,
// SetMetadata, Delete), clock steps, sweeps and index builds and drops,
// and checks after each step every read against a model of what is live
// at the store's clock: Get-like reads (Has, GetMany, GetMetadata with its
// version), List (whole, paged by cursor, by key range, by pattern),
// Query (by filter, by equality, sorted and paged by cursor, sorted with
// an offset), Count (whole, with a filter, an equality, key ranges), and
// Status.Size, in a namespace with a declared index and one without. An
// expired entry is absent from every one of them before the sweeper
// removed it, and alike on both dialects. Seeded: STORAGE_EXPIRY_SEED
// reproduces a run (the seed is logged); STORAGE_EXPIRY_STEPS sets the
// number of steps (default 400; a third of it with -short or -race).
func TestExpiryModel(t *testing.T) {
	seed, steps := seededRun(t, "STORAGE_EXPIRY_SEED", "STORAGE_EXPIRY_STEPS", 400, 3)
	t.Logf("seed %d (rerun with STORAGE_EXPIRY_SEED=%d), %d steps", seed, seed, steps)
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			rng := rand.New(rand.NewPCG(seed, 7))
			t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := storetest.NewClock(t0)
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			defer s.Close()
			ctx := context.Background()
			nss := []string{"plain", "ix"}
			if err := s.CreateNamespace(ctx, "ix", storage.WithIndexes("n")); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateNamespace(ctx, "plain"); err != nil {
				t.Fatal(err)
			}
			model := map[string]map[string]*mEntry{"plain": {}, "ix": {}}
			live := func(ns string) []string {
				var ks []string
				now := clock.Now()
				for k, e := range model[ns] {
					if e.exp.IsZero() || e.exp.After(now) {
						ks = append(ks, k)
					}
				}
				slices.Sort(ks)
				return ks
			}
			isLive := func(ns, k string) bool {
				e := model[ns][k]
				return e != nil && (e.exp.IsZero() || e.exp.After(clock.Now()))
			}
			fail := 0
			errorf := func(f string, a ...any) {
				t.Helper()
				fail++
				if fail < 30 {
					t.Errorf(f, a...)
				}
			}
			for step := 0; step < steps && fail < 30; step++ {
				ns := nss[rng.IntN(2)]
				o := storage.InNamespace(ns)
				k := fmt.Sprintf("k%02d", rng.IntN(30))
				n := rng.IntN(20)
				var exp storage.Option
				hasExp := false
				var expAt time.Time
				keep := false
				switch rng.IntN(5) {
				case 0, 1:
					d := time.Duration(1+rng.IntN(5000)) * time.Millisecond
					exp = storage.WithTTL(d)
					hasExp = true
					expAt = clock.Now().Add(d)
				case 2:
					expAt = clock.Now().Add(time.Duration(1+rng.IntN(5000)) * time.Millisecond)
					exp = storage.ExpiresAt(expAt)
					hasExp = true
				case 3:
					exp = storage.KeepTTL()
					hasExp = true
					keep = true
				}
				opts := []storage.Option{o}
				if hasExp {
					opts = append(opts, exp)
				}
				switch op := rng.IntN(10); op {
				case 0, 1, 2, 3:
					err := s.Set(ctx, k, map[string]any{"n": n}, opts...)
					if err != nil {
						errorf("step %d set: %v", step, err)
						break
					}
					e := &mEntry{n: n, version: 1, exp: expAt}
					if isLive(ns, k) {
						old := model[ns][k]
						e.version = old.version + 1
						if keep {
							e.exp = old.exp
						}
					}
					model[ns][k] = e
				case 4:
					err := s.Set(ctx, k, map[string]any{"n": n}, append(opts[:1], storage.NoOverwrite())...)
					if isLive(ns, k) {
						if !errors.Is(err, storage.ErrAlreadyExists) {
							errorf("step %d NoOverwrite on live %s/%s: %v", step, ns, k, err)
						}
					} else if err != nil {
						errorf("step %d NoOverwrite on missing %s/%s: %v", step, ns, k, err)
					} else {
						model[ns][k] = &mEntry{n: n, version: 1}
					}
				case 5:
					var v int64 = 1
					if isLive(ns, k) {
						v = model[ns][k].version
					}
					err := s.Set(ctx, k, map[string]any{"n": n}, append(opts, storage.IfVersion(v))...)
					if isLive(ns, k) {
						if err != nil {
							errorf("step %d IfVersion(%d) live: %v", step, v, err)
						} else {
							old := model[ns][k]
							e := &mEntry{n: n, version: v + 1, exp: expAt}
							if keep {
								e.exp = old.exp
							}
							model[ns][k] = e
						}
					} else if !errors.Is(err, storage.ErrConflict) {
						errorf("step %d IfVersion on missing: %v", step, err)
					}
				case 6:
					err := s.Delete(ctx, k, o)
					if isLive(ns, k) {
						if err != nil {
							errorf("step %d delete live: %v", step, err)
						}
					} else if !errors.Is(err, storage.ErrNotFound) {
						errorf("step %d delete missing: %v", step, err)
					}
					delete(model[ns], k)
				case 7:
					err := s.SetMetadata(ctx, k, map[string]any{"m": n}, o)
					if isLive(ns, k) {
						if err != nil {
							errorf("step %d setmetadata live: %v", step, err)
						}
						model[ns][k].version++
					} else if !errors.Is(err, storage.ErrNotFound) {
						errorf("step %d setmetadata missing: %v", step, err)
					}
				case 8:
					if rng.IntN(8) == 0 {
						if rng.IntN(2) == 0 {
							_ = s.CreateIndex(ctx, "plain", "n")
						} else {
							_ = s.DropIndex(ctx, "plain", "n")
						}
					}
					clock.Advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
				case 9:
					if rng.IntN(4) == 0 {
						if _, err := s.Sweep(ctx); err != nil {
							errorf("sweep: %v", err)
						}
					} else {
						// Two keys, each with an expiry of its own or none,
						// under a batch KeepTTL or none.
						k2 := fmt.Sprintf("k%02d", rng.IntN(30))
						if k2 == k {
							k2 = k + "x"
						}
						var items []storage.Item
						var want []*mEntry
						batchKeep := rng.IntN(3) == 0
						bo := []storage.Option{o}
						if batchKeep {
							bo = append(bo, storage.KeepTTL())
						}
						for j, key := range []string{k, k2} {
							it := storage.Item{Key: key, Value: map[string]any{"n": n + j}}
							e := &mEntry{n: n + j, version: 1}
							keepIt := batchKeep
							switch rng.IntN(4) {
							case 0:
								it.TTL = time.Duration(1+rng.IntN(3000)) * time.Millisecond
								e.exp, keepIt = clock.Now().Add(it.TTL), false
							case 1:
								it.ExpiresAt = clock.Now().Add(time.Duration(1+rng.IntN(3000)) * time.Millisecond)
								e.exp, keepIt = it.ExpiresAt, false
							case 2:
								it.KeepTTL, keepIt = true, true
							}
							if isLive(ns, key) {
								e.version = model[ns][key].version + 1
								if keepIt {
									e.exp = model[ns][key].exp
								}
							}
							items = append(items, it)
							want = append(want, e)
						}
						res, err := s.SetMany(ctx, items, bo...)
						if err != nil || res.Err() != nil {
							errorf("step %d setmany: %v %v", step, err, res.Err())
						}
						for j, it := range items {
							if res.Results[j].Version != want[j].version {
								errorf("step %d SetMany %s: version %d, want %d", step, it.Key, res.Results[j].Version, want[j].version)
							}
							model[ns][it.Key] = want[j]
						}
						e := want[0]
						model[ns][k] = e
					}
				}
				// Check reads.
				for _, ns := range nss {
					o := storage.InNamespace(ns)
					want := live(ns)
					lr, err := s.List(ctx, o)
					if err != nil || !slices.Equal(lr.Keys, want) {
						errorf("step %d %s List = %v %v, want %v", step, ns, lr.Keys, err, want)
					}
					// paged
					var got []string
					cur := ""
					lim := 1 + rng.IntN(4)
					for i := 0; i < 50; i++ {
						po := []storage.Option{o, storage.Limit(lim)}
						if cur != "" {
							po = append(po, storage.After(cur))
						}
						lr, err := s.List(ctx, po...)
						if err != nil {
							errorf("step %d paged list: %v", step, err)
							break
						}
						got = append(got, lr.Keys...)
						if lr.Cursor == "" {
							break
						}
						cur = lr.Cursor
					}
					if !slices.Equal(got, want) {
						errorf("step %d %s paged List(%d) = %v, want %v", step, ns, lim, got, want)
					}
					cnt, err := s.Count(ctx, o)
					if err != nil || cnt != int64(len(want)) {
						errorf("step %d %s Count = %d %v, want %d", step, ns, cnt, err, len(want))
					}
					lo, hi := rng.IntN(20), rng.IntN(20)
					var wq []string
					for _, k := range want {
						if v := model[ns][k].n; v >= lo && v < hi {
							wq = append(wq, k)
						}
					}
					f := storage.And(storage.Gte("n", lo), storage.Lt("n", hi))
					cnt, err = s.Count(ctx, o, storage.Where(f))
					if err != nil || cnt != int64(len(wq)) {
						errorf("step %d %s Count(%d<=n<%d) = %d %v, want %d", step, ns, lo, hi, cnt, err, len(wq))
					}
					cnt, err = s.Count(ctx, o, storage.Where(storage.Eq("n", lo)))
					we := 0
					for _, k := range want {
						if model[ns][k].n == lo {
							we++
						}
					}
					if err != nil || cnt != int64(we) {
						errorf("step %d %s Count(n=%d) = %d %v, want %d", step, ns, lo, cnt, err, we)
					}
					qr, err := s.Query(ctx, f, o)
					var qk []string
					for _, e := range qr.Entries {
						qk = append(qk, e.Key)
						m := model[ns][e.Key]
						if m != nil && (e.Version != m.version || !e.ExpiresAt.Equal(m.exp.UTC().Truncate(time.Microsecond))) {
							errorf("step %d %s Query %s: v%d exp %v, want v%d exp %v", step, ns, e.Key, e.Version, e.ExpiresAt, m.version, m.exp)
						}
					}
					if err != nil || !slices.Equal(qk, wq) {
						errorf("step %d %s Query(%d<=n<%d) = %v %v, want %v", step, ns, lo, hi, qk, err, wq)
					}
					// sorted paged query by n
					var sk []string
					cur = ""
					for i := 0; i < 50; i++ {
						po := []storage.Option{o, storage.Limit(lim), storage.SortBy(storage.Desc("n"))}
						if cur != "" {
							po = append(po, storage.After(cur))
						}
						qr, err := s.Query(ctx, storage.Gte("n", 0), po...)
						if err != nil {
							errorf("step %d sorted query: %v", step, err)
							break
						}
						for _, e := range qr.Entries {
							sk = append(sk, e.Key)
						}
						if qr.Cursor == "" {
							break
						}
						cur = qr.Cursor
					}
					ws := slices.Clone(want)
					slices.SortStableFunc(ws, func(a, b string) int {
						if d := model[ns][b].n - model[ns][a].n; d != 0 {
							return d
						}
						if a < b {
							return -1
						}
						return 1
					})
					if !slices.Equal(sk, ws) {
						errorf("step %d %s sorted paged query = %v, want %v", step, ns, sk, ws)
					}
					// offset page of the sorted query, key ranges, pattern, eq query
					off := rng.IntN(5)
					qr, err = s.Query(ctx, storage.Gte("n", 0), o, storage.SortBy(storage.Asc("n")), storage.Offset(off), storage.Limit(3))
					var ok3 []string
					for _, e := range qr.Entries {
						ok3 = append(ok3, e.Key)
					}
					wa := slices.Clone(want)
					slices.SortStableFunc(wa, func(a, b string) int {
						if d := model[ns][a].n - model[ns][b].n; d != 0 {
							return d
						}
						if a < b {
							return -1
						}
						return 1
					})
					wa = wa[min(off, len(wa)):]
					wa = wa[:min(3, len(wa))]
					if err != nil || !slices.Equal(ok3, wa) {
						errorf("step %d %s Query(asc n, offset %d, limit 3) = %v %v, want %v", step, ns, off, ok3, err, wa)
					}
					kr := storage.KeyRange{From: "k05", To: "k2"}
					var wr, wrf []string
					for _, k := range want {
						if kr.Contains(k) {
							wr = append(wr, k)
							if model[ns][k].n >= lo {
								wrf = append(wrf, k)
							}
						}
					}
					cnt, err = s.Count(ctx, o, storage.InKeyRanges(kr), storage.Where(storage.Gte("n", lo)))
					if err != nil || cnt != int64(len(wrf)) {
						errorf("step %d %s Count(ranges, n>=%d) = %d %v, want %d", step, ns, lo, cnt, err, len(wrf))
					}
					lr, err = s.List(ctx, o, storage.InKeyRanges(kr))
					if err != nil || !slices.Equal(lr.Keys, wr) {
						errorf("step %d %s List(ranges) = %v %v, want %v", step, ns, lr.Keys, err, wr)
					}
					var wp []string
					for _, k := range want {
						if k[:2] == "k1" {
							wp = append(wp, k)
						}
					}
					lr, err = s.List(ctx, o, storage.Pattern("k1*"))
					if err != nil || !slices.Equal(lr.Keys, wp) {
						errorf("step %d %s List(k1*) = %v %v, want %v", step, ns, lr.Keys, err, wp)
					}
					qr, err = s.Query(ctx, storage.Eq("n", lo), o)
					var qe []string
					for _, e := range qr.Entries {
						qe = append(qe, e.Key)
					}
					var wqe []string
					for _, k := range want {
						if model[ns][k].n == lo {
							wqe = append(wqe, k)
						}
					}
					if err != nil || !slices.Equal(qe, wqe) {
						errorf("step %d %s Query(n=%d) = %v %v, want %v", step, ns, lo, qe, err, wqe)
					}
					gm, err := s.GetMany(ctx, []string{"k00", "k01", "k02", "k03", k}, o)
					if err != nil {
						errorf("getmany: %v", err)
					}
					for _, kk := range []string{"k00", "k01", "k02", "k03", k} {
						_, ok := gm.Entries[kk]
						if ok != isLive(ns, kk) {
							errorf("step %d %s GetMany %s present %v want %v", step, ns, kk, ok, isLive(ns, kk))
						}
						h, err := s.Has(ctx, kk, o)
						if err != nil || h != isLive(ns, kk) {
							errorf("step %d %s Has %s = %v %v", step, ns, kk, h, err)
						}
						md, err := s.GetMetadata(ctx, kk, o)
						if isLive(ns, kk) {
							if err != nil || md.Version != model[ns][kk].version {
								errorf("step %d %s GetMetadata %s = v%d %v, want v%d", step, ns, kk, md.Version, err, model[ns][kk].version)
							}
						} else if !errors.Is(err, storage.ErrNotFound) {
							errorf("step %d %s GetMetadata %s of missing: %v", step, ns, kk, err)
						}
					}
				}
				st, err := s.Status(ctx)
				if err != nil || st.Size != int64(len(live("plain"))+len(live("ix"))) {
					errorf("step %d Status.Size = %d %v, want %d", step, st.Size, err, len(live("plain"))+len(live("ix")))
				}
			}
		})
	}
}
