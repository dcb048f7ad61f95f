package sqlstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/schema"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestKeyChains: on SQLite a key's changes are found along their
// prev_revision chains (migration 00015), not by a per-key index of the
// log. History, Get AtRevision at every revision, and the CreateRevision
// it reports answer exactly as a scan of the log for the key does, for
// keys that lived through overwrites, metadata changes, deletes,
// re-creates, a write over an expired entry, an expiry swept, a clear, a
// namespace delete and re-create, batches and a transaction; then after a
// compaction; then on a store taken down to version 14 (which drops what
// the chains need) and migrated up again, which refills it from the log.
func TestKeyChains(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	dsn := testdb.SQLiteFile(t)
	s := openTest(t, dsn, WithClock(clock.Now), WithSweepInterval(-1), WithRetention(Retention{Changes: 1_000_000}))
	ctx := t.Context()
	a, b, c := storage.InNamespace("a"), storage.InNamespace("b"), storage.InNamespace("c")
	step := func() { clock.Advance(time.Second) }
	for i := range 3 {
		must(t, s.Set(ctx, "k1", i, a))
		step()
	}
	must(t, s.SetMetadata(ctx, "k1", map[string]any{"m": 1}, a))
	must(t, s.Delete(ctx, "k1", a))
	must(t, s.Set(ctx, "k1", "again", a))
	must(t, s.Set(ctx, "k2", 1, a, storage.WithTTL(time.Minute)))
	must(t, s.Set(ctx, "k2", 2, a, storage.WithTTL(time.Minute)))
	clock.Advance(time.Hour) // k2 expired, not swept
	must(t, s.Set(ctx, "k2", 3, a))
	must(t, s.Set(ctx, "k2", 4, a))
	must(t, s.Set(ctx, "k3", 1, a, storage.WithTTL(time.Minute)))
	clock.Advance(time.Hour)
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, s.Set(ctx, "k3", 2, a))
	for i := range 2 {
		must(t, s.Set(ctx, "k4", i, b))
		must(t, s.Set(ctx, "k5", i, b))
	}
	must(t, s.Clear(ctx, b))
	must(t, s.Set(ctx, "k4", "after clear", b))
	must(t, s.Set(ctx, "k6", 1, c))
	must(t, s.Set(ctx, "k6", 2, c))
	must(t, s.DeleteNamespace(ctx, "c", storage.Recursive()))
	must(t, s.Set(ctx, "k6", 3, c))
	for i := range 3 {
		items := []storage.Item{{Key: "k1", Value: i}, {Key: "k7", Value: i}, {Key: "k8", Value: i}}
		if res, err := s.SetMany(ctx, items, a); err != nil || !res.OK() {
			t.Fatalf("SetMany: %v %v", err, res.Err())
		}
		step()
	}
	if res, err := s.DeleteMany(ctx, []string{"k7", "k8"}, a); err != nil || !res.OK() {
		t.Fatalf("DeleteMany: %v %v", err, res.Err())
	}
	tx, err := s.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	must(t, tx.Set(ctx, "k8", "tx", a))
	must(t, tx.Delete(ctx, "k1", a))
	must(t, tx.Commit(ctx))
	must(t, s.Set(ctx, "k1", "last", a))

	keys := []struct{ ns, key string }{{"a", "k1"}, {"a", "k2"}, {"a", "k3"}, {"b", "k4"}, {"b", "k5"}, {"c", "k6"},
		{"a", "k7"}, {"a", "k8"}, {"a", "none"}, {"b", "k1"}}
	// answers is every key's History (also paged) and Get at every
	// revision, as text.
	answers := func(s *Store) []string {
		t.Helper()
		var out []string
		h := head(t, s)
		for _, k := range keys {
			in := storage.InNamespace(k.ns)
			evs, err := s.History(ctx, k.key, in)
			out = append(out, fmt.Sprintf("history %s/%s: %s %v", k.ns, k.key, jsonText(t, evs), err))
			for from := int64(0); from <= h; from += 5 {
				evs, err := s.History(ctx, k.key, in, storage.FromRevision(from), storage.Limit(2))
				out = append(out, fmt.Sprintf("history %s/%s from %d: %s %v", k.ns, k.key, from, jsonText(t, evs), err))
			}
			for r := int64(1); r <= h; r++ {
				e, err := s.Get(ctx, k.key, in, storage.AtRevision(r))
				out = append(out, fmt.Sprintf("get %s/%s at %d: %s %v", k.ns, k.key, r, jsonText(t, e), err))
			}
		}
		return out
	}
	compare := func(what string, got, want []string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d answers, want %d", what, len(got), len(want))
		}
		bad := 0
		for i := range got {
			if got[i] != want[i] && bad < 10 {
				bad++
				t.Errorf("%s:\n got %s\nwant %s", what, got[i], want[i])
			}
		}
	}
	scan := func(s *Store) []string {
		s.logScan = true
		defer func() { s.logScan = false }()
		return answers(s)
	}
	want := scan(s)
	if slices.IndexFunc(want, func(a string) bool { return len(a) > 0 && a[len(a)-5:] != "<nil>" }) < 0 {
		t.Fatal("no answer is an error: the scenario does not reach a missing key")
	}
	compare("chains", answers(s), want)

	// Taken down to version 14 and up again: change_ends refilled.
	var m *schema.Migrator
	m, err = schema.NewMigrator(schema.SQLite, s.Backend().Writer, schema.WithSQLiteFile(dsn[len("sqlite:"):]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.DownTo(ctx, 14); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	s = openTest(t, dsn, WithClock(clock.Now), WithSweepInterval(-1), WithRetention(Retention{Changes: 12}))
	defer s.Close()
	compare("after down to 14 and up", answers(s), want)

	if n, err := s.Compact(ctx); err != nil || n == 0 {
		t.Fatalf("Compact: %d, %v", n, err)
	}
	compare("chains after compaction", answers(s), scan(s))
	var left int64
	if err := s.eng.reader().queryRows(ctx, "SELECT count(*) FROM change_ends WHERE revision <= (SELECT compacted_through FROM change_log_state)", nil,
		func(r rowScanner) error { return r.Scan(&left) }); err != nil || left != 0 {
		t.Errorf("change_ends rows at or before the compacted revision: %d, %v", left, err)
	}
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
