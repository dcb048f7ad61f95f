package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/pgdb"
)

// TestPGSetPartsCost breaks a single Set's server CPU down by part
// (bench/results/2026-12-05-pgset.md): one pgx connection sends the
// Set's statements as revDB does (the timed revision lock and UpsertEntry
// in one batch, one Sync, an implicit transaction), and variants that
// leave parts out one after the other, each a bound, none correct: the
// lock statement; the entries and changes triggers
// (session_replication_role = replica on the connection); the change-log
// row (the ch CTE); storage_take_revisions (a constant revision, the
// namespace lookup kept). Last, the raw pgx upsert of bench/peers on its
// own table. Overwrites and new keys in a namespace without declared
// fields; server CPU of the connection's backend (/proc/<pid>/schedstat;
// the server must run on this machine) per Set, rounds interleaved with
// the order rotated, the median of per-round ratios to the full Set.
// STORAGE_PGSETPARTS=1 runs it (STORAGE_PGSETPARTS_ROUNDS, default 11;
// STORAGE_PGSETPARTS_N Sets per variant and round, default 300).
func TestPGSetPartsCost(t *testing.T) {
	if os.Getenv("STORAGE_PGSETPARTS") == "" {
		t.Skip("a measurement: set STORAGE_PGSETPARTS=1 to run it")
	}
	rounds, n := 11, 300
	if v, err := strconv.Atoi(os.Getenv("STORAGE_PGSETPARTS_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if v, err := strconv.Atoi(os.Getenv("STORAGE_PGSETPARTS_N")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	dsn := strings.Replace(newPGSchema(t), "pool_max_conns=8", "pool_max_conns=1", 1)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	must(t, s.CreateNamespace(ctx, "plain"))
	pad := fmt.Sprintf("%0200d", 0)
	val := func(n int) []byte { return []byte(fmt.Sprintf(`{"n":%d,"s":"%s"}`, n, pad)) }
	const keys = 20000
	for b := 0; b < keys; b += 1000 {
		items := make([]storage.Item, 1000)
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("key:%06d", b+i), Value: json.RawMessage(val(b + i))}
		}
		if _, err := s.SetMany(ctx, items, storage.InNamespace("plain")); err != nil {
			t.Fatal(err)
		}
	}
	pool, err := pgxpool.New(ctx, dsn)
	must(t, err)
	t.Cleanup(pool.Close)
	pc, err := pool.Acquire(ctx)
	must(t, err)
	t.Cleanup(pc.Release)
	conn := pc.Conn()
	const rawUpsert = `INSERT INTO kv (ns, key, value, version) VALUES ($1, $2, $3, 1)
ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value, version = kv.version + 1 RETURNING version`
	_, err = conn.Exec(ctx, `CREATE TABLE kv (ns text NOT NULL, key text NOT NULL, value jsonb NOT NULL, version bigint NOT NULL,
  PRIMARY KEY (ns, key)); CREATE INDEX kv_n ON kv (ns, (value->'n'), key)`)
	must(t, err)
	for i := range keys {
		_, err := conn.Exec(ctx, rawUpsert, "plain", fmt.Sprintf("key:%06d", i), val(i))
		must(t, err)
	}
	_, err = conn.Exec(ctx, "ANALYZE")
	must(t, err)
	var pid int
	must(t, conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	var lockKey int64
	must(t, conn.QueryRow(ctx, "SELECT storage_revision_lock_key()").Scan(&lockKey))
	backendCPU := func() int64 {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "schedstat"))
		must(t, err)
		ns, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		return ns
	}
	cut := func(s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("UpsertEntry no longer contains %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	full := pgdb.UpsertEntrySQL
	noCh := cut(full, full[strings.Index(full, "), ch AS ("):strings.Index(full, "SELECT up.version, up.revision")], ")\n")
	noTake := cut(noCh, "storage_take_revisions(1)", "1000000000::bigint")
	// bareUpsert is the entries upsert alone, as raw writes kv: by the
	// namespace's id, a new row or value, version and revision updated.
	const bareUpsert = `INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
VALUES ($1, $2, $3, '{}', 1, $4, $4, 1000000001, 1000000001)
ON CONFLICT (namespace_id, key) DO UPDATE SET value = EXCLUDED.value, version = entries.version + 1, updated_at = EXCLUDED.updated_at,
    revision = EXCLUDED.revision RETURNING version`
	var nsID int64
	must(t, conn.QueryRow(ctx, "SELECT id FROM namespaces WHERE name = 'plain'").Scan(&nsID))
	seq := 0
	type part struct {
		name     string
		lock     bool
		stmt     string
		noTrig   bool
		raw      bool
		bare     bool   // stmt is bareUpsert
		ddl      string // run before the part's round; undone after it
		undo     string // undoes ddl (the shipped storage_take_revisions when empty)
		cpu, tps []float64
	}
	parts := []*part{
		{name: "engine Set (lock + UpsertEntry)", lock: true, stmt: full},
		{name: "- lock statement", stmt: full},
		{name: "- lock, triggers", stmt: full, noTrig: true},
		{name: "- lock, triggers, change-log row", stmt: noCh, noTrig: true},
		{name: "- lock, triggers, row, take_revisions", stmt: noTake, noTrig: true},
		{name: "bare entries upsert (by id, 4 columns)", stmt: bareUpsert, noTrig: true, bare: true},
		{name: "raw pgx upsert", raw: true},
	}
	var take string
	must(t, conn.QueryRow(ctx, "SELECT pg_get_functiondef('storage_take_revisions'::regproc)").Scan(&take))
	modes := []string{"overwrite", "insert"}
	if os.Getenv("STORAGE_PGSETPARTS_TAKE") != "" {
		// storage_take_revisions' body in pieces: without its own take
		// of the lock (held by the lock statement), and with one setval
		// (storage_revision's) where there are three (not correct).
		noLock := cut(take, "done := pg_advisory_xact_lock(storage_revision_lock_key())::text;", "")
		oneSetval := cut(cut(take, "done := setval('storage_revision_base', r, true)::text;", ""),
			"done := setval('storage_revision_xid', me, true)::text;", "")
		parts = []*part{
			{name: "engine Set", lock: true, stmt: full},
			{name: "take: no lock in the function", lock: true, stmt: full, ddl: noLock},
			{name: "take: one setval (not correct)", lock: true, stmt: full, ddl: oneSetval},
			{name: "no take (not correct)", lock: true, stmt: cut(full, "storage_take_revisions(1)", "(nextval('storage_revision') - 1)")},
		}
		modes = []string{"overwrite"}
	}
	if os.Getenv("STORAGE_PGSETPARTS_SHAPE") != "" {
		parts = []*part{
			{name: "engine Set", lock: true, stmt: full},
			{name: "namespace looked up twice (before)", lock: true, stmt: upsertEntryNamespaceTwice(t)},
		}
	}
	if os.Getenv("STORAGE_PGSETPARTS_TRIG") != "" {
		// One trigger off at a time (bounds, not correct).
		off := func(name, table, trig string) *part {
			return &part{name: name, lock: true, stmt: full,
				ddl:  "ALTER TABLE " + table + " DISABLE TRIGGER " + trig,
				undo: "ALTER TABLE " + table + " ENABLE TRIGGER " + trig}
		}
		parts = []*part{
			{name: "engine Set", lock: true, stmt: full},
			off("- entries_index_insert", "entries", "entries_index_insert"),
			off("- entries_index_update", "entries", "entries_index_update"),
			off("- changes_notify", "changes", "changes_notify"),
			{name: "- all triggers", lock: true, stmt: full, noTrig: true},
		}
	}
	for _, mode := range modes {
		for _, p := range parts {
			p.cpu, p.tps = nil, nil
		}
		key := func() string {
			seq++
			if mode == "overwrite" {
				return fmt.Sprintf("key:%06d", (seq*7919)%keys)
			}
			return fmt.Sprintf("new:%09d", seq)
		}
		run := func(p *part) error {
			k := key()
			if p.raw {
				var v int64
				return conn.QueryRow(ctx, rawUpsert, "plain", k, val(seq)).Scan(&v)
			}
			if p.bare {
				var v int64
				return conn.QueryRow(ctx, p.stmt, nsID, k, val(seq), time.Now()).Scan(&v)
			}
			b := &pgx.Batch{}
			if p.lock {
				b.Queue(revisionLockTimedSQL, lockKey, "0")
			}
			var v, r, c int64
			b.Queue(p.stmt, "plain", k, val(seq), nil, time.Now(), nil, nil, false).
				QueryRow(func(row pgx.Row) error { return row.Scan(&v, &r, &c) })
			return conn.SendBatch(ctx, b).Close()
		}
		for r := range rounds {
			for k := range parts {
				p := parts[(k+r)%len(parts)]
				if p.noTrig {
					_, err := conn.Exec(ctx, "SET session_replication_role = replica")
					must(t, err)
				}
				if p.ddl != "" {
					_, err := conn.Exec(ctx, p.ddl)
					must(t, err)
				}
				must(t, run(p))
				c0, w0 := backendCPU(), time.Now()
				for range n {
					if err := run(p); err != nil {
						t.Fatalf("%s: %v", p.name, err)
					}
				}
				p.tps = append(p.tps, float64(n)/time.Since(w0).Seconds())
				p.cpu = append(p.cpu, float64(backendCPU()-c0)/1e3/float64(n))
				if p.ddl != "" {
					undo := p.undo
					if undo == "" {
						undo = take
					}
					_, err := conn.Exec(ctx, undo)
					must(t, err)
				}
				if p.noTrig {
					_, err := conn.Exec(ctx, "RESET session_replication_role")
					must(t, err)
				}
			}
		}
		med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
		var b strings.Builder
		fmt.Fprintf(&b, "%s, %d rounds × %d:", mode, rounds, n)
		for _, p := range parts {
			var ratio, tr []float64
			for r := range rounds {
				ratio = append(ratio, p.cpu[r]/parts[0].cpu[r])
				tr = append(tr, p.tps[r]/parts[0].tps[r])
			}
			slices.Sort(ratio)
			fmt.Fprintf(&b, "\n  %-42s server CPU %6.1f µs/Set, to engine %.2f (quartiles %.2f-%.2f); %6.0f Set/s, to engine %.2f",
				p.name, med(p.cpu), med(ratio), ratio[rounds/4], ratio[rounds-1-rounds/4], med(p.tps), med(tr))
		}
		t.Log(b.String())
	}
}

// upsertEntryNamespaceTwice is UpsertEntry as it was before it looked its
// namespace up once (2026-12-05-pgset.md): the take over a count of the
// namespace's rows in c, the row looked up again by name in up.
func upsertEntryNamespaceTwice(t *testing.T) string {
	t.Helper()
	s := pgdb.UpsertEntrySQL
	for _, r := range [][2]string{
		{"SELECT n.id, storage_take_revisions(1) AS current FROM namespaces n WHERE n.name = $1",
			"SELECT storage_take_revisions(count(*)) AS current FROM namespaces n0 WHERE n0.name = $1"},
		{"SELECT c.id, $2", "SELECT n.id, $2"},
		{"FROM c\n    ON CONFLICT", "FROM namespaces n, c\n    WHERE n.name = $1\n    ON CONFLICT"},
	} {
		s = replaceIn(t, s, r[0], r[1])
	}
	return s
}
