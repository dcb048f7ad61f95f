package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/pgdb"
)

// sqlRecorder is a pgdb.DBTX that keeps the text of the statement sent to
// it and fails it.
type sqlRecorder struct{ sql string }

var errRecorded = errors.New("recorded")

func (r *sqlRecorder) Exec(_ context.Context, sql string, _ ...any) (pgconn.CommandTag, error) {
	r.sql = sql
	return pgconn.CommandTag{}, errRecorded
}

func (r *sqlRecorder) Query(_ context.Context, sql string, _ ...any) (pgx.Rows, error) {
	r.sql = sql
	return nil, errRecorded
}

func (r *sqlRecorder) QueryRow(_ context.Context, sql string, _ ...any) pgx.Row {
	r.sql = sql
	return nil
}

// preProbeUpsert is UpsertEntries as it was before it took the previous
// revision of an overwritten entry from the row it overwrites: a probe of
// entries per item in its item CTE, and the change-log rows joined back to
// the items for it.
func preProbeUpsert(t testing.TB, cur string) string {
	t.Helper()
	swaps := [][2]string{
		{"j.keep, j.ord,\n", "j.keep, j.ord,\n           (SELECT o.revision FROM entries o WHERE o.namespace_id = n.id AND o.key = j.key\n              AND (o.expires_at IS NULL OR o.expires_at > $1::timestamptz)) AS prev_revision,\n"},
		{",\n        prev_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at\n                             THEN entries.revision END\n", "\n"},
		{"create_revision, prev_revision, created_at", "create_revision, created_at"},
		{"up.prev_revision, $1", "CASE WHEN up.create_revision <> up.revision THEN i.prev_revision END, $1"},
		{"    FROM up\n)", "    FROM up JOIN i ON i.key = up.key\n)"},
	}
	old := cur
	for _, s := range swaps {
		if strings.Count(old, s[0]) != 1 {
			t.Fatalf("UpsertEntries has %d of %q, want 1:\n%s", strings.Count(old, s[0]), s[0], cur)
		}
		old = strings.Replace(old, s[0], s[1], 1)
	}
	return old
}

