package sqlstore

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// protectedFor are the ranges of the principal-scheme keys other than
// owner's data keys, as the security layer passes them.
func protectedFor(owner string) []storage.KeyRange {
	scheme := storage.PrefixRange(storage.PrincipalScheme)
	mine := storage.PrefixRange(storage.PrincipalScheme + owner + "/data/")
	return []storage.KeyRange{{From: scheme.From, To: mine.From}, {From: mine.To, To: scheme.To}}
}

// TestClearUnless: ClearUnless and DeleteNamespaceUnless refuse, with
// driver.ErrProtected (a permission denial) and without changing anything,
// a namespace holding a live entry in the protected ranges; entries
// outside them (plain keys, the caller's own) and expired ones do not
// count; with nothing protected they are Clear and DeleteNamespace.
func TestClearUnless(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			s := openTest(t, c.dsn(t), WithSweepInterval(-1), WithClock(clock))
			defer s.Close()
			ctx := t.Context()
			in := storage.InNamespace("shared")
			rs := protectedFor("bob")
			fill := func() {
				t.Helper()
				must(t, s.Set(ctx, "plain", 1, in))
				must(t, s.Set(ctx, "principal://bob/data/mine", 2, in))
			}
			count := func(want int64, step string) {
				t.Helper()
				if n, err := s.Count(ctx, in); err != nil || n != want {
					t.Errorf("%s: Count %d, %v; want %d", step, n, err, want)
				}
			}
			fill()
			must(t, s.Set(ctx, "principal://alice/data/hers", 3, in, storage.WithTTL(time.Minute)))
			refused := func(err error, step string) {
				t.Helper()
				if !errors.Is(err, driver.ErrProtected) || !errors.Is(err, storage.ErrPermissionDenied) {
					t.Errorf("%s: %v, want ErrProtected", step, err)
				}
			}
			refused(s.ClearUnless(ctx, "shared", rs), "ClearUnless over alice's key")
			refused(s.DeleteNamespaceUnless(ctx, "shared", rs, storage.Recursive()), "recursive DeleteNamespaceUnless over alice's key")
			refused(s.DeleteNamespaceUnless(ctx, "shared", rs), "DeleteNamespaceUnless over alice's key")
			count(3, "after the refusals")

			// Her key expired (not yet swept): it no longer counts.
			mu.Lock()
			now = now.Add(2 * time.Minute)
			mu.Unlock()
			must(t, s.ClearUnless(ctx, "shared", rs))
			count(0, "after ClearUnless")

			fill()
			if err := s.DeleteNamespaceUnless(ctx, "shared", rs); !errors.Is(err, storage.ErrNamespaceNotEmpty) {
				t.Errorf("DeleteNamespaceUnless of a namespace without protected keys: %v, want ErrNamespaceNotEmpty", err)
			}
			must(t, s.DeleteNamespaceUnless(ctx, "shared", rs, storage.Recursive()))
			if err := s.DeleteNamespace(ctx, "shared"); !errors.Is(err, storage.ErrNamespaceNotFound) {
				t.Errorf("the namespace after DeleteNamespaceUnless: %v, want it gone", err)
			}
			if err := s.ClearUnless(ctx, "shared", rs); err != nil {
				t.Errorf("ClearUnless of a missing namespace: %v, want nil as Clear", err)
			}

			// Nothing protected: Clear.
			fill()
			must(t, s.Set(ctx, "principal://alice/data/hers", 3, in))
			must(t, s.ClearUnless(ctx, "shared", nil))
			count(0, "after ClearUnless with nothing protected")
		})
	}
}

// TestClearUnlessCost measures the check of ClearUnless where the caller
// holds n keys of its own in the namespace (STORAGE_TEST_PROTECTED_N, a
// measurement: skipped without it), against a Count over the principal
// scheme as the guard ran before: the check reads the protected ranges
// only, so the caller's keys cost it nothing; another principal's n keys
// end it at the first; n expired keys of another principal not yet swept
// are read one by one.
func TestClearUnlessCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("STORAGE_TEST_PROTECTED_N"))
	if n <= 0 {
		t.Skip("a measurement: set STORAGE_TEST_PROTECTED_N")
	}
	for _, c := range configs[1:] {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			defer s.Close()
			ctx := t.Context()
			fillKeys := func(ns, prefix string, opts ...storage.Option) {
				t.Helper()
				const batch = 1000
				for i := 0; i < n; i += batch {
					items := make([]storage.Item, 0, batch)
					for j := i; j < min(i+batch, n); j++ {
						items = append(items, storage.Item{Key: fmt.Sprintf("%s%08d", prefix, j), Value: j})
					}
					res, err := s.SetMany(ctx, items, append(opts, storage.InNamespace(ns))...)
					if err != nil || !res.OK() {
						t.Fatalf("SetMany: %v %v", err, res.Err())
					}
				}
			}
			timed := func(what string, fn func() error) {
				t.Helper()
				start := time.Now()
				err := fn()
				t.Logf("%s, n=%d: %v (%v)", what, n, time.Since(start).Round(10*time.Microsecond), err)
			}
			// bob's n keys, and one key of zed's after them.
			fillKeys("own", "principal://bob/data/k")
			must(t, s.Set(ctx, "principal://zed/data/last", 1, storage.InNamespace("own")))
			oldFilter := storage.And(storage.StartsWith("$key", storage.PrincipalScheme),
				storage.Not(storage.StartsWith("$key", storage.PrincipalScheme+"bob/data/")))
			for range 2 {
				timed("caller's own keys: ClearUnless (refused)", func() error { return s.ClearUnless(ctx, "own", protectedFor("bob")) })
				timed("caller's own keys: Count(Where(protectedFilter)), the guard's check before", func() error {
					_, err := s.Count(ctx, storage.InNamespace("own"), storage.Where(oldFilter))
					return err
				})
				timed("caller's own keys: Count(InKeyRanges(protected)), the fallback's check", func() error {
					_, err := s.Count(ctx, storage.InNamespace("own"), storage.InKeyRanges(protectedFor("bob")...))
					return err
				})
			}
			// alice's n keys: the first ends the check.
			fillKeys("others", "principal://alice/data/k")
			timed("another's keys: ClearUnless (refused)", func() error { return s.ClearUnless(ctx, "others", protectedFor("bob")) })
			// alice's n keys expired, not swept.
			fillKeys("expired", "principal://alice/data/k", storage.WithTTL(time.Second))
			time.Sleep(1100 * time.Millisecond)
			timed("another's expired keys: ClearUnless (done)", func() error { return s.ClearUnless(ctx, "expired", protectedFor("bob")) })
		})
	}
}
