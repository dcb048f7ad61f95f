package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

func TestJSONEqual(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, `{"b": [1, 2], "a": 1}`, true},
		{`1.0`, `1`, true},
		{`1e2`, `100`, true},
		{`12345678901234567890`, `12345678901234567891`, false},
		{`"x"`, `"x"`, true},
		{`"x"`, `"y"`, false},
		{`null`, `null`, true},
		{`[1,2]`, `[2,1]`, false},
		{`{"a":1}`, `{"a":1,"b":2}`, false},
		{`{"a":true}`, `{"a":"true"}`, false},
		{`{`, `{`, false},
		{`1e999999999`, `1e999999999`, true},
		{`1e999999999`, `10e999999998`, true},
		{`1`, `1 1`, false},
	}
	for _, c := range cases {
		if got := JSONEqual([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("JSONEqual(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

func TestParseConflictMode(t *testing.T) {
	for s, want := range map[string]ConflictMode{"": ConflictFail, "fail": ConflictFail, "error": ConflictFail, "skip": ConflictSkip, "overwrite": ConflictOverwrite} {
		if got, err := ParseConflictMode(s); err != nil || got != want {
			t.Errorf("ParseConflictMode(%q) = %v, %v", s, got, err)
		}
		if want.String() == "" {
			t.Errorf("%d has no name", want)
		}
	}
	if _, err := ParseConflictMode("merge"); !errors.Is(err, storage.ErrInvalidOption) {
		t.Errorf("ParseConflictMode(merge): %v", err)
	}
}

// TestRestore writes records on every configuration and reads them back
// exactly, with the entry counts kept right; an invalid record fails the
// whole batch naming its index, and writes nothing.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2020, 1, 2, 3, 4, 5, 123456000, time.UTC)
	recs := []Record{
		{Namespace: "a", Key: "k1", Value: json.RawMessage(`{"x":1}`), Metadata: json.RawMessage(`{"m":true}`),
			Version: 7, CreatedAt: at, UpdatedAt: at.Add(time.Hour), CreatedBy: "alice", UpdatedBy: "bob"},
		{Namespace: "a", Key: "k2", Value: json.RawMessage(`"s"`), Metadata: json.RawMessage(`{}`),
			Version: 1, CreatedAt: at, UpdatedAt: at},
		{Namespace: "principal://p1", Key: "k", Value: json.RawMessage(`null`), Metadata: json.RawMessage(`{}`),
			Version: 2, CreatedAt: at, UpdatedAt: at},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer func() { _ = s.Close() }()
			t.Cleanup(func() { checkInvariants(t, s) })

			bad := append([]Record(nil), recs...)
			bad[1].Key = ""
			_, err := s.Restore(ctx, bad, ConflictFail)
			var re *RecordError
			if !errors.As(err, &re) || re.Index != 1 || !errors.Is(err, storage.ErrInvalidKey) {
				t.Fatalf("invalid record: %v", err)
			}
			if st, _ := s.Status(ctx); st.Size != 0 {
				t.Fatalf("an invalid batch wrote %d entries", st.Size)
			}

			res, err := s.Restore(ctx, recs, ConflictFail)
			if err != nil || res.Inserted != 3 {
				t.Fatalf("restore: %+v %v", res, err)
			}
			md, err := s.GetMetadata(ctx, "k1", storage.InNamespace("a"))
			if err != nil {
				t.Fatal(err)
			}
			if md.Version != 7 || !md.CreatedAt.Equal(at) || !md.UpdatedAt.Equal(at.Add(time.Hour)) ||
				md.CreatedBy != "alice" || md.UpdatedBy != "bob" || md.User["m"] != true {
				t.Fatalf("restored metadata: %+v", md)
			}
			if n, _ := s.Count(ctx, storage.InNamespace("a")); n != 2 {
				t.Fatalf("count a = %d", n)
			}

			// Again: unchanged. A changed version: a conflict unless skip or overwrite.
			if res, err := s.Restore(ctx, recs, ConflictFail); err != nil || res.Unchanged != 3 {
				t.Fatalf("again: %+v %v", res, err)
			}
			changed := append([]Record(nil), recs...)
			changed[2].Version = 3
			if _, err := s.Restore(ctx, changed, ConflictFail); !errors.As(err, &re) || re.Index != 2 || !errors.Is(err, storage.ErrAlreadyExists) {
				t.Fatalf("conflict: %v", err)
			}
			if res, err := s.Restore(ctx, changed, ConflictSkip); err != nil || res.Skipped != 1 || res.Unchanged != 2 {
				t.Fatalf("skip: %+v %v", res, err)
			}
			if res, err := s.Restore(ctx, changed, ConflictOverwrite); err != nil || res.Overwritten != 1 {
				t.Fatalf("overwrite: %+v %v", res, err)
			}
			if md, _ := s.GetMetadata(ctx, "k", storage.InNamespace("principal://p1")); md.Version != 3 {
				t.Fatalf("overwritten version %d", md.Version)
			}
			dup := []Record{recs[0], recs[0]}
			if _, err := s.Restore(ctx, dup, ConflictFail); !errors.As(err, &re) || re.Index != 1 {
				t.Fatalf("duplicate: %v", err)
			}

			// Export reads back exactly what was restored.
			var got []Record
			err = s.Export(ctx, ExportOptions{Namespace: "a", PageSize: 1}, nil, func(r Record) error { got = append(got, r); return nil })
			if err != nil || len(got) != 2 || got[0].Key != "k1" || got[0].Version != 7 || got[0].CreatedBy != "alice" ||
				!got[0].UpdatedAt.Equal(at.Add(time.Hour)) || !JSONEqual(got[0].Value, recs[0].Value) {
				t.Fatalf("export: %+v %v", got, err)
			}
			if err := s.Export(ctx, ExportOptions{Namespace: "nope"}, nil, nil); !errors.Is(err, storage.ErrNamespaceNotFound) {
				t.Fatalf("export of a missing namespace: %v", err)
			}
			stop := errors.New("stop")
			if err := s.Export(ctx, ExportOptions{}, nil, func(Record) error { return stop }); !errors.Is(err, stop) {
				t.Fatalf("callback error: %v", err)
			}
		})
	}
}

// TestExportPages checks the page statement's byte bound (DumpEntries): a
// page stops once the rows before it hold maxBytes of JSON, always returns
// its first row, and reports its running size; and Export, whose pages are
// cut by it and whose next page limit adapts, still yields every entry once,
// in key order, exactly as restored.
func TestExportPages(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2021, 5, 6, 7, 8, 9, 654321000, time.UTC)
	kb := `"` + strings.Repeat("x", 1000) + `"`
	big := `{"pad":"` + strings.Repeat("y", 3<<20) + `"}` // 3 MiB: a few make a page full
	var recs []Record
	for i := range 40 {
		v := kb
		if i%7 == 3 {
			v = big
		}
		recs = append(recs, Record{Namespace: "p", Key: fmt.Sprintf("k%03d", i), Value: json.RawMessage(v),
			Metadata: json.RawMessage(`{}`), Version: int64(i + 1), CreatedAt: at, UpdatedAt: at.Add(time.Duration(i) * time.Microsecond)})
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer func() { _ = s.Close() }()
			if res, err := s.Restore(ctx, recs, ConflictFail); err != nil || res.Inserted != len(recs) {
				t.Fatalf("restore: %+v %v", res, err)
			}
			q := s.eng.reader()
			ns, err := q.dumpNamespace(ctx, "p")
			if err != nil {
				t.Fatal(err)
			}
			// k000..k002 hold about 1 KB each: 2500 bytes admit three rows
			// (the third starts below the bound), and the page is full.
			page, size, err := q.dumpEntries(ctx, ns.ID, "", 100, 2500, time.Now())
			if err != nil || len(page) != 3 || page[0].Key != "k000" || size < 2500 || size > 3100 {
				t.Fatalf("cut page: %d rows, size %d, %v", len(page), size, err)
			}
			// The first row comes however small the bound, and the bound
			// holds however large the row.
			if page, size, err := q.dumpEntries(ctx, ns.ID, "k002", 100, 1, time.Now()); err != nil || len(page) != 1 || page[0].Key != "k003" || size < 3<<20 {
				t.Fatalf("first row: %d rows, size %d, %v", len(page), size, err)
			}
			// The entry limit applies before the byte bound.
			if page, size, err := q.dumpEntries(ctx, ns.ID, "", 2, 1<<30, time.Now()); err != nil || len(page) != 2 || size >= 1<<30 {
				t.Fatalf("limit: %d rows, size %d, %v", len(page), size, err)
			}
			if page, _, err := q.dumpEntries(ctx, ns.ID, "k039", 100, 1<<30, time.Now()); err != nil || len(page) != 0 {
				t.Fatalf("after the last key: %d rows, %v", len(page), err)
			}

			for _, ps := range []int{0, 1, 5} {
				var got []Record
				err := s.Export(ctx, ExportOptions{Namespace: "p", PageSize: ps}, nil, func(r Record) error {
					got = append(got, r)
					return nil
				})
				if err != nil || len(got) != len(recs) {
					t.Fatalf("page size %d: %d records, %v", ps, len(got), err)
				}
				for i, r := range got {
					w := recs[i]
					if r.Namespace != "p" || r.Key != w.Key || r.Version != w.Version || !r.CreatedAt.Equal(w.CreatedAt) ||
						!r.UpdatedAt.Equal(w.UpdatedAt) || !JSONEqual(r.Value, w.Value) || !JSONEqual(r.Metadata, w.Metadata) {
						t.Fatalf("page size %d: record %d is %s v%d, want %s v%d", ps, i, r.Key, r.Version, w.Key, w.Version)
					}
				}
			}
		})
	}
}