// TestPGBatchProbeCost measures the server CPU (the backend's
// /proc/<pid>/schedstat) and WAL of UpsertEntries, the statement of a
// PostgreSQL SetMany, as shipped and as it was with a probe of entries per
// item for the overwritten revision (preProbeUpsert), in interleaved
// rounds on one connection: 1000 new keys and 1000 overwrites, in a
// namespace declaring two fields (n, t) and in one declaring none, the
// overwrites moving both fields. Each ratio is the median of the per-round
// ratios (shipped/old), with the quartiles. A measurement: it runs with
// STORAGE_PGWRITE_AB=1 (STORAGE_PGWRITE_AB_ROUNDS, default 9) and a
// PostgreSQL on this machine, and asserts only that both statements write
// the same rows.
func TestPGBatchProbeCost(t *testing.T) {
	if os.Getenv("STORAGE_PGWRITE_AB") == "" {
		t.Skip("a measurement: set STORAGE_PGWRITE_AB=1 to run it")
	}
	rounds := 9
	if v, err := strconv.Atoi(os.Getenv("STORAGE_PGWRITE_AB_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	must(t, s.CreateNamespace(ctx, "two", storage.WithIndexes("n", "t")))
	must(t, s.CreateNamespace(ctx, "plain"))
	pad := strings.Repeat("0", 200)
	val := func(k, n int) []byte {
		return fmt.Appendf(nil, `{"n":%d,"t":"t%05d","s":"%s"}`, n, n%1000, pad)
	}
	const keys = 20000
	for _, ns := range []string{"two", "plain"} {
		for b := 0; b < keys; b += 1000 {
			items := make([]storage.Item, 1000)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("key:%06d", b+i), Value: val(b+i, b+i)}
			}
			if _, err := s.SetMany(ctx, items, storage.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
		}
	}
	rec := &sqlRecorder{}
	_, _ = pgdb.New(rec).UpsertEntries(ctx, pgdb.UpsertEntriesParams{})
	cur := rec.sql
	old := preProbeUpsert(t, cur)

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	cpu := func() int64 {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "schedstat"))
		if err != nil {
			t.Fatalf("the server's backend: %v (the server must run on this machine)", err)
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		return ns
	}
	lsn := func() int64 {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn() - '0/0'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	seq := 0
	batch := func(ns, prefix string, move bool) pgdb.UpsertEntriesParams {
		seq++
		p := pgdb.UpsertEntriesParams{Now: time.Now(), Namespace: ns, Keys: make([]string, 1000), Vals: make([][]byte, 1000),
			Metadatas: make([][]byte, 1000), Expires: make([]int64, 1000), Keeps: make([]bool, 1000)}
		for i := range 1000 {
			if move {
				k := (i*7919 + seq*1000) % keys
				p.Keys[i], p.Vals[i] = fmt.Sprintf("key:%06d", k), val(k, k+seq*37)
			} else {
				p.Keys[i], p.Vals[i] = fmt.Sprintf("%s:%09d", prefix, seq*1000+i), val(i, seq*1000+i)
			}
			p.Metadatas[i] = []byte("{}")
		}
		slices.Sort(p.Keys) // the engine sends a batch's keys sorted
		return p
	}
	run := func(stmt string, p pgdb.UpsertEntriesParams) {
		rows, err := conn.Query(ctx, stmt, p.Now, p.Keys, p.Vals, p.Metadatas, p.Expires, p.Keeps, p.Namespace, p.Actor)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if rows.Close(); rows.Err() != nil || n != len(p.Keys) {
			t.Fatalf("%d rows, %v", n, rows.Err())
		}
	}
	type work struct {
		name   string
		ns     string
		move   bool
		prefix string
	}
	works := []work{{"new/two", "two", false, "new2"}, {"new/plain", "plain", false, "newp"},
		{"moved/two", "two", true, ""}, {"overwrite/plain", "plain", true, ""}}
	const per = 3 // batches per round and statement
	type fig struct{ cpu, wal []float64 }
	figs := map[string]*fig{}
	for _, w := range works {
		figs[w.name+"/old"], figs[w.name+"/new"] = &fig{}, &fig{}
	}
	arms := []struct {
		name, stmt string
	}{{"old", old}, {"new", cur}}
	for _, a := range arms { // warm both statements' plans
		for range 6 {
			run(a.stmt, batch("plain", "warm"+a.name, false))
		}
	}
	for r := range rounds {
		for _, w := range works {
			order := []int{0, 1}
			if r%2 == 1 {
				order = []int{1, 0}
			}
			for _, ai := range order {
				a := arms[ai]
				ps := make([]pgdb.UpsertEntriesParams, per)
				for i := range ps {
					ps[i] = batch(w.ns, w.prefix+a.name, w.move)
				}
				c0, l0 := cpu(), lsn()
				for _, p := range ps {
					run(a.stmt, p)
				}
				c1, l1 := cpu(), lsn()
				f := figs[w.name+"/"+a.name]
				f.cpu = append(f.cpu, float64(c1-c0)/per/1e3)
				f.wal = append(f.wal, float64(l1-l0)/per)
			}
		}
	}
	q := func(v []float64) (float64, float64, float64) {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/4], v[len(v)/2], v[(3*len(v))/4]
	}
	for _, w := range works {
		o, n := figs[w.name+"/old"], figs[w.name+"/new"]
		ratio := make([]float64, len(o.cpu))
		for i := range ratio {
			ratio[i] = n.cpu[i] / o.cpu[i]
		}
		_, oc, _ := q(o.cpu)
		_, nc, _ := q(n.cpu)
		_, ow, _ := q(o.wal)
		_, nw, _ := q(n.wal)
		lo, mid, hi := q(ratio)
		t.Logf("%-16s server CPU per batch old %7.0f us new %7.0f us  new/old %.3f (%.3f-%.3f)  WAL per batch old %.0f B new %.0f B",
			w.name, oc, nc, mid, lo, hi, ow, nw)
	}
	// Both statements wrote the same kind of rows: every change-log row of
	// an overwrite names the revision before it.
	var bad int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM changes c WHERE c.kind = 'put' AND c.version > 1 AND c.prev_revision IS DISTINCT FROM
  (SELECT max(p.revision) FROM changes p WHERE p.namespace = c.namespace AND p.key = c.key AND p.revision < c.revision)`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d overwrites logged with another previous revision than the one before them", bad)
	}
}
