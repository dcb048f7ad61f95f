package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mycelia-kernel/storage"
)

// Workload names, as they appear in the table.
const (
	WGetHit        = "get/hit"
	WGetMiss       = "get/miss"
	WHas           = "has"
	WSetInsert     = "set/insert"
	WSetOverwrite  = "set/overwrite"
	WDelete        = "delete"
	WQueryIndexed  = "query/indexed-eq"
	WGetMany       = "getMany/%d"
	WSetMany       = "setMany/%d"
	WDeleteMany    = "deleteMany/%d"
	WListOffset0   = "list/prefix-offset-0"
	WListOffset10k = "list/prefix-offset-10k"
	WListCursor    = "list/cursor"
	// WGetSeq100 is 100 Gets one after the other (against getMany/100).
	WGetSeq100 = "get/sequential-100"
)

// PointWorkloads are the point operations (the 1.3x / 1.15x target).
var PointWorkloads = []string{WGetHit, WGetMiss, WHas, WSetInsert, WSetOverwrite, WDelete}

func (e *env) bulkMethod() string { return e.raw.BulkMethods()[0] }

// insertEngineKeys writes keys through the engine (untimed preparation of
// the engine side of delete workloads: each side has a table of its own).
func (e *env) insertEngineKeys(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		k := keys[:min(1000, len(keys))]
		keys = keys[len(k):]
		items := make([]storage.Item, len(k))
		for i, key := range k {
			items[i] = storage.Item{Key: key, Value: e.values[0]}
		}
		res, err := e.store.SetMany(ctx, items, e.in)
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteEnginePrefix deletes the engine's keys that start with prefix
// (housekeeping after a workload that inserts).
func (e *env) deleteEnginePrefix(ctx context.Context, prefix string) error {
	var keys []string
	for k, err := range storage.ListAll(ctx, e.store, e.in, storage.Pattern(prefix+"*")) {
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	for len(keys) > 0 {
		k := keys[:min(1000, len(keys))]
		keys = keys[len(k):]
		if _, err := e.store.DeleteMany(ctx, k, e.in); err != nil {
			return err
		}
	}
	return nil
}

// insertKeys writes keys with the baseline's first bulk method (untimed
// preparation of the raw side of delete workloads).
func (e *env) insertKeys(ctx context.Context, keys []string) error {
	v, err := json.Marshal(e.values[0])
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		k := keys[:min(1000, len(keys))]
		keys = keys[len(k):]
		vals := make([][]byte, len(k))
		for i := range vals {
			vals[i] = v
		}
		if err := e.raw.SetMany(ctx, e.bulkMethod(), k, vals, now()); err != nil {
			return err
		}
	}
	return nil
}

// freshKeys returns n new keys under prefix.
func (e *env) freshKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		e.seq++
		keys[i] = fmt.Sprintf("%s%09d", prefix, e.seq)
	}
	return keys
}

// deleteSide is a side that deletes, per operation, batch keys inserted by
// its untimed preparation.
func (e *env) deleteSide(prefix string, batch int, engine bool, del func(ctx context.Context, keys []string) error) side {
	var keys []string
	return side{
		prep: func(ctx context.Context, n int) error {
			keys = e.freshKeys(prefix, n*batch)
			if engine {
				return e.insertEngineKeys(ctx, keys)
			}
			return e.insertKeys(ctx, keys)
		},
		op: func(ctx context.Context, i int) error { return del(ctx, keys[i*batch:(i+1)*batch]) },
	}
}

func want(got, n int, what string) error {
	if got != n {
		return fmt.Errorf("%s: got %d, want %d", what, got, n)
	}
	return nil
}

