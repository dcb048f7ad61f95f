package storage_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// The options as they were before they were data (1bf8cf9): each an apply
// function, which resolves on the heap. TestDataOptionsResolveAsBefore
// checks the data options against them.
func legacyInt(kind driver.OptionKind, n int64) storage.Option {
	return driver.NewOption(kind, func(c *driver.CallOptions) error {
		switch kind {
		case driver.KindLimit, driver.KindOffset:
			name := map[driver.OptionKind]string{driver.KindLimit: "Limit", driver.KindOffset: "Offset"}[kind]
			if n < 0 {
				return driver.Invalidf(storage.ErrInvalidOption, "%s(%d): want >= 0", name, n)
			}
			if kind == driver.KindLimit {
				c.Limit = int(n)
			} else {
				c.Offset = int(n)
			}
		case driver.KindIfVersion:
			if n < 1 {
				return driver.Invalidf(storage.ErrInvalidOption, "IfVersion(%d): versions start at 1", n)
			}
			c.IfVersion = n
		case driver.KindIfRevision:
			if n < 1 {
				return driver.Invalidf(storage.ErrInvalidOption, "IfRevision(%d): revisions start at 1", n)
			}
			c.IfRevision = n
		}
		return nil
	})
}

func legacyFlag(kind driver.OptionKind) storage.Option {
	return driver.NewOption(kind, func(c *driver.CallOptions) error {
		switch kind {
		case driver.KindNoOverwrite:
			c.NoOverwrite = true
		case driver.KindMustExist:
			c.MustExist = true
		case driver.KindMerge:
			c.Merge = true
		case driver.KindAtomic:
			c.Atomic = true
		case driver.KindOmitValues:
			c.OmitValues = true
		case driver.KindExpiry:
			c.Expiry = driver.Expiry{Keep: true}
		}
		return nil
	})
}

func legacyTTL(d time.Duration) storage.Option {
	return driver.NewOption(driver.KindExpiry, func(c *driver.CallOptions) error {
		if err := driver.ValidateTTL(d); err != nil {
			return err
		}
		c.Expiry = driver.Expiry{TTL: d}
		return nil
	})
}

func legacyExpiresAt(t time.Time) storage.Option {
	return driver.NewOption(driver.KindExpiry, func(c *driver.CallOptions) error {
		if t.IsZero() {
			return driver.Invalidf(storage.ErrInvalidOption, "ExpiresAt: zero time")
		}
		c.Expiry = driver.Expiry{At: t}
		return nil
	})
}

func legacyRevision(r int64, from bool) storage.Option {
	return driver.NewOption(driver.KindRevision, func(c *driver.CallOptions) error {
		if from && r < 0 {
			return driver.Invalidf(storage.ErrInvalidOption, "FromRevision(%d): want >= 0", r)
		}
		if !from && r < 1 {
			return driver.Invalidf(storage.ErrInvalidOption, "AtRevision(%d): revisions start at 1", r)
		}
		c.Revision, c.RevisionFrom = r, from
		return nil
	})
}

func legacyMetadata(md any) storage.Option {
	b, err := driver.EncodeMetadata(md, 0)
	if b == nil {
		b = []byte("{}")
	}
	return driver.NewOption(driver.KindMetadata, func(c *driver.CallOptions) error {
		if err != nil {
			return err
		}
		c.Metadata = b
		return nil
	})
}

func legacyWritten(w *storage.WriteResult) storage.Option {
	return driver.NewOption(driver.KindWritten, func(c *driver.CallOptions) error {
		if w == nil {
			return driver.Invalidf(storage.ErrInvalidOption, "Written(nil)")
		}
		c.Written = w
		return nil
	})
}

func legacyPattern(p string) storage.Option {
	return driver.NewOption(driver.KindPattern, func(c *driver.CallOptions) error {
		if err := storage.ValidatePattern(p); err != nil {
			return err
		}
		c.Pattern = p
		return nil
	})
}

