package driver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/driver"
)

// TestResolveNamespaceSelector: a NamespaceSelector resolves as NewOption's
// option recording the same namespace does, alone, before or after options
// with apply functions, and is refused as they are (a kind not allowed,
// given twice, its error).
func TestResolveNamespaceSelector(t *testing.T) {
	ns := driver.NamespaceName{Name: "a"}
	sel := driver.NamespaceSelector(ns, nil)
	limit := driver.NewOption(driver.KindLimit, func(c *driver.CallOptions) error { c.Limit = 5; return nil })
	applied := driver.NewOption(driver.KindNamespace, func(c *driver.CallOptions) error { c.Namespace = ns; return nil })
	bad := errors.New("bad namespace")
	all := driver.KindNamespace | driver.KindLimit
	for _, tc := range []struct {
		name    string
		allowed driver.OptionKind
		opts    []driver.Option
		limit   int
		err     error // nil, bad or driver.ErrInvalidOption
	}{
		{"alone", all, []driver.Option{sel}, -1, nil},
		{"first", all, []driver.Option{sel, limit}, 5, nil},
		{"last", all, []driver.Option{limit, sel}, 5, nil},
		{"apply", all, []driver.Option{applied, limit}, 5, nil},
		{"twice", all, []driver.Option{sel, sel}, -1, driver.ErrInvalidOption},
		{"twice after apply", all, []driver.Option{limit, sel, applied}, 5, driver.ErrInvalidOption},
		{"not allowed", driver.KindLimit, []driver.Option{sel}, -1, driver.ErrInvalidOption},
		{"not allowed after apply", driver.KindLimit, []driver.Option{limit, sel}, 5, driver.ErrInvalidOption},
		{"error", all, []driver.Option{driver.NamespaceSelector(driver.NamespaceName{}, bad)}, -1, bad},
		{"error after apply", all, []driver.Option{limit, driver.NamespaceSelector(driver.NamespaceName{}, bad)}, 5, bad},
		{"zero", all, []driver.Option{{}}, -1, driver.ErrInvalidOption},
	} {
		c, err := driver.ResolveOptions("get", tc.allowed, tc.opts)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || c.Namespace != ns || c.Limit != tc.limit || c.Set&driver.KindNamespace == 0 {
			t.Errorf("%s: %+v %v, want namespace %v, limit %d", tc.name, c, err, ns, tc.limit)
		}
	}
}

// TestResolveOptionsAllocs: options that are all NamespaceSelectors, or
// none, resolve without allocating; one with an apply function allocates
// the CallOptions it is handed, once per call.
func TestResolveOptionsAllocs(t *testing.T) {
	sel := []driver.Option{driver.NamespaceSelector(driver.NamespaceName{Name: "a"}, nil)}
	withApply := append(sel, driver.NewOption(driver.KindLimit, func(c *driver.CallOptions) error { c.Limit = 5; return nil }))
	for _, tc := range []struct {
		name string
		opts []driver.Option
		want float64
	}{{"none", nil, 0}, {"selector", sel, 0}, {"selector and apply", withApply, 1}} {
		n := testing.AllocsPerRun(100, func() {
			if _, err := driver.ResolveOptions("get", driver.AllOptionKinds, tc.opts); err != nil {
				t.Fatal(err)
			}
		})
		if n != tc.want {
			t.Errorf("%s: %v allocations per call, want %v", tc.name, n, tc.want)
		}
	}
}

// TestDataOptionConstructors: the driver's data option constructors given
// what package storage never gives them fail the call, or resolve as
// documented.
func TestDataOptionConstructors(t *testing.T) {
	bad := errors.New("bad")
	for _, tc := range []struct {
		name string
		o    driver.Option
		want error
	}{
		{"FlagOption(KindLimit)", driver.FlagOption(driver.KindLimit), driver.ErrInvalidOption},
		{"IntOption(KindAtomic)", driver.IntOption(driver.KindAtomic, 1), driver.ErrInvalidOption},
		{"ExpiryOption(TTL and Keep)", driver.ExpiryOption(driver.Expiry{TTL: time.Hour, Keep: true}), driver.ErrInvalidOption},
		{"ExpiryOption(none)", driver.ExpiryOption(driver.Expiry{}), driver.ErrInvalidOption},
		{"PatternOption(error)", driver.PatternOption("x", bad), bad},
		{"NamespaceSelector(error)", driver.NamespaceSelector(driver.NamespaceName{Name: "a"}, bad), bad},
	} {
		if _, err := driver.ResolveOptions("op", driver.AllOptionKinds, []driver.Option{tc.o}); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A namespace whose owner is not part of its name (which
	// ParseNamespace never answers) is kept as given.
	for _, ns := range []driver.NamespaceName{{Name: "a"}, {Name: "principal://pk/namespace/b", Owner: "pk"}, {Name: "x", Owner: "someone"}} {
		c, err := driver.ResolveOptions("op", driver.KindNamespace, []driver.Option{driver.NamespaceSelector(ns, nil)})
		if err != nil || c.Namespace != ns {
			t.Errorf("NamespaceSelector(%+v): %+v, %v", ns, c.Namespace, err)
		}
	}
	if c, err := driver.ResolveOptions("op", driver.KindExpiry, []driver.Option{driver.ExpiryOption(driver.Expiry{TTL: time.Minute})}); err != nil || c.Expiry.TTL != time.Minute {
		t.Errorf("ExpiryOption(TTL): %+v, %v", c.Expiry, err)
	}
}