func (e *env) workloads(ctx context.Context) []workload {
	s, raw, in, size := e.store, e.raw, e.in, max(e.cfg.Size, 1)
	rk := func() string { return Key(rand.IntN(size)) }
	nv := min(len(e.values), size) // keys [0, nv) have the pooled values
	var ws []workload
	ws = append(ws,
		workload{name: WGetHit, point: true,
			engine: side{op: func(ctx context.Context, _ int) error { _, err := s.Get(ctx, rk(), in); return err }},
			raw: side{op: func(ctx context.Context, _ int) error {
				ok, err := raw.Get(ctx, rk())
				if err == nil && !ok {
					err = fmt.Errorf("not found")
				}
				return err
			}}},
		workload{name: WGetMiss, point: true,
			engine: side{op: func(ctx context.Context, i int) error {
				_, err := s.Get(ctx, fmt.Sprintf("miss:%07d", i), in)
				if errors.Is(err, storage.ErrNotFound) {
					return nil
				}
				return fmt.Errorf("want not found, got %w", err)
			}},
			raw: side{op: func(ctx context.Context, i int) error {
				ok, err := raw.Get(ctx, fmt.Sprintf("miss:%07d", i))
				if ok {
					return fmt.Errorf("found")
				}
				return err
			}}},
		workload{name: WHas, point: true,
			engine: side{op: func(ctx context.Context, _ int) error { _, err := s.Has(ctx, rk(), in); return err }},
			raw:    side{op: func(ctx context.Context, _ int) error { _, err := raw.Has(ctx, rk()); return err }}},
		workload{name: WSetInsert, point: true,
			engine: side{op: func(ctx context.Context, i int) error {
				e.seq++
				return s.Set(ctx, fmt.Sprintf("ins:e:%09d", e.seq), e.values[i%nv], in)
			}},
			raw: side{op: func(ctx context.Context, i int) error {
				e.seq++
				b, err := json.Marshal(e.values[i%nv])
				if err != nil {
					return err
				}
				return raw.Set(ctx, fmt.Sprintf("ins:r:%09d", e.seq), b, now())
			}},
			after: func(ctx context.Context) error {
				if err := e.deleteEnginePrefix(ctx, "ins:"); err != nil {
					return err
				}
				return raw.DeleteRange(ctx, "ins:", "ins;")
			}},
		workload{name: WSetOverwrite, point: true,
			engine: side{op: func(ctx context.Context, _ int) error {
				j := rand.IntN(nv)
				return s.Set(ctx, Key(j), e.values[j], in)
			}},
			raw: side{op: func(ctx context.Context, _ int) error {
				j := rand.IntN(nv)
				b, err := json.Marshal(e.values[j])
				if err != nil {
					return err
				}
				return raw.Set(ctx, Key(j), b, now())
			}}},
		workload{name: WDelete, point: true,
			engine: e.deleteSide("del:e:", 1, true, func(ctx context.Context, keys []string) error { return s.Delete(ctx, keys[0], in) }),
			raw: e.deleteSide("del:r:", 1, false, func(ctx context.Context, keys []string) error {
				ok, err := raw.Delete(ctx, keys[0])
				if err == nil && !ok {
					err = fmt.Errorf("not deleted")
				}
				return err
			})},
	)
	seq := make([]string, 100)
	ws = append(ws, workload{name: WGetSeq100,
		engine: side{op: func(ctx context.Context, _ int) error {
			for i := range seq {
				seq[i] = rk()
			}
			for _, k := range seq {
				if _, err := s.Get(ctx, k, in); err != nil {
					return err
				}
			}
			return nil
		}},
		raw: side{op: func(ctx context.Context, _ int) error {
			for i := range seq {
				seq[i] = rk()
			}
			for _, k := range seq {
				if _, err := raw.Get(ctx, k); err != nil {
					return err
				}
			}
			return nil
		}}})
	for _, k := range []int{10, 100, 1000} {
		sets := make([][]string, 16)
		for i := range sets {
			for range k {
				sets[i] = append(sets[i], rk())
			}
			sets[i] = dedup(sets[i])
		}
		ws = append(ws, workload{name: fmt.Sprintf(WGetMany, k),
			engine: side{op: func(ctx context.Context, i int) error {
				res, err := s.GetMany(ctx, sets[i%len(sets)], in)
				if err == nil {
					err = want(len(res.Entries), len(sets[i%len(sets)]), "entries")
				}
				return err
			}},
			raw: side{op: func(ctx context.Context, i int) error {
				n, err := raw.GetMany(ctx, sets[i%len(sets)])
				if err == nil {
					err = want(n, len(sets[i%len(sets)]), "entries")
				}
				return err
			}}})
	}
	for _, k := range []int{10, 100, 1000} {
		methods := raw.BulkMethods()
		if k < 1000 {
			methods = methods[:1]
		}
		batch := func() (int, int) { // keys [off, off+k) of the pooled values
			if nv <= k {
				return 0, nv
			}
			off := rand.IntN(nv - k + 1)
			return off, off + k
		}
		for _, m := range methods {
			ws = append(ws, workload{name: fmt.Sprintf(WSetMany, k), method: m,
				engine: side{op: func(ctx context.Context, _ int) error {
					lo, hi := batch()
					items := make([]storage.Item, 0, hi-lo)
					for j := lo; j < hi; j++ {
						items = append(items, storage.Item{Key: Key(j), Value: e.values[j]})
					}
					res, err := s.SetMany(ctx, items, in)
					if err == nil {
						err = res.Err()
					}
					return err
				}},
				raw: side{op: func(ctx context.Context, _ int) error {
					lo, hi := batch()
					keys := make([]string, 0, hi-lo)
					vals := make([][]byte, 0, hi-lo)
					for j := lo; j < hi; j++ {
						b, err := json.Marshal(e.values[j])
						if err != nil {
							return err
						}
						keys, vals = append(keys, Key(j)), append(vals, b)
					}
					return raw.SetMany(ctx, m, keys, vals, now())
				}}})
		}
	}
	for _, k := range []int{10, 100, 1000} {
		ws = append(ws, workload{name: fmt.Sprintf(WDeleteMany, k), maxN: 50,
			engine: e.deleteSide("dm:e:", k, true, func(ctx context.Context, keys []string) error {
				res, err := s.DeleteMany(ctx, keys, in)
				if err == nil {
					err = res.Err()
				}
				return err
			}),
			raw: e.deleteSide("dm:r:", k, false, func(ctx context.Context, keys []string) error {
				n, err := raw.DeleteMany(ctx, keys)
				if err == nil {
					err = want(n, len(keys), "deleted")
				}
				return err
			})})
	}
	// List: every dataset key matches key:*, whose prefix is the range
	// [key:, key;).
	pat := storage.Pattern("key:*")
	off := min(10_000, max(size-100, 0))
	var cursors []string
	var afters []string
	for i := range 16 {
		pos := min(size/2+i*(size/40+1), size-2)
		res, err := s.List(ctx, in, pat, storage.Limit(1), storage.Offset(max(pos, 0)))
		if err != nil || res.Cursor == "" {
			continue
		}
		cursors, afters = append(cursors, res.Cursor), append(afters, res.Keys[0])
	}
	ws = append(ws,
		workload{name: WListOffset0,
			engine: side{op: func(ctx context.Context, _ int) error {
				_, err := s.List(ctx, in, pat, storage.Limit(100))
				return err
			}},
			raw: side{op: func(ctx context.Context, _ int) error {
				_, err := raw.List(ctx, "key:", "key;", "", 100, 0)
				return err
			}}},
		workload{name: WListOffset10k,
			engine: side{op: func(ctx context.Context, _ int) error {
				_, err := s.List(ctx, in, pat, storage.Limit(100), storage.Offset(off))
				return err
			}},
			raw: side{op: func(ctx context.Context, _ int) error {
				_, err := raw.List(ctx, "key:", "key;", "", 100, off)
				return err
			}}},
	)
	if len(cursors) > 0 {
		ws = append(ws, workload{name: WListCursor,
			engine: side{op: func(ctx context.Context, i int) error {
				_, err := s.List(ctx, in, pat, storage.Limit(100), storage.After(cursors[i%len(cursors)]))
				return err
			}},
			raw: side{op: func(ctx context.Context, i int) error {
				_, err := raw.List(ctx, "key:", "key;", afters[i%len(afters)], 100, 0)
				return err
			}}})
	}
	query := func(name, rawName string, f func() (storage.Filter, []any), opts ...storage.Option) workload {
		return workload{name: name,
			engine: side{op: func(ctx context.Context, _ int) error {
				flt, _ := f()
				_, err := s.Query(ctx, flt, append(opts, in)...)
				return err
			}},
			raw: side{op: func(ctx context.Context, _ int) error {
				_, args := f()
				_, err := raw.Query(ctx, rawName, args...)
				return err
			}}}
	}
	ws = append(ws,
		query(WQueryIndexed, queryIndexedEq, func() (storage.Filter, []any) {
			v := rand.IntN(size)
			return storage.Eq("n", v), []any{float64(v)}
		}),
		query("query/unindexed-eq", queryUnindexedEq, func() (storage.Filter, []any) {
			v := rand.IntN(size)
			return storage.Eq("u", v), []any{float64(v)}
		}),
		query("query/indexed-range", queryRange, func() (storage.Filter, []any) {
			v := rand.IntN(size)
			return storage.And(storage.Gte("n", v), storage.Lt("n", v+10)), []any{float64(v), float64(v + 10)}
		}),
		query("query/contains", queryContains, func() (storage.Filter, []any) {
			v := fmt.Sprintf("%06d", rand.IntN(size)%1_000_000)
			return storage.Contains("s", v), []any{v}
		}),
		query("query/startsWith", queryStartsWith, func() (storage.Filter, []any) {
			v := fmt.Sprintf("name %05d", rand.IntN(size)/100)
			return storage.StartsWith("s", v), []any{v}
		}),
		query("query/sort-limit-20", querySort, func() (storage.Filter, []any) { return storage.All(), nil },
			storage.SortBy(storage.Desc("n")), storage.Limit(20)),
		workload{name: "count",
			engine: side{op: func(ctx context.Context, _ int) error { _, err := s.Count(ctx, in); return err }},
			raw:    side{op: func(ctx context.Context, _ int) error { _, err := raw.Count(ctx); return err }}},
	)
	return ws
}

// now is a write's timestamp as the engine takes it: UTC, microseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func dedup(keys []string) []string {
	seen := map[string]bool{}
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