func legacyAfter(cursor string) storage.Option {
	return driver.NewOption(driver.KindCursor, func(c *driver.CallOptions) error {
		if cursor == "" {
			return driver.Invalidf(storage.ErrInvalidOption, "After(\"\"): empty cursor")
		}
		c.Cursor = cursor
		return nil
	})
}

func legacySortBy(fields ...storage.SortField) storage.Option {
	return driver.NewOption(driver.KindSort, func(c *driver.CallOptions) error {
		if len(fields) == 0 {
			return driver.Invalidf(storage.ErrInvalidOption, "SortBy(): no fields")
		}
		if len(fields) > storage.MaxSortFields {
			return driver.InvalidSort(driver.Invalidf(storage.ErrInvalidFilter, "SortBy: %d fields, more than %d", len(fields), storage.MaxSortFields))
		}
		for _, sf := range fields {
			f, err := driver.ParseField(sf.Field)
			if err != nil {
				return driver.InvalidSort(err)
			}
			c.SortFields = append(c.SortFields, f)
		}
		c.Sort = fields
		return nil
	})
}

func legacyWhere(f storage.Filter) storage.Option {
	return driver.NewOption(driver.KindFilter, func(c *driver.CallOptions) error {
		e, err := f.Compile()
		if err != nil {
			return err
		}
		c.Filter, c.FilterSource = e, f
		return nil
	})
}

func legacyInKeyRanges(ranges ...storage.KeyRange) storage.Option {
	return driver.NewOption(driver.KindKeyRanges, func(c *driver.CallOptions) error {
		if len(ranges) > 1024 {
			return driver.Invalidf(storage.ErrInvalidOption, "InKeyRanges: %d ranges, more than %d", len(ranges), 1024)
		}
		rs := make([]storage.KeyRange, 0, len(ranges))
		for _, r := range ranges {
			for _, b := range []string{r.From, r.To} {
				if !utf8.ValidString(b) || strings.IndexByte(b, 0) >= 0 {
					return driver.Invalidf(storage.ErrInvalidOption, "InKeyRanges: bound %q is not valid UTF-8 without NUL", b)
				}
			}
			if r.To != "" && r.To <= r.From {
				return driver.Invalidf(storage.ErrInvalidOption, "InKeyRanges: empty range [%q, %q)", r.From, r.To)
			}
			rs = append(rs, r)
		}
		slices.SortFunc(rs, func(a, b storage.KeyRange) int { return strings.Compare(a.From, b.From) })
		out := rs[:0]
		for _, r := range rs {
			if n := len(out); n > 0 && (out[n-1].To == "" || r.From <= out[n-1].To) {
				if out[n-1].To != "" && (r.To == "" || r.To > out[n-1].To) {
					out[n-1].To = r.To
				}
				continue
			}
			out = append(out, r)
		}
		c.KeyRanges = out
		return nil
	})
}

func legacyNamespace(name string) storage.Option {
	ns, err := storage.ParseNamespace(name)
	return driver.NewOption(driver.KindNamespace, func(c *driver.CallOptions) error {
		if err != nil {
			return err
		}
		c.Namespace = ns
		return nil
	})
}

// optionPair is an option and its legacy twin.
type optionPair struct {
	name        string
	data, apply storage.Option
}

