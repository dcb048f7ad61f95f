package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/pgdb"
	"github.com/mycelia-kernel/storage/migrations"
)

// pgClientCPU is the CPU time (nanoseconds on CPU, /proc/<pid>/schedstat) the
// PostgreSQL client backends of the cluster have used, read from /proc
// (the server must run on this machine). The pids are those db lists.
func pgClientCPU(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	rows, err := db.Query(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "schedstat"))
		if err != nil {
			continue
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		total += ns
	}
	return total
}

// variant is one measured operation of TestPGSetCost.
type variant struct {
	name string
	n    int
	op   func() error
	ddl  []string // run before the round, undone after
	undo []string
	base string // the variant its ratio is to; the first when empty
	par  int    // goroutines sharing the n operations (op must be safe for it); 1 when 0
	// setup and teardown, when set, run before the round (after ddl) and
	// after it (before undo).
	setup, teardown func() error
}

// TestPGSetCost measures the server CPU (all client backends, /proc) per
// operation of PostgreSQL writes, in interleaved rounds in one process:
// Set over an existing key and of a new key, in a namespace with one
// declared index (the indexed field changes) and one without, a
// transaction's get+set, SetMany of 1000 new keys, and the raw pgx upsert
// of bench/peers. It asserts nothing unless STORAGE_PGSETCOST_CHECK=1
// (entry_count and index_entries exact at the end: only for runs whose
// variants are all correct). Run it with STORAGE_PGSETCOST=1 and
// a PostgreSQL on this machine (STORAGE_PGSETCOST_ROUNDS, default 7;
// STORAGE_PGSETCOST_N operations per round; STORAGE_PGSETCOST_ONLY, a
// regexp of the variants to keep; STORAGE_PGSETCOST_ATTR=1 adds variants
// with one trigger disabled, STORAGE_PGSETCOST_FK=1 variants with the
// foreign key of versions before 20, STORAGE_PGSETCOST_BEFORE=1 the update trigger
// as a BEFORE trigger, STORAGE_PGSETCOST_SQL=1 the overwrite's statements
// sent by pgx with one piece changed, sqlVariants; STORAGE_PGSETCOST_NSLOCK=1
// inserts with the insert trigger's entry_count update replaced: by a FOR
// KEY SHARE lock of the namespace (keyshare), by nothing (nocount), or with
// the index insert moved into the count statement (onestmt), or without
// the index insert (noindexins, namespace plain); none of them is correct,
// they bound what the count and the statements cost; they change the insert
// trigger of before migration 00024); STORAGE_PGSETCOST_TRIG=1 the writes
// with the trigger bodies of before 00024 and a variant of its insert
// trigger, trigVariants; STORAGE_PGSETCOST_SKIP=1 the Sets with the
// entries triggers disabled or given a false WHEN, skipVariants;
// STORAGE_PGSETCOST_OWN=1 the Set's statement doing the triggers' work
// itself, ownVariants; STORAGE_PGSETCOST_NOTIFY=1 the Sets with the
// change log's NOTIFY as shipped, gated on a listener (a prototype, with
// and without a listener) and disabled, single and by 4 and 8 concurrent
// writers, notifyVariants; STORAGE_PGSETCOST_BEGIN=1 raw pgx
// read-modify-write transactions with BEGIN alone and pipelined with the
// read, and the engine's with its BEGIN sent alone at Begin (eagerBegin),
// beginVariants. Each variant's throughput (operations per second of wall
// time), WAL bytes (pg_current_wal_insert_lsn), this process's CPU (the
// client's) and the ratio of server plus client CPU are printed too, and
// at the end the HOT share of the tables' updates; with
// STORAGE_PGSETCOST_INTX=1 SetMany of 100 and 1000 new keys and an
// atomic DeleteMany of 100, each also with its transaction's BEGIN sent
// alone (eagerBegin), intxVariants; STORAGE_PGSETCOST_CHAIN=1 the writes
// without the change log's per-key index changes_key, and without the
// change-log row at all (bounds), chainVariants;
// STORAGE_PGSETCOST_LSN=1 each variant's WAL range in the last round, for
// pg_waldump. STORAGE_PGSETCOST_RAWDSN is appended to the DSN of
// the pgx pool the raw and SQL-level variants use (e.g.
// "&plan_cache_mode=force_generic_plan"). Each variant's median is printed with the median
// of its per-round ratios to the first variant, or to its base.
//
//	STORAGE_PGSETCOST=1 STORAGE_PGSETCOST_FK=1 go test -run TestPGSetCost -v ./sqlstore
func TestPGSetCost(t *testing.T) {
	if os.Getenv("STORAGE_PGSETCOST") == "" {
		t.Skip("a measurement: set STORAGE_PGSETCOST=1 to run it")
	}
	rounds := 7
	if v, err := strconv.Atoi(os.Getenv("STORAGE_PGSETCOST_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	ctx := t.Context()
	dsn := newPGSchema(t)
	dsn = strings.Replace(dsn, "pool_max_conns=8", "pool_max_conns=1", 1)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	admin, _ := pgMigrator(t, dsn)
	must(t, s.CreateNamespace(ctx, "ix", storage.WithIndexes("n")))
	must(t, s.CreateNamespace(ctx, "plain"))
	pad := fmt.Sprintf("%0200d", 0)
	const keys = 20000
	val := func(i, n int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"%s"}`, n, pad))
	}
	for _, ns := range []string{"ix", "plain"} {
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
	// raw: bench/peers' table and upsert.
	pool, err := pgxpool.New(ctx, dsn+os.Getenv("STORAGE_PGSETCOST_RAWDSN"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	{
		var m string
		_ = pool.QueryRow(ctx, "SHOW plan_cache_mode").Scan(&m)
		t.Logf("raw pool plan_cache_mode %s", m)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE kv (ns text NOT NULL, key text NOT NULL, value jsonb NOT NULL, version bigint NOT NULL,
  PRIMARY KEY (ns, key)); CREATE INDEX kv_n ON kv (ns, (value->'n'), key)`); err != nil {
		t.Fatal(err)
	}
	const rawUpsert = `INSERT INTO kv (ns, key, value, version) VALUES ($1, $2, $3, 1)
ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value, version = kv.version + 1 RETURNING version`
	for i := range keys {
		if _, err := pool.Exec(ctx, rawUpsert, "ix", fmt.Sprintf("key:%06d", i), []byte(val(i, i))); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = admin.ExecContext(ctx, "ANALYZE")
	var seq atomic.Int64
	next := func() int { return int(seq.Add(1)) }
	overwrite := func(ns string) func() error {
		in := storage.InNamespace(ns)
		return func() error {
			i := next()
			return s.Set(ctx, fmt.Sprintf("key:%06d", (i*7919)%keys), val(i, keys+i), in)
		}
	}
	insert := func(ns string) func() error {
		in := storage.InNamespace(ns)
		return func() error {
			i := next()
			return s.Set(ctx, fmt.Sprintf("new:%09d", i), val(i, i), in)
		}
	}
	rmw := func() error {
		i := next()
		k := fmt.Sprintf("key:%06d", (i*7919)%keys)
		tx, err := s.Begin(ctx, storage.TxOptions{})
		if err != nil {
			return err
		}
		in := storage.InNamespace("plain")
		if _, err := tx.Get(ctx, k, in); err != nil {
			_ = tx.Rollback(ctx)
			return err
		}
		if err := tx.Set(ctx, k, val(i, keys+i), in); err != nil {
			_ = tx.Rollback(ctx)
			return err
		}
		return tx.Commit(ctx)
	}
	rawSet := func() error {
		i := next()
		var v int64
		return pool.QueryRow(ctx, rawUpsert, "ix", fmt.Sprintf("key:%06d", (i*7919)%keys), []byte(val(i, keys+i))).Scan(&v)
	}
	rawInsert := func() error {
		i := next()
		var v int64
		return pool.QueryRow(ctx, rawUpsert, "ix", fmt.Sprintf("new:%09d", i), []byte(val(i, i))).Scan(&v)
	}
	many := func(ns string) func() error {
		in := storage.InNamespace(ns)
		return func() error {
			items := make([]storage.Item, 1000)
			for j := range items {
				i := next()
				items[j] = storage.Item{Key: fmt.Sprintf("many:%09d", i), Value: val(i, i)}
			}
			_, err := s.SetMany(ctx, items, in)
			return err
		}
	}
	off := func(trig ...string) (do, undo []string) {
		for _, tg := range trig {
			tbl := "entries"
			if tg == "changes_notify" {
				tbl = "changes"
			}
			do = append(do, "ALTER TABLE "+tbl+" DISABLE TRIGGER "+tg)
			undo = append(undo, "ALTER TABLE "+tbl+" ENABLE TRIGGER "+tg)
		}
		return
	}
	variants := []variant{
		{name: "overwrite/ix", n: 500, op: overwrite("ix")},
		{name: "overwrite/plain", n: 500, op: overwrite("plain")},
		{name: "insert/ix", n: 500, op: insert("ix")},
		{name: "insert/plain", n: 500, op: insert("plain")},
		{name: "rmw-tx/plain", n: 500, op: rmw},
		{name: "setMany1000/ix", n: 2, op: many("ix")},
		{name: "raw/overwrite", n: 500, op: rawSet},
		{name: "raw/insert", n: 500, op: rawInsert},
	}
	if os.Getenv("STORAGE_PGSETCOST_ATTR") != "" {
		for _, a := range [][]string{{"entries_index_update"}, {"entries_index_insert"}, {"changes_notify"}} {
			do, undo := off(a...)
			variants = append(variants,
				variant{name: "overwrite/plain-" + a[0], n: 500, op: overwrite("plain"), ddl: do, undo: undo},
				variant{name: "insert/plain-" + a[0], n: 500, op: insert("plain"), ddl: do, undo: undo})
		}
	}
	if os.Getenv("STORAGE_PGSETCOST_FK") != "" {
		// The foreign key of entries.namespace_id that migration 00020
		// dropped, put back for the rounds of these variants.
		do := []string{"ALTER TABLE entries ADD CONSTRAINT entries_namespace_id_fkey FOREIGN KEY (namespace_id) REFERENCES namespaces (id)"}
		undo := []string{"ALTER TABLE entries DROP CONSTRAINT entries_namespace_id_fkey"}
		variants = append(variants,
			variant{name: "insert/plain+fk", n: 500, op: insert("plain"), ddl: do, undo: undo},
			variant{name: "setMany1000/ix+fk", n: 2, op: many("ix"), ddl: do, undo: undo},
			variant{name: "setMany1000/plain", n: 2, op: many("plain")},
			variant{name: "setMany1000/plain+fk", n: 2, op: many("plain"), ddl: do, undo: undo})
	}
	if os.Getenv("STORAGE_PGSETCOST_BEFORE") != "" {
		do, undo := beforeTrigger(ctx, t, pool)
		variants = append(variants,
			variant{name: "overwrite/plain-before", n: 500, op: overwrite("plain"), ddl: do, undo: undo},
			variant{name: "overwrite/ix-before", n: 500, op: overwrite("ix"), ddl: do, undo: undo},
			variant{name: "rmw-tx/plain-before", n: 500, op: rmw, ddl: do, undo: undo})
	}
	if os.Getenv("STORAGE_PGSETCOST_NSLOCK") != "" {
		// The insert trigger as it was before migration 00024, which these
		// variants change.
		def := migrationFunction(t, "00024", "Down", "entries_index_insert")
		ks := []string{replaceIn(t, def, insertCountCTE, insertKeyShareCTE)}
		none := []string{replaceIn(t, def, insertCountCTE, `u AS (SELECT 1 FROM d)`)}
		one := []string{insertTriggerOneStatement(t, def)}
		noIndex := []string{insertTriggerNoIndexInsert(t, def)}
		undo := []string{functionDef(ctx, t, pool, "entries_index_insert")}
		variants = append(variants,
			variant{name: "insert/plain-keyshare", n: 500, op: insert("plain"), ddl: ks, undo: undo},
			variant{name: "insert/ix-keyshare", n: 500, op: insert("ix"), ddl: ks, undo: undo},
			variant{name: "insert/plain-nocount", n: 500, op: insert("plain"), ddl: none, undo: undo},
			variant{name: "insert/ix-nocount", n: 500, op: insert("ix"), ddl: none, undo: undo},
			variant{name: "insert/plain-onestmt", n: 500, op: insert("plain"), ddl: one, undo: undo},
			variant{name: "insert/ix-onestmt", n: 500, op: insert("ix"), ddl: one, undo: undo},
			variant{name: "insert/plain-noindexins", n: 500, op: insert("plain"), ddl: noIndex, undo: undo})
	}
	if os.Getenv("STORAGE_PGSETCOST_TRIG") != "" {
		variants = append(variants, trigVariants(ctx, t, pool, overwrite, insert, rmw)...)
	}
	if os.Getenv("STORAGE_PGSETCOST_SKIP") != "" {
		variants = append(variants, skipVariants(ctx, t, pool, overwrite, insert)...)
	}
	if os.Getenv("STORAGE_PGSETCOST_SQL") != "" {
		variants = append(variants, sqlVariants(ctx, t, pool, keys, next, val)...)
	}
	if os.Getenv("STORAGE_PGSETCOST_BEGIN") != "" {
		variants = append(variants, beginVariants(ctx, t, pool, keys, next, val)...)
		e := s.eng.(*pgEngine)
		variants = append(variants, variant{name: "rmw-tx/plain-eagerbegin", n: 500, op: rmw, base: "rmw-tx/plain",
			setup:    func() error { e.eagerBegin = true; return nil },
			teardown: func() error { e.eagerBegin = false; return nil }})
	}
	if os.Getenv("STORAGE_PGSETCOST_INTX") != "" {
		variants = append(variants, intxVariants(s, next, val)...)
	}
	if os.Getenv("STORAGE_PGSETCOST_CHAIN") != "" {
		variants = append(variants, chainVariants(overwrite, insert, rmw, many)...)
	}
	if os.Getenv("STORAGE_PGSETCOST_OWN") != "" {
		variants = append(variants, ownVariants(ctx, t, pool, keys, next, val)...)
	}
	if os.Getenv("STORAGE_PGSETCOST_NOTIFY") != "" {
		// A second store on the schema with a pool of 8, for the
		// concurrent writers.
		s8 := openTest(t, strings.Replace(dsn, "pool_max_conns=1", "pool_max_conns=8", 1), WithSweepInterval(-1))
		t.Cleanup(func() { _ = s8.Close() })
		variants = append(variants, notifyVariants(ctx, t, admin, dsn, s8, keys, next, val, overwrite, insert)...)
	}
	if only := os.Getenv("STORAGE_PGSETCOST_ONLY"); only != "" {
		re := regexp.MustCompile(only)
		variants = slices.DeleteFunc(variants, func(v variant) bool { return !re.MatchString(v.name) })
	}
	if n, err := strconv.Atoi(os.Getenv("STORAGE_PGSETCOST_N")); err == nil && n > 0 {
		for i := range variants {
			if variants[i].n > 2 {
				variants[i].n = n
			}
		}
	}
	cpu := make([][]float64, len(variants))
	rate := make([][]float64, len(variants)) // operations per second of wall time
	wal := make([][]float64, len(variants))  // WAL bytes per operation
	cli := make([][]float64, len(variants))  // this process's CPU per operation (µs)
	lsn := func() (l int64) {
		must(t, admin.QueryRowContext(ctx, "SELECT pg_current_wal_insert_lsn() - '0/0'").Scan(&l))
		return l
	}
	for r := range rounds {
		for k := range variants {
			j := (k + r) % len(variants)
			v := variants[j]
			for _, d := range v.ddl {
				if _, err := admin.ExecContext(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			if v.setup != nil {
				must(t, v.setup())
			}
			if err := v.op(); err != nil { // warm
				t.Fatalf("%s: %v", v.name, err)
			}
			l0 := lsn()
			c0 := pgClientCPU(t, admin)
			p0 := cpuTime()
			w0 := time.Now()
			if err := runPar(v); err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
			rate[j] = append(rate[j], float64(v.n)/time.Since(w0).Seconds())
			cli[j] = append(cli[j], float64((cpuTime()-p0).Microseconds())/float64(v.n))
			cpu[j] = append(cpu[j], float64(pgClientCPU(t, admin)-c0)/1e3/float64(v.n)) // ns -> µs
			l1 := lsn()
			wal[j] = append(wal[j], float64(l1-l0)/float64(v.n))
			if os.Getenv("STORAGE_PGSETCOST_LSN") != "" && r == rounds-1 {
				// For pg_waldump -s/-e: the round's WAL.
				t.Logf("%s WAL %X/%X-%X/%X", v.name, l0>>32, uint32(l0), l1>>32, uint32(l1))
			}
			if v.teardown != nil {
				must(t, v.teardown())
			}
			for _, d := range v.undo {
				if _, err := admin.ExecContext(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	var b strings.Builder
	for j, v := range variants {
		c := slices.Clone(cpu[j])
		slices.Sort(c)
		base, baseName := 0, "first"
		if i := slices.IndexFunc(variants, func(w variant) bool { return w.name == v.base }); i >= 0 {
			base, baseName = i, v.base
		}
		var ratios, rr, tr []float64
		for r := range rounds {
			ratios = append(ratios, cpu[j][r]/cpu[base][r])
			rr = append(rr, rate[j][r]/rate[base][r])
			tr = append(tr, (cpu[j][r]+cli[j][r])/(cpu[base][r]+cli[base][r]))
		}
		slices.Sort(ratios)
		slices.Sort(rr)
		slices.Sort(tr)
		w := slices.Clone(rate[j])
		slices.Sort(w)
		wb := slices.Clone(wal[j])
		slices.Sort(wb)
		cl := slices.Clone(cli[j])
		slices.Sort(cl)
		fmt.Fprintf(&b, "\n%-38s server CPU/op median %6.1f µs, to %s %.2f (quartiles %.2f-%.2f); %6.0f op/s, to %s %.2f (%.2f-%.2f); WAL %5.0f B/op; client CPU %5.1f µs/op; server+client CPU to %s %.2f (%.2f-%.2f)", v.name, c[rounds/2], baseName, ratios[rounds/2], ratios[rounds/4], ratios[rounds-1-rounds/4],
			w[rounds/2], baseName, rr[rounds/2], rr[rounds/4], rr[rounds-1-rounds/4], wb[rounds/2], cl[rounds/2],
			baseName, tr[rounds/2], tr[rounds/4], tr[rounds-1-rounds/4])
	}
	t.Log(b.String())
	{
		// HOT updates of the tables written (the statistics are flushed
		// at most once a second).
		time.Sleep(1500 * time.Millisecond)
		rows, err := admin.QueryContext(ctx, `SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
  WHERE schemaname = current_schema() AND relname IN ('entries', 'changes', 'namespaces', 'index_entries', 'kv') ORDER BY relname`)
		must(t, err)
		for rows.Next() {
			var name string
			var ins, upd, hot int64
			must(t, rows.Scan(&name, &ins, &upd, &hot))
			t.Logf("%-14s inserted %8d updated %8d HOT %8d", name, ins, upd, hot)
		}
		must(t, rows.Err())
		_ = rows.Close()
	}
	if os.Getenv("STORAGE_PGSETCOST_CHECK") != "" {
		// Only for runs whose variants are all correct (not -notrig,
		// -whenfalse, -ownnoold...): entry_count and index_entries exact.
		checkPGIndexEntries(t, admin, "end", "ix")
		checkPGIndexEntries(t, admin, "end", "plain")
		checkInvariants(t, s)
	}
}

// runPar runs v's n operations on v.par goroutines (one when 0).
func runPar(v variant) error {
	par := max(v.par, 1)
	errs := make(chan error, par)
	for g := range par {
		go func() {
			for range v.n/par + btoi(g < v.n%par) {
				if err := v.op(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range par {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// notifyGateProto is a changes_notify that notifies only when a process
// listens (bench/results/2026-12-03-pgnotify.md; not shipped): on the
// channel storage_changes_<oid of changes>, and only when it cannot take
// an exclusive transaction-level advisory lock on (notifyGateClass, that
// oid) at once. A listener (listenGateProto) LISTENs there and then holds
// a shared session-level lock on the key: taking it waits for the writers
// that saw no listener, so their changes are committed before it reads.
const notifyGateProto = `CREATE OR REPLACE FUNCTION changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r    int4 := TG_RELID::int4;
    done text; -- pg_notify's result (void), unused
BEGIN
    IF pg_try_advisory_xact_lock(1937007468, r) THEN
        RETURN NULL; -- nobody listens; a listener that starts now waits for this transaction
    END IF;
    done := pg_notify('storage_changes_' || r, '')::text;
    RETURN NULL;
END
$$`

// notifyGateClass is the first key of notifyGateProto's advisory lock.
const notifyGateClass = 1937007468 // "stcl"

// listenGateProto makes conn a listener for notifyGateProto of the schema
// whose changes table has oid relid.
func listenGateProto(ctx context.Context, conn *pgx.Conn, relid int32) error {
	ch := pgx.Identifier{"storage_changes_" + strconv.Itoa(int(relid))}.Sanitize()
	if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, "SELECT pg_advisory_lock_shared($1, $2)", int32(notifyGateClass), relid)
	return err
}

// notifyVariants (STORAGE_PGSETCOST_NOTIFY=1) measure what the change
// log's NOTIFY (the statement trigger changes_notify, migrations 00008 and
// 00024) costs a Set, on the test's store (one connection) and by 4 and 8
// writers on distinct keys of s8 (a pool of 8): "conc4/..." and
// "conc8/...". Each ratio is to the same write with the shipped trigger
// and nobody listening (the name alone), but for "-gated-listened". The
// variants: "-gated" with notifyGateProto and nobody listening;
// "-listened" with the shipped trigger and a process listening on the
// store's channel (reading its notifications: its backend's CPU counts);
// "-gated-listened", notifyGateProto with a listener (listenGateProto),
// its ratio to -listened; "-nonotify" with the trigger disabled (a bound,
// not correct: nobody is woken).
func notifyVariants(ctx context.Context, t *testing.T, admin *sql.DB, dsn string, s8 *Store, keys int, next func() int, val func(i, n int) json.RawMessage, overwrite, insert func(string) func() error) []variant {
	do := []string{"ALTER TABLE changes DISABLE TRIGGER changes_notify"}
	undo := []string{"ALTER TABLE changes ENABLE TRIGGER changes_notify"}
	var cur string
	must(t, admin.QueryRowContext(ctx, "SELECT pg_get_functiondef('changes_notify'::regproc)").Scan(&cur))
	gate, ungate := []string{notifyGateProto}, []string{cur}
	var relid int32
	must(t, admin.QueryRowContext(ctx, "SELECT 'changes'::regclass::oid::int4").Scan(&relid))
	pc, err := pgxpool.ParseConfig(dsn)
	must(t, err)
	var stop func()
	listenOn := func(gated bool) error {
		conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
		if err != nil {
			return err
		}
		if gated {
			err = listenGateProto(ctx, conn, relid)
		} else {
			_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{s8.eng.(*pgEngine).channel}.Sanitize())
		}
		if err != nil {
			return err
		}
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, err := conn.WaitForNotification(lctx); err != nil {
					return
				}
			}
		}()
		stop = func() {
			cancel()
			<-done
			_ = conn.Close(context.Background())
		}
		return nil
	}
	listen := func() error { return listenOn(false) }
	listenGated := func() error { return listenOn(true) }
	unlisten := func() error { stop(); return nil }
	ow8 := func(ns string) func() error {
		in := storage.InNamespace(ns)
		return func() error {
			i := next()
			return s8.Set(ctx, fmt.Sprintf("key:%06d", (i*7919)%keys), val(i, keys+i), in)
		}
	}
	ins8 := func(ns string) func() error {
		in := storage.InNamespace(ns)
		return func() error {
			i := next()
			return s8.Set(ctx, fmt.Sprintf("new:%09d", i), val(i, i), in)
		}
	}
	var out []variant
	for _, w := range []struct {
		name string
		op   func() error
		par  int
	}{
		{"overwrite/plain", overwrite("plain"), 1}, {"insert/plain", insert("plain"), 1},
		{"overwrite/ix", overwrite("ix"), 1}, {"insert/ix", insert("ix"), 1},
		{"conc4/overwrite/plain", ow8("plain"), 4}, {"conc4/insert/plain", ins8("plain"), 4},
		{"conc8/overwrite/plain", ow8("plain"), 8}, {"conc8/insert/plain", ins8("plain"), 8},
	} {
		n := 500
		if w.par > 1 {
			n = 800
		}
		base := w.name + "-notify"
		out = append(out,
			variant{name: base, n: n, op: w.op, par: w.par},
			variant{name: w.name + "-gated", n: n, op: w.op, ddl: gate, undo: ungate, base: base, par: w.par},
			variant{name: w.name + "-listened", n: n, op: w.op, base: base, par: w.par, setup: listen, teardown: unlisten},
			variant{name: w.name + "-gated-listened", n: n, op: w.op, ddl: gate, undo: ungate, base: w.name + "-listened", par: w.par, setup: listenGated, teardown: unlisten},
			variant{name: w.name + "-nonotify", n: n, op: w.op, ddl: do, undo: undo, base: base, par: w.par})
	}
	return out
}

// trigVariants (STORAGE_PGSETCOST_TRIG=1) are the writes with the
// trigger bodies of before migration 00024 (its Down), "-pre24", only
// the update trigger's ("-preupdate") or only changes_notify's
// ("-prenotify"), and with the insert trigger of 00024 without its EXISTS
// probe, "-noexists" (the count statement then runs on the empty
// transition table of an overwrite). Each one's ratio is to the same write with the shipped
// triggers.
func trigVariants(ctx context.Context, t *testing.T, pool *pgxpool.Pool, overwrite, insert func(string) func() error, rmw func() error) []variant {
	var pre, cur []string
	for _, fn := range []string{"entries_index_insert", "entries_index_update", "changes_notify"} {
		pre = append(pre, migrationFunction(t, "00024", "Down", fn))
		cur = append(cur, functionDef(ctx, t, pool, fn))
	}
	ins := functionDef(ctx, t, pool, "entries_index_insert")
	noExists := []string{replaceIn(t, ins, `    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL; -- the update path of an INSERT ... ON CONFLICT
    END IF;
`, "")}
	var out []variant
	for _, w := range []struct {
		name string
		op   func() error
	}{
		{"overwrite/ix", overwrite("ix")}, {"overwrite/plain", overwrite("plain")},
		{"insert/ix", insert("ix")}, {"insert/plain", insert("plain")}, {"rmw-tx/plain", rmw},
	} {
		out = append(out, variant{name: w.name + "-pre24", n: 500, op: w.op, ddl: pre, undo: cur, base: w.name},
			variant{name: w.name + "-noexists", n: 500, op: w.op, ddl: noExists, undo: cur[:1], base: w.name},
			variant{name: w.name + "-preupdate", n: 500, op: w.op, ddl: pre[1:2], undo: cur[1:2], base: w.name},
			variant{name: w.name + "-prenotify", n: 500, op: w.op, ddl: pre[2:], undo: cur[2:], base: w.name})
	}
	return out
}

// migrationFunction is the CREATE statement of function fn in section
// ("Up" or "Down") of PostgreSQL migration number (e.g. "00024").
func migrationFunction(t *testing.T, number, section, fn string) string {
	t.Helper()
	names, err := fs.Glob(migrations.Postgres, "postgres/"+number+"_*.sql")
	if err != nil || len(names) != 1 {
		t.Fatalf("migration %s: %v %v", number, names, err)
	}
	b, err := fs.ReadFile(migrations.Postgres, names[0])
	if err != nil {
		t.Fatal(err)
	}
	up, down, ok := strings.Cut(string(b), "-- +goose Down")
	text := up
	if section == "Down" {
		text = down
	}
	if !ok {
		t.Fatalf("migration %s has no Down", number)
	}
	for _, blk := range strings.Split(text, "-- +goose StatementBegin\n")[1:] {
		stmt, _, _ := strings.Cut(blk, "-- +goose StatementEnd")
		if strings.Contains(stmt, "FUNCTION "+fn+"()") {
			return stmt
		}
	}
	t.Fatalf("migration %s %s: no function %s", number, section, fn)
	return ""
}

// sqlVariants are the SQL-level variants of an overwrite in namespace
// plain (STORAGE_PGSETCOST_SQL=1): the engine's statements sent by pgx as
// revDB sends them, then with one piece changed.
func sqlVariants(ctx context.Context, t *testing.T, pool *pgxpool.Pool, keys int, next func() int, val func(i, n int) json.RawMessage) []variant {
	upsert := pgdb.UpsertEntrySQL
	replace := func(s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("UpsertEntry no longer contains %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	// probe: the upsert as it was up to version 21, which read the
	// previous revision with a probe by the statement's snapshot.
	probe := replace(upsert, "up.prev_revision, $5,", `CASE WHEN up.create_revision <> up.revision THEN
               (SELECT o.revision FROM entries o JOIN namespaces n ON n.id = o.namespace_id
                WHERE n.name = $1 AND o.key = $2 AND (o.expires_at IS NULL OR o.expires_at > $5::timestamptz)) END, $5,`)
	probe = replace(probe, "create_revision, prev_revision, created_at", "create_revision, created_at")
	probe = replace(probe, `,
        prev_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > EXCLUDED.updated_at
                             THEN entries.revision END`, "")
	batch := func(lock string, lockArgs []any, stmt string) func() error {
		return func() error {
			i := next()
			b := &pgx.Batch{}
			if lock != "" {
				b.Queue(lock, lockArgs...)
			}
			var v, r, c int64
			// UpsertEntry's parameters: namespace, key, value, metadata,
			// now, actor, expires_at, keep_ttl.
			b.Queue(stmt, "plain", fmt.Sprintf("key:%06d", (i*7919)%keys), []byte(val(i, keys+i)), nil, time.Now(), nil, nil, false).
				QueryRow(func(row pgx.Row) error { return row.Scan(&v, &r, &c) })
			return pool.SendBatch(ctx, b).Close()
		}
	}
	// take-min: storage_take_revisions reduced to one read and one setval
	// of storage_revision, without the lock (not correct: a bound on what
	// its body costs).
	var orig string
	if err := pool.QueryRow(ctx, "SELECT pg_get_functiondef('storage_take_revisions'::regproc)").Scan(&orig); err != nil {
		t.Fatal(err)
	}
	minimal := []string{`CREATE OR REPLACE FUNCTION storage_take_revisions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r bigint; done text;
BEGIN
    IF n <= 0 THEN RETURN NULL; END IF;
    r := COALESCE(pg_sequence_last_value('storage_revision'::regclass), 0);
    done := setval('storage_revision', r + n, true)::text;
    RETURN r;
END $$`}
	timed := []any{pgLockKey(ctx, t, pool), "0"}
	return []variant{
		{name: "sql/lock-timed+upsert", n: 500, op: batch(revisionLockTimedSQL, timed, upsert)},
		{name: "sql/lock-timed+upsert-probe", n: 500, op: batch(revisionLockTimedSQL, timed, probe)},
		{name: "sql/lock-plain+upsert", n: 500, op: batch(revisionLockSQL, timed[:1], upsert)},
		{name: "sql/upsert-only", n: 500, op: batch("", nil, upsert)},
		{name: "sql/lock-timed+upsert-take-min", n: 500, op: batch(revisionLockTimedSQL, timed, upsert), ddl: minimal, undo: []string{orig}},
		{name: "sql/upsert-only-take-min", n: 500, op: batch("", nil, upsert), ddl: minimal, undo: []string{orig}},
	}
}

// beforeTrigger is the DDL that makes entries_index_update a BEFORE
// trigger (the same body returning NEW), and its undo.
func beforeTrigger(ctx context.Context, t *testing.T, pool *pgxpool.Pool) (do, undo []string) {
	var def string
	if err := pool.QueryRow(ctx, "SELECT pg_get_functiondef('entries_index_update'::regproc)").Scan(&def); err != nil {
		t.Fatal(err)
	}
	def = strings.Replace(def, "entries_index_update()", "entries_index_update_before()", 1)
	def = strings.Replace(def, "RETURN NULL;", "RETURN NEW;", 1)
	if _, err := pool.Exec(ctx, def); err != nil {
		t.Fatal(err)
	}
	const when = `WHEN (OLD.value IS DISTINCT FROM NEW.value OR OLD.metadata IS DISTINCT FROM NEW.metadata
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)`
	do = []string{"DROP TRIGGER entries_index_update ON entries",
		"CREATE TRIGGER entries_index_update BEFORE UPDATE ON entries FOR EACH ROW " + when + " EXECUTE FUNCTION entries_index_update_before()"}
	undo = []string{"DROP TRIGGER entries_index_update ON entries",
		"CREATE TRIGGER entries_index_update AFTER UPDATE ON entries FOR EACH ROW " + when + " EXECUTE FUNCTION entries_index_update()"}
	return do, undo
}

// functionDef is the CREATE OR REPLACE text of a function.
func functionDef(ctx context.Context, t *testing.T, pool *pgxpool.Pool, name string) string {
	var def string
	if err := pool.QueryRow(ctx, "SELECT pg_get_functiondef($1::regproc)", name).Scan(&def); err != nil {
		t.Fatal(err)
	}
	return def
}

// replaceIn replaces old, which s must hold, by new.
func replaceIn(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("no longer contains %q", old)
	}
	return strings.Replace(s, old, new, 1)
}

// The insert trigger's entry_count update (which is also its namespace
// check), and the same check as a FOR KEY SHARE lock without the count (a
// bound on what the count costs; not correct).
const (
	insertCountCTE    = `u AS (UPDATE namespaces n SET entry_count = n.entry_count + d.c FROM d WHERE n.id = d.namespace_id RETURNING 1)`
	insertKeyShareCTE = `u AS (SELECT 1 FROM namespaces n WHERE n.id IN (SELECT namespace_id FROM d) FOR KEY SHARE)`
)

// insertTriggerOneStatement is the insert trigger's body with its INSERT
// INTO index_entries moved into the count statement as a CTE.
func insertTriggerOneStatement(t *testing.T, def string) string {
	t.Helper()
	i := strings.Index(def, "    INSERT INTO index_entries")
	j := strings.Index(def, ";\n    RETURN NULL;\nEND")
	if i < 0 || j < i {
		t.Fatal("entries_index_insert: no INSERT INTO index_entries before its last RETURN")
	}
	ins := def[i+4 : j]
	def = def[:i] + def[j+2:]
	return replaceIn(t, def, insertCountCTE, insertCountCTE+",\n         ix AS ("+ins+")")
}

// insertTriggerNoIndexInsert is the insert trigger's body without its
// INSERT INTO index_entries: what a namespace without declared fields
// would save if the trigger skipped it (wrong for one with fields).
func insertTriggerNoIndexInsert(t *testing.T, def string) string {
	t.Helper()
	i := strings.Index(def, "    INSERT INTO index_entries")
	j := strings.Index(def, ";\n    RETURN NULL;\nEND")
	if i < 0 || j < i {
		t.Fatal("entries_index_insert: no INSERT INTO index_entries before its last RETURN")
	}
	return def[:i] + def[j+2:]
}

// skipVariants (STORAGE_PGSETCOST_SKIP=1) bound what the entries triggers
// cost a single Set: "-noinstrig" with the insert trigger disabled,
// "-noupdtrig" with the update trigger disabled, "-nokeyshare" with the
// update trigger reading the namespace row without its FOR KEY SHARE lock,
// "-notrig" with the
// insert, update and delete triggers of entries disabled (none of them
// correct: entry_count and index_entries drift),
// "-whenfalse" with each of them given a WHEN clause that calls
// current_setting and is false (the trigger is not fired but a statement
// trigger's transition table is still captured). Each ratio is to the
// same write with the shipped triggers.
func skipVariants(ctx context.Context, t *testing.T, pool *pgxpool.Pool, overwrite, insert func(string) func() error) []variant {
	trigs := []string{"entries_index_insert", "entries_index_update", "entries_index_delete"}
	var off, on []string
	for _, tg := range trigs {
		off = append(off, "ALTER TABLE entries DISABLE TRIGGER "+tg)
		on = append(on, "ALTER TABLE entries ENABLE TRIGGER "+tg)
	}
	whenDo, whenUndo := triggersWhen(ctx, t, pool, "current_setting('storage.own', true) = 'never'", trigs...)
	upd := functionDef(ctx, t, pool, "entries_index_update")
	noKeyShare := []string{replaceIn(t, upd, " FOR KEY SHARE;", ";")}
	var out []variant
	for _, w := range []struct {
		name string
		op   func() error
	}{
		{"overwrite/ix", overwrite("ix")}, {"overwrite/plain", overwrite("plain")},
		{"insert/ix", insert("ix")}, {"insert/plain", insert("plain")},
	} {
		out = append(out, variant{name: w.name + "-noinstrig", n: 500, op: w.op, ddl: off[:1], undo: on[:1], base: w.name},
			variant{name: w.name + "-noupdtrig", n: 500, op: w.op, ddl: off[1:2], undo: on[1:2], base: w.name})
		out = append(out, variant{name: w.name + "-nokeyshare", n: 500, op: w.op, ddl: noKeyShare, undo: []string{upd}, base: w.name})
		out = append(out, variant{name: w.name + "-notrig", n: 500, op: w.op, ddl: off, undo: on, base: w.name},
			variant{name: w.name + "-whenfalse", n: 500, op: w.op, ddl: whenDo, undo: whenUndo, base: w.name})
	}
	return out
}

// triggersWhen is the DDL that gives triggers trigs of entries the WHEN
// condition cond (ANDed with the WHEN they have), and its undo.
func triggersWhen(ctx context.Context, t *testing.T, pool *pgxpool.Pool, cond string, trigs ...string) (do, undo []string) {
	for _, tg := range trigs {
		var def string
		if err := pool.QueryRow(ctx, "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = $1 AND tgrelid = 'entries'::regclass", tg).Scan(&def); err != nil {
			t.Fatal(err)
		}
		w := def
		if i := strings.Index(w, " WHEN ("); i >= 0 {
			w = w[:i+len(" WHEN (")] + cond + " AND " + w[i+len(" WHEN ("):]
		} else {
			w = replaceIn(t, w, " EXECUTE FUNCTION", " WHEN ("+cond+") EXECUTE FUNCTION")
		}
		do = append(do, "DROP TRIGGER "+tg+" ON entries", w)
		undo = append(undo, "DROP TRIGGER "+tg+" ON entries", def)
	}
	return do, undo
}

// ownVariants (STORAGE_PGSETCOST_OWN=1) are a Set sent by pgx as revDB
// sends it (the timed revision lock, then UpsertEntry, one batch), over a
// live key and of a new key in namespaces ix and plain, each beside
// prototypes of UpsertEntry doing the entries triggers' work itself with
// the triggers given WHEN (current_setting('storage.own', true) IS
// DISTINCT FROM 'on'): "-own" (ownUpsert: entry_count and the index rows,
// triggers skipped), "-owncount" (ownCountUpsert: entry_count, triggers
// skipped only in a namespace that declares no field) and "-ownnoold"
// (ownUpsert without its read of the old row: wrong for an overwrite in
// ix, a bound on what that read costs).
func ownVariants(ctx context.Context, t *testing.T, pool *pgxpool.Pool, keys int, next func() int, val func(i, n int) json.RawMessage) []variant {
	// The prototypes are built on the statement they were measured
	// against (2026-12-03-pgskip.md), which looked its namespace up twice.
	upsert := upsertEntryNamespaceTwice(t)
	timed := []any{pgLockKey(ctx, t, pool), "0"}
	ownSQL := ownUpsert(t, upsert)
	ownCount := ownCountUpsert(t, upsert)
	ownNoOld := replaceIn(t, ownSQL, `SELECT o.value, o.metadata, o.expires_at FROM entries o
    WHERE o.namespace_id = (SELECT n.id FROM namespaces n WHERE n.name = $1) AND o.key = $2`,
		`SELECT NULL::jsonb AS value, NULL::jsonb AS metadata, NULL::timestamptz AS expires_at WHERE false`)
	whenDo, whenUndo := triggersWhen(ctx, t, pool, "current_setting('storage.own', true) IS DISTINCT FROM 'on'",
		"entries_index_insert", "entries_index_update")
	nsBatch := func(ns string, ins bool, stmt string) func() error {
		return func() error {
			i := next()
			k := fmt.Sprintf("key:%06d", (i*7919)%keys)
			if ins {
				k = fmt.Sprintf("own:%09d", i)
			}
			b := &pgx.Batch{}
			b.Queue(revisionLockTimedSQL, timed...)
			var v, r, c int64
			b.Queue(stmt, ns, k, []byte(val(i, keys+i)), nil, time.Now(), nil, nil, false).
				QueryRow(func(row pgx.Row) error { return row.Scan(&v, &r, &c) })
			return pool.SendBatch(ctx, b).Close()
		}
	}
	var own []variant
	for _, ns := range []string{"ix", "plain"} {
		for _, ins := range []bool{false, true} {
			kind := "overwrite"
			if ins {
				kind = "insert"
			}
			base := "sql/" + kind + "/" + ns
			own = append(own, variant{name: base, n: 500, op: nsBatch(ns, ins, upsert)},
				variant{name: base + "-own", n: 500, op: nsBatch(ns, ins, ownSQL), ddl: whenDo, undo: whenUndo, base: base},
				variant{name: base + "-owncount", n: 500, op: nsBatch(ns, ins, ownCount), ddl: whenDo, undo: whenUndo, base: base},
				variant{name: base + "-ownnoold", n: 500, op: nsBatch(ns, ins, ownNoOld), ddl: whenDo, undo: whenUndo, base: base})
		}
	}
	return own
}

// ownBase is UpsertEntry setting storage.own to the expression own (of
// namespaces n0) in its first CTE and returning the written row's
// namespace and whether it was inserted (xmax = 0: the update path of an
// INSERT ... ON CONFLICT leaves its lock in the new row's xmax).
func ownBase(t *testing.T, upsert, own string) string {
	s := replaceIn(t, upsert, "SELECT storage_take_revisions(count(*)) AS current FROM namespaces n0",
		"SELECT storage_take_revisions(count(*)) AS current, set_config('storage.own', "+own+", true) AS own FROM namespaces n0")
	return replaceIn(t, s, "RETURNING key, value, metadata, version, revision, create_revision, prev_revision, created_at, expires_at",
		"RETURNING namespace_id, key, value, metadata, version, revision, create_revision, prev_revision, created_at, expires_at, (xmax = 0) AS inserted")
}

// ownUpsert is UpsertEntry doing the entries triggers' work itself (a
// prototype for measuring): entry_count on insert, the index rows of the
// declared fields on insert and on a change of an indexed value; it sets
// storage.own so that triggers with a WHEN on it skip it.
func ownUpsert(t *testing.T, upsert string) string {
	s := ownBase(t, upsert, "'on'")
	s = replaceIn(t, s, "WITH c AS (", `WITH old AS (
    SELECT o.value, o.metadata, o.expires_at FROM entries o
    WHERE o.namespace_id = (SELECT n.id FROM namespaces n WHERE n.name = $1) AND o.key = $2
), c AS (`)
	const rank = `(CASE jsonb_typeof(%[1]s) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN %[1]s = 'true'::jsonb THEN 3 ELSE 2 END
                WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)::smallint`
	const num = `CASE WHEN jsonb_typeof(%[1]s) <> 'number' OR %[1]s IS NULL THEN 0::float8
                WHEN abs(%[1]s::numeric) >= 1.797693134862315807937289714053e308 THEN sign(%[1]s::numeric)::float8 * 'Infinity'::float8
                WHEN abs(%[1]s::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8
                ELSE %[1]s::numeric::float8 END`
	const str = `CASE WHEN jsonb_typeof(%[1]s) = 'string' THEN left(%[1]s #>> '{}', 256) ELSE '' END`
	ix := func(v, p string) string {
		return fmt.Sprintf(rank, v) + " AS " + p + "_rank, " + fmt.Sprintf(num, v) + " AS " + p + "_num, " + fmt.Sprintf(str, v) + " AS " + p + "_str"
	}
	s = replaceIn(t, s, "\nSELECT up.version, up.revision, up.create_revision FROM up", `, cnt AS (
    UPDATE namespaces n SET entry_count = n.entry_count + 1 FROM up WHERE n.id = up.namespace_id AND up.inserted
), fv AS (
    SELECT f.field_id, up.namespace_id, up.key, up.expires_at, up.inserted, old.expires_at AS old_exp,
           CASE WHEN f.jpath IS NULL THEN (CASE f.col WHEN 1 THEN up.metadata ELSE up.value END) #> f.tpath
                ELSE jsonb_path_query_first(CASE f.col WHEN 1 THEN up.metadata ELSE up.value END, f.jpath, '{}', true) END AS vn,
           CASE WHEN f.jpath IS NULL THEN (CASE f.col WHEN 1 THEN old.metadata ELSE old.value END) #> f.tpath
                ELSE jsonb_path_query_first(CASE f.col WHEN 1 THEN old.metadata ELSE old.value END, f.jpath, '{}', true) END AS vo
    FROM up JOIN index_fields f ON f.namespace_id = up.namespace_id LEFT JOIN old ON true
), rw AS (
    SELECT fv.field_id, fv.namespace_id, fv.key, fv.expires_at, fv.inserted,
           `+ix("fv.vo", "o")+`,
           `+ix("fv.vn", "n")+`
    FROM fv WHERE fv.inserted OR fv.vo IS DISTINCT FROM fv.vn OR fv.old_exp IS DISTINCT FROM fv.expires_at
), ixu AS (
    UPDATE index_entries x SET ix_rank = rw.n_rank, ix_num = rw.n_num, ix_str = rw.n_str, ix_exp = rw.expires_at
    FROM rw WHERE NOT rw.inserted AND x.ix_ns = rw.namespace_id AND x.ix_field = rw.field_id AND x.ix_rank = rw.o_rank
      AND x.ix_num = rw.o_num AND x.ix_str = rw.o_str AND x.ix_key = rw.key
    RETURNING x.ix_field
), ixi AS (
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp)
    SELECT rw.namespace_id, rw.field_id, rw.n_rank, rw.n_num, rw.n_str, rw.key, rw.expires_at FROM rw
    WHERE rw.inserted OR NOT EXISTS (SELECT 1 FROM ixu WHERE ixu.ix_field = rw.field_id)
)
SELECT up.version, up.revision, up.create_revision FROM up`)
	return s
}

// ownCountUpsert is UpsertEntry keeping entry_count itself and skipping
// the triggers only in a namespace that declares no field (a prototype).
func ownCountUpsert(t *testing.T, upsert string) string {
	s := ownBase(t, upsert, "CASE WHEN bool_and(n0.indexes = '[]'::jsonb) THEN 'on' ELSE 'off' END")
	return replaceIn(t, s, "\nSELECT up.version, up.revision, up.create_revision FROM up", `, cnt AS (
    UPDATE namespaces n SET entry_count = n.entry_count + 1 FROM up WHERE n.id = up.namespace_id AND up.inserted AND current_setting('storage.own') = 'on'
)
SELECT up.version, up.revision, up.create_revision FROM up`)
}

// pgLockKey reads the revision lock key of the store pool's schema.
func pgLockKey(ctx context.Context, t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var key int64
	if err := pool.QueryRow(ctx, "SELECT storage_revision_lock_key()").Scan(&key); err != nil {
		t.Fatal(err)
	}
	return key
}

// beginVariants (STORAGE_PGSETCOST_BEGIN=1) are raw pgx read-modify-write
// transactions on bench/peers' table, "raw/rmw" as bench/peers does it
// (BEGIN, the read, the upsert, COMMIT: four round trips) and
// "raw/rmw-pipelined-begin" with BEGIN sent in one batch with the read
// (three round trips), its ratio to raw/rmw.
func beginVariants(ctx context.Context, t *testing.T, pool *pgxpool.Pool, keys int, next func() int, val func(i, n int) json.RawMessage) []variant {
	t.Helper()
	const get = `SELECT value, version FROM kv WHERE ns = $1 AND key = $2`
	const upsert = `INSERT INTO kv (ns, key, value, version) VALUES ($1, $2, $3, 1)
ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value, version = kv.version + 1 RETURNING version`
	rest := func(tx pgx.Tx, k string, i int) error {
		var v int64
		if err := tx.QueryRow(ctx, upsert, "ix", k, []byte(val(i, keys+i))).Scan(&v); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	key := func() (int, string) {
		i := next()
		return i, fmt.Sprintf("key:%06d", (i*7919)%keys)
	}
	rmw := func() error {
		i, k := key()
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		var value []byte
		var v int64
		if err := tx.QueryRow(ctx, get, "ix", k).Scan(&value, &v); err != nil {
			return err
		}
		return rest(tx, k, i)
	}
	pipelined := func() error {
		i, k := key()
		c, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer c.Release()
		b := &pgx.Batch{}
		b.Queue("begin")
		b.Queue(get, "ix", k)
		br := c.SendBatch(ctx, b)
		var value []byte
		var v int64
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
		if err := br.QueryRow().Scan(&value, &v); err != nil {
			_ = br.Close()
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		if err := c.QueryRow(ctx, upsert, "ix", k, []byte(val(i, keys+i))).Scan(&v); err != nil {
			_, _ = c.Exec(ctx, "rollback")
			return err
		}
		_, err = c.Exec(ctx, "commit")
		return err
	}
	return []variant{
		{name: "raw/rmw", n: 500, op: rmw},
		{name: "raw/rmw-pipelined-begin", n: 500, op: pipelined, base: "raw/rmw"},
	}
}

// intxVariants (STORAGE_PGSETCOST_INTX=1) are the writes that run in an
// internal transaction (inTx): SetMany of 100 and 1000 new keys in
// "plain", and an atomic DeleteMany of 100 keys those wrote, each against
// the same with its BEGIN sent alone (eagerBegin, as pgx.BeginFunc did).
// Put the DeleteMany variants last: the first round's must find keys.
func intxVariants(s *Store, next func() int, val func(i, n int) json.RawMessage) []variant {
	e := s.eng.(*pgEngine)
	ctx := context.Background()
	in := storage.InNamespace("plain")
	var mu sync.Mutex
	var written []string // keys the SetMany variants wrote, not yet deleted
	setMany := func(k int) func() error {
		return func() error {
			items := make([]storage.Item, k)
			keys := make([]string, k)
			for j := range items {
				i := next()
				keys[j] = fmt.Sprintf("intx:%09d", i)
				items[j] = storage.Item{Key: keys[j], Value: val(i, i)}
			}
			res, err := s.SetMany(ctx, items, in)
			if err == nil {
				err = res.Err()
			}
			mu.Lock()
			written = append(written, keys...)
			mu.Unlock()
			return err
		}
	}
	deleteMany := func() error {
		mu.Lock()
		if len(written) < 100 {
			mu.Unlock()
			return fmt.Errorf("deleteMany: %d keys left to delete", len(written))
		}
		keys := slices.Clone(written[len(written)-100:])
		written = written[:len(written)-100]
		mu.Unlock()
		res, err := s.DeleteMany(ctx, keys, in, storage.Atomic())
		if err == nil {
			err = res.Err()
		}
		return err
	}
	eager := func(v variant) variant {
		v.base, v.name = v.name, v.name+"-eagerbegin"
		v.setup = func() error { e.eagerBegin = true; return nil }
		v.teardown = func() error { e.eagerBegin = false; return nil }
		return v
	}
	out := []variant{
		{name: "intx/setMany100", n: 100, op: setMany(100)},
		{name: "intx/setMany1000", n: 20, op: setMany(1000)},
		{name: "intx/deleteMany100", n: 100, op: deleteMany},
	}
	for _, v := range slices.Clone(out) {
		out = append(out, eager(v))
	}
	// Lazy and eager of each side by side; the DeleteMany variants last.
	return []variant{out[0], out[3], out[1], out[4], out[2], out[5]}
}

// chainVariants (STORAGE_PGSETCOST_CHAIN=1) measure what the change log's
// per-key index changes_key (migration 00008) and the change-log row cost
// the writes on PostgreSQL: each write's ratio is to the same write as
// shipped. "-nokey" runs with changes_key dropped (recreated after the
// round), what a chain design as SQLite's 00015 would save at most on the
// write path; "-chain" with that design's write side (changes_key dropped,
// the partial indexes changes_ends and changes_scope, change_ends and its
// triggers added; nothing reads them here); "-norow" with a BEFORE INSERT trigger on changes that drops every
// row (a bound: the log is empty, and the trigger's own firing is
// counted). Neither is correct.
func chainVariants(overwrite, insert func(string) func() error, rmw func() error, many func(string) func() error) []variant {
	noKey := []string{"DROP INDEX changes_key"}
	key := []string{"CREATE INDEX changes_key ON changes (namespace, key, revision)"}
	noRow := []string{`CREATE FUNCTION changes_drop_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`,
		"CREATE TRIGGER changes_drop_row BEFORE INSERT ON changes FOR EACH ROW EXECUTE FUNCTION changes_drop_row()"}
	row := []string{"DROP TRIGGER changes_drop_row ON changes", "DROP FUNCTION changes_drop_row()"}
	// The write side of SQLite's chain design (migrations/sqlite 00015)
	// on PostgreSQL: changes_key dropped, the partial indexes and
	// change_ends with its triggers added.
	chain := []string{
		`CREATE TABLE change_ends (namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, revision bigint NOT NULL,
  PRIMARY KEY (revision, namespace, key))`,
		"CREATE INDEX change_ends_key ON change_ends (namespace, key)",
		"DROP INDEX changes_key",
		"CREATE INDEX changes_ends ON changes (namespace, key, revision) WHERE kind IN ('delete', 'expire')",
		"CREATE INDEX changes_scope ON changes (namespace, revision) WHERE key IS NULL",
		`CREATE FUNCTION change_ends_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO change_ends (namespace, key, revision) SELECT n.name, o.key, o.revision FROM old_rows o JOIN namespaces n ON n.id = o.namespace_id
  ON CONFLICT DO NOTHING; RETURN NULL; END $$`,
		"CREATE TRIGGER change_ends_delete AFTER DELETE ON entries REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION change_ends_delete()",
		`CREATE FUNCTION change_ends_overwrite() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO change_ends (namespace, key, revision) SELECT n.name, OLD.key, OLD.revision FROM namespaces n WHERE n.id = OLD.namespace_id
  ON CONFLICT DO NOTHING; RETURN NULL; END $$`,
		`CREATE TRIGGER change_ends_overwrite AFTER UPDATE OF value ON entries FOR EACH ROW
  WHEN (OLD.expires_at IS NOT NULL AND OLD.expires_at <= NEW.updated_at) EXECUTE FUNCTION change_ends_overwrite()`,
	}
	unchain := []string{"DROP TRIGGER change_ends_overwrite ON entries", "DROP FUNCTION change_ends_overwrite()",
		"DROP TRIGGER change_ends_delete ON entries", "DROP FUNCTION change_ends_delete()",
		"DROP INDEX changes_scope", "DROP INDEX changes_ends", "DROP TABLE change_ends", key[0]}
	var vs []variant
	for _, w := range []struct {
		name string
		n    int
		op   func() error
	}{
		{"overwrite/plain", 500, overwrite("plain")},
		{"insert/plain", 500, insert("plain")},
		{"rmw-tx/plain", 500, rmw},
		{"setMany1000/ix", 2, many("ix")},
		{"setMany1000/plain", 2, many("plain")},
	} {
		if w.name == "setMany1000/plain" {
			vs = append(vs, variant{name: w.name, n: w.n, op: w.op})
		}
		vs = append(vs,
			variant{name: w.name + "-nokey", n: w.n, op: w.op, ddl: noKey, undo: key, base: w.name},
			variant{name: w.name + "-chain", n: w.n, op: w.op, ddl: chain, undo: unchain, base: w.name},
			variant{name: w.name + "-norow", n: w.n, op: w.op, ddl: noRow, undo: row, base: w.name})
	}
	return vs
}
