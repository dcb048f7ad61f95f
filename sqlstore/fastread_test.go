package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestPointReadsWithWriters runs Get, Has and GetMany (on SQLite through
// the driver's own statements, fastread.go) beside a writer that
// overwrites and deletes the same keys: every entry read is one the
// writer wrote (its value names its key, and its version counts the sets
// of the key since it was created), and no reader sees a key's value go
// back in time.
func TestPointReadsWithWriters(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			ctx := t.Context()
			const keys = 8
			key := func(i int) string { return fmt.Sprintf("k%d", i) }
			type val struct {
				K string `json:"k"`
				I int    `json:"i"` // the set's number, from 1 after each delete
			}
			all := make([]string, keys)
			for i := range all {
				all[i] = key(i)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the writer
				defer wg.Done()
				sets := make([]int, keys)
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					i := n % keys
					if n%29 == 28 {
						if err := s.Delete(ctx, key(i)); err != nil && !errors.Is(err, storage.ErrNotFound) {
							t.Errorf("Delete: %v", err)
							return
						}
						sets[i] = 0
						continue
					}
					sets[i]++
					if err := s.Set(ctx, key(i), val{K: key(i), I: sets[i]}); err != nil {
						t.Errorf("Set: %v", err)
						return
					}
				}
			}()
			check := func(k string, e storage.Entry) error {
				var v val
				if err := json.Unmarshal(e.Value, &v); err != nil {
					return fmt.Errorf("%s: %w (%s)", k, err, e.Value)
				}
				if v.K != k || e.Key != k || int64(v.I) != e.Version {
					return fmt.Errorf("%s: read %+v as key %q version %d", k, v, e.Key, e.Version)
				}
				return nil
			}
			errs := make(chan error, 4)
			for r := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					deadline := time.Now().Add(400 * time.Millisecond)
					for n := 0; time.Now().Before(deadline); n++ {
						k := key((n + r) % keys)
						var err error
						switch n % 3 {
						case 0:
							var e storage.Entry
							if e, err = s.Get(ctx, k); err == nil {
								err = check(k, e)
							} else if errors.Is(err, storage.ErrNotFound) {
								err = nil
							}
						case 1:
							_, err = s.Has(ctx, k)
						case 2:
							var res storage.GetManyResult
							if res, err = s.GetMany(ctx, all); err == nil {
								for k, e := range res.Entries {
									if err = check(k, e); err != nil {
										break
									}
								}
							}
						}
						if err != nil {
							errs <- fmt.Errorf("reader %d: %w", r, err)
							return
						}
					}
				}()
			}
			time.Sleep(450 * time.Millisecond)
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestPointReadsCancelled: Get, Has and GetMany with a context that has
// ended fail with its error, wrapped in an *OpError, and read nothing.
func TestPointReadsCancelled(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			must(t, s.Set(t.Context(), "k", 1))
			cancelled, cancel := context.WithCancel(t.Context())
			cancel()
			expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			defer cancel2()
			for _, tc := range []struct {
				ctx  context.Context
				want error
			}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
				_, err := s.Get(tc.ctx, "k")
				_, herr := s.Has(tc.ctx, "k")
				_, merr := s.GetMany(tc.ctx, []string{"k"})
				for name, err := range map[string]error{"Get": err, "Has": herr, "GetMany": merr} {
					var oe *storage.OpError
					if !errors.Is(err, tc.want) || !errors.As(err, &oe) {
						t.Errorf("%s with an ended context: %v, want an *OpError wrapping %v", name, err, tc.want)
					}
				}
			}
			// The reads after them, with a live context, see the entry.
			if e, err := s.Get(t.Context(), "k"); err != nil || string(e.Value) != "1" {
				t.Errorf("Get after: %+v %v", e, err)
			}
		})
	}
}

// TestPointReadsRacingClose: Get, Has and GetMany racing Close succeed or
// fail with ErrClosed, and fail with ErrClosed after it; on SQLite, Close
// finalizes every statement the reads prepared on the driver's
// connections (fastread.go), those in use at the time included.
func TestPointReadsRacingClose(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			ctx := t.Context()
			items := make([]storage.Item, 50)
			keys := make([]string, len(items))
			for i := range items {
				keys[i] = fmt.Sprint("k", i)
				items[i] = storage.Item{Key: keys[i], Value: json.RawMessage(`{"a":1}`)}
			}
			if res, err := s.SetMany(ctx, items); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			read := func(n int) error {
				switch n % 3 {
				case 0:
					_, err := s.Get(ctx, keys[n%len(keys)])
					return err
				case 1:
					_, err := s.Has(ctx, keys[n%len(keys)])
					return err
				default:
					_, err := s.GetMany(ctx, keys)
					return err
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for r := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := r; ; n++ {
						if err := read(n); err != nil {
							if !errors.Is(err, storage.ErrClosed) {
								errs <- fmt.Errorf("read racing Close: %w, want nil or ErrClosed", err)
							}
							return
						}
					}
				}()
			}
			time.Sleep(20 * time.Millisecond)
			must(t, s.Close())
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for n := range 3 {
				if err := read(n); !errors.Is(err, storage.ErrClosed) {
					t.Errorf("read %d after Close: %v, want ErrClosed", n, err)
				}
			}
			if e, ok := s.eng.(*sqliteEngine); ok && e.reads.any() {
				t.Error("Close left statements prepared on the reader connections")
			}
		})
	}
}

// TestDriverReadsPrepareOnce: on SQLite the point reads prepare each
// statement once per reader connection and run it again on later calls;
// Close finalizes them (no read running).
func TestDriverReadsPrepareOnce(t *testing.T) {
	for _, c := range configs[:2] {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			ctx := t.Context()
			must(t, s.Set(ctx, "k", 1))
			e := s.eng.(*sqliteEngine)
			stmts := func() map[any]*connReads {
				m := map[any]*connReads{}
				e.reads.conns.Range(func(k, v any) bool { m[k] = v.(*connReads); return true })
				return m
			}
			for range 20 {
				if _, err := s.Get(ctx, "k"); err != nil {
					t.Fatal(err)
				}
				if ok, err := s.Has(ctx, "k"); err != nil || !ok {
					t.Fatal(ok, err)
				}
				if res, err := s.GetMany(ctx, []string{"k", "x"}); err != nil || len(res.Entries) != 1 {
					t.Fatal(res, err)
				}
			}
			first := stmts()
			if len(first) == 0 || len(first) > e.readers {
				t.Fatalf("statements on %d connections, want 1 to %d", len(first), e.readers)
			}
			kept := map[any][numReads]any{}
			for dc, cr := range first {
				var st [numReads]any
				for i, x := range cr.st {
					st[i] = x
				}
				kept[dc] = st
			}
			for range 20 {
				if _, err := s.Get(ctx, "k"); err != nil {
					t.Fatal(err)
				}
			}
			for dc, cr := range stmts() {
				if old, ok := kept[dc]; ok && any(cr.st[readGet]) != old[readGet] {
					t.Errorf("Get's statement was prepared again on the same connection")
				}
			}
			must(t, s.Close())
			if n := len(stmts()); n != 0 {
				t.Errorf("after Close, statements on %d connections", n)
			}
		})
	}
}