func optionPairs() []optionPair {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	var w storage.WriteResult
	var ps []optionPair
	add := func(name string, data, apply storage.Option) {
		ps = append(ps, optionPair{name, data, apply})
	}
	for _, n := range []string{"a", "b.c-d_e", "principal://pk1", "principal://pk1/namespace/x", "", "no/such", "principal://"} {
		add(fmt.Sprintf("InNamespace(%q)", n), storage.InNamespace(n), legacyNamespace(n))
	}
	for _, n := range []int{-5, -1, 0, 1, 10, 1 << 40} {
		add(fmt.Sprintf("Limit(%d)", n), storage.Limit(n), legacyInt(driver.KindLimit, int64(n)))
		add(fmt.Sprintf("Offset(%d)", n), storage.Offset(n), legacyInt(driver.KindOffset, int64(n)))
		add(fmt.Sprintf("IfVersion(%d)", n), storage.IfVersion(int64(n)), legacyInt(driver.KindIfVersion, int64(n)))
		add(fmt.Sprintf("IfRevision(%d)", n), storage.IfRevision(int64(n)), legacyInt(driver.KindIfRevision, int64(n)))
		add(fmt.Sprintf("FromRevision(%d)", n), storage.FromRevision(int64(n)), legacyRevision(int64(n), true))
		add(fmt.Sprintf("AtRevision(%d)", n), storage.AtRevision(int64(n)), legacyRevision(int64(n), false))
	}
	add("NoOverwrite", storage.NoOverwrite(), legacyFlag(driver.KindNoOverwrite))
	add("MustExist", storage.MustExist(), legacyFlag(driver.KindMustExist))
	add("Merge", storage.Merge(), legacyFlag(driver.KindMerge))
	add("Atomic", storage.Atomic(), legacyFlag(driver.KindAtomic))
	add("OmitValues", storage.OmitValues(), legacyFlag(driver.KindOmitValues))
	add("KeepTTL", storage.KeepTTL(), legacyFlag(driver.KindExpiry))
	for _, d := range []time.Duration{-time.Second, 0, 1, time.Hour, storage.MaxTTL, storage.MaxTTL + 1} {
		add(fmt.Sprintf("WithTTL(%s)", d), storage.WithTTL(d), legacyTTL(d))
	}
	add("ExpiresAt(at)", storage.ExpiresAt(at), legacyExpiresAt(at))
	add("ExpiresAt(zero)", storage.ExpiresAt(time.Time{}), legacyExpiresAt(time.Time{}))
	add("WithMetadata(map)", storage.WithMetadata(map[string]any{"a": 1}), legacyMetadata(map[string]any{"a": 1}))
	add("WithMetadata(nil)", storage.WithMetadata(nil), legacyMetadata(nil))
	add("WithMetadata(array)", storage.WithMetadata([]int{1}), legacyMetadata([]int{1}))
	add("Written(&w)", storage.Written(&w), legacyWritten(&w))
	add("Written(nil)", storage.Written(nil), legacyWritten(nil))
	for _, p := range []string{"user:*", "", "a\\", "a\x00", strings.Repeat("a", storage.MaxPatternLen+1)} {
		add(fmt.Sprintf("Pattern(%.20q)", p), storage.Pattern(p), legacyPattern(p))
	}
	add("After(c)", storage.After("c"), legacyAfter("c"))
	add("After(empty)", storage.After(""), legacyAfter(""))
	for _, s := range [][]storage.SortField{
		{storage.Asc("n")}, {storage.Desc("a.b"), storage.Asc("$key")}, {storage.Desc("$metadata.x")},
		nil, {storage.Asc("bad field")}, {storage.Asc("n"), storage.Asc("$key.x")},
		make([]storage.SortField, storage.MaxSortFields+1),
	} {
		add(fmt.Sprintf("SortBy(%v)", s), storage.SortBy(s...), legacySortBy(s...))
	}
	for _, f := range []storage.Filter{storage.Eq("n", 1), {}, storage.And(storage.Gte("n", 1), storage.Lt("n", 5)), storage.Eq("bad field", 1)} {
		add(fmt.Sprintf("Where(%v)", f), storage.Where(f), legacyWhere(f))
	}
	for _, rs := range [][]storage.KeyRange{
		nil, {{From: "b", To: "c"}, {From: "a", To: "b"}}, {{From: "a"}, {From: "c", To: "d"}},
		{{From: "b", To: "a"}}, {{From: "a\x00"}}, make([]storage.KeyRange, 1025),
	} {
		add(fmt.Sprintf("InKeyRanges(%d)", len(rs)), storage.InKeyRanges(rs...), legacyInKeyRanges(rs...))
	}
	return ps
}

// sameResolution fails t unless the two resolutions agree: the same
// CallOptions, and errors of the same type, text and sentinels.
func sameResolution(t *testing.T, name string, c1 driver.CallOptions, err1 error, c2 driver.CallOptions, err2 error) {
	t.Helper()
	if (err1 == nil) != (err2 == nil) || err1 != nil && (err1.Error() != err2.Error() || reflect.TypeOf(err1) != reflect.TypeOf(err2)) {
		t.Errorf("%s: error %v (%T), was %v (%T)", name, err1, err1, err2, err2)
		return
	}
	for _, s := range []error{storage.ErrInvalidOption, storage.ErrInvalidNamespace, storage.ErrInvalidValue, storage.ErrInvalidFilter} {
		if errors.Is(err1, s) != errors.Is(err2, s) {
			t.Errorf("%s: errors.Is(%v, %v) differs", name, err1, s)
		}
	}
	var v1, v2 *driver.ValidationError
	if errors.As(err1, &v1) != errors.As(err2, &v2) || v1 != nil && *v1 != *v2 {
		t.Errorf("%s: ValidationError %+v, was %+v", name, v1, v2)
	}
	if err1 == nil && !reflect.DeepEqual(c1, c2) {
		t.Errorf("%s: resolves to %+v, was %+v", name, c1, c2)
	}
}

// TestDataOptionsResolveAsBefore: every option of package storage resolves
// as it did when it was an apply function: alone, after a data option,
// after an apply option (the heap path), twice, where not accepted, and in
// the combinations that exclude each other; valid and invalid values.
func TestDataOptionsResolveAsBefore(t *testing.T) {
	pairs := optionPairs()
	in := storage.InNamespace("x")
	legacyIn := legacyNamespace("x")
	for _, p := range pairs {
		for _, tc := range []struct {
			name       string
			allowed    driver.OptionKind
			data, appl []storage.Option
		}{
			{"alone", driver.AllOptionKinds, []storage.Option{p.data}, []storage.Option{p.apply}},
			{"after a namespace", driver.AllOptionKinds, []storage.Option{in, p.data}, []storage.Option{legacyIn, p.apply}},
			{"after an apply option", driver.AllOptionKinds, []storage.Option{legacyFlag(driver.KindAtomic), p.data}, []storage.Option{legacyFlag(driver.KindAtomic), p.apply}},
			{"twice", driver.AllOptionKinds, []storage.Option{p.data, p.data}, []storage.Option{p.apply, p.apply}},
			{"not accepted", driver.AllOptionKinds &^ p.data.Kind(), []storage.Option{p.data}, []storage.Option{p.apply}},
			{"with NoOverwrite", driver.AllOptionKinds, []storage.Option{p.data, storage.NoOverwrite()}, []storage.Option{p.apply, legacyFlag(driver.KindNoOverwrite)}},
			{"with IfVersion", driver.AllOptionKinds, []storage.Option{storage.IfVersion(3), p.data}, []storage.Option{legacyInt(driver.KindIfVersion, 3), p.apply}},
		} {
			if p.data.Kind() != p.apply.Kind() {
				t.Fatalf("%s: kind %v, was %v", p.name, p.data.Kind(), p.apply.Kind())
			}
			c1, err1 := driver.ResolveOptions("op", tc.allowed, tc.data)
			c2, err2 := driver.ResolveOptions("op", tc.allowed, tc.appl)
			sameResolution(t, p.name+" "+tc.name, c1, err1, c2, err2)
		}
	}
}

// TestOptionsResolveWithoutAllocating: the options of the hot paths are
// built without allocating, and the typical combinations of a Get, Set,
// Delete, Query, List, GetMany and Count resolve without allocating
// (before, every option but InNamespace was a closure, built on the heap,
// and its resolution copied the ~640-byte CallOptions to the heap).
func TestOptionsResolveWithoutAllocating(t *testing.T) {
	var w storage.WriteResult
	build := map[string]func() storage.Option{
		"InNamespace":  func() storage.Option { return storage.InNamespace("a") },
		"Limit":        func() storage.Option { return storage.Limit(10) },
		"Offset":       func() storage.Option { return storage.Offset(10) },
		"After":        func() storage.Option { return storage.After("cursor") },
		"IfVersion":    func() storage.Option { return storage.IfVersion(3) },
		"IfRevision":   func() storage.Option { return storage.IfRevision(3) },
		"NoOverwrite":  func() storage.Option { return storage.NoOverwrite() },
		"MustExist":    func() storage.Option { return storage.MustExist() },
		"Merge":        func() storage.Option { return storage.Merge() },
		"Atomic":       func() storage.Option { return storage.Atomic() },
		"WithTTL":      func() storage.Option { return storage.WithTTL(time.Hour) },
		"KeepTTL":      func() storage.Option { return storage.KeepTTL() },
		"Written":      func() storage.Option { return storage.Written(&w) },
		"AtRevision":   func() storage.Option { return storage.AtRevision(3) },
		"FromRevision": func() storage.Option { return storage.FromRevision(3) },
		"OmitValues":   func() storage.Option { return storage.OmitValues() },
		"Pattern":      func() storage.Option { return storage.Pattern("user:*") },
	}
	for name, f := range build {
		var sink storage.Option
		if n := testing.AllocsPerRun(100, func() { sink = f() }); n != 0 {
			t.Errorf("%s: built with %v allocations, want 0", name, n)
		}
		_ = sink
	}

	in := storage.InNamespace("a")
	sort := storage.SortBy(storage.Desc("n"))
	where := storage.Where(storage.Eq("n", 1))
	md := storage.WithMetadata(map[string]any{"a": 1})
	ranges := storage.InKeyRanges(storage.PrefixRange("user:"))
	for _, tc := range []struct {
		op   string
		opts []storage.Option
	}{
		{"get", []storage.Option{in}},
		{"get", []storage.Option{in, storage.AtRevision(7)}},
		{"set", []storage.Option{in, storage.IfVersion(3)}},
		{"set", []storage.Option{in, storage.IfRevision(3), storage.Written(&w)}},
		{"set", []storage.Option{in, storage.WithTTL(time.Minute)}},
		{"set", []storage.Option{in, storage.NoOverwrite(), storage.WithTTL(time.Minute)}},
		{"set", []storage.Option{in, storage.MustExist(), storage.KeepTTL()}},
		{"set", []storage.Option{in, storage.Merge(), md}},
		{"delete", []storage.Option{in, storage.IfVersion(3)}},
		{"query", []storage.Option{in, storage.Limit(10)}},
		{"query", []storage.Option{in, sort, storage.Limit(20), storage.After("c")}},
		{"query", []storage.Option{in, storage.Limit(20), storage.Offset(40), ranges}},
		{"list", []storage.Option{in, storage.Pattern("user:*"), storage.Limit(100)}},
		{"getMany", []storage.Option{in}},
		{"setMany", []storage.Option{in, storage.Atomic(), storage.WithTTL(time.Minute)}},
		{"count", []storage.Option{in, where}},
	} {
		n := testing.AllocsPerRun(100, func() {
			if _, err := driver.ResolveOptions(tc.op, driver.AllOptionKinds, tc.opts); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			kinds := make([]string, len(tc.opts))
			for i, o := range tc.opts {
				kinds[i] = o.Kind().String()
			}
			t.Errorf("%s %v: %v allocations per resolution, want 0", tc.op, kinds, n)
		}
	}
}
