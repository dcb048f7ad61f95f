package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// TestWriteCost measures the SQLite write workloads of bench/peers (set of
// a new key, overwrite with the same value, SetMany of 1000 new keys, a
// read-modify-write transaction), and SetMany of 1000 stored keys with
// their values as stored, with their declared fields moved, or with an
// undeclared field moved, on stores that differ by the statements run on
// them after Open (STORAGE_WRITECOST_VARIANTS: name=SQL;SQL, one
// variant a line; the engine as it is always runs first), and on the
// peers' hand-written table (its statements stepped to SQLITE_DONE, so
// that it checkpoints as the engine does), in one process and in
// alternating rounds: CPU time (user and system, the whole process) and
// bytes written (WAL frames and checkpoints) per op, then, once, the WAL
// frames per op with the automatic checkpoint off: the pages each commit
// dirties. The read-modify-write writes back the value it read. Each
// system's rounds run under pprof labels system and workload, so one
// -cpuprofile splits them (pprof -tagfocus='system=^engine$'). It measures
// and asserts nothing. Run it with STORAGE_WRITECOST=1
// (STORAGE_WRITECOST_ROUNDS rounds, default 7; STORAGE_WRITECOST_ONLY a
// regexp of workloads; STORAGE_WRITECOST_FULL=1 synchronous=FULL;
// STORAGE_WRITECOST_KEYS the keys stored, default
// 10000; STORAGE_WRITECOST_FIELDS the declared fields, comma-separated,
// default n: "n,s" declares two, s then differs between keys, and raw
// gets one expression index per field; STORAGE_WRITECOST_BEFORE=1 adds the engine with
// its writes through database/sql, "before"; STORAGE_WRITECOST_INTX=1 adds
// the engine with SetMany's statement inside a transaction, "intx";
// STORAGE_WRITECOST_SEP the separator of a variant's
// statements, default ";"; STORAGE_WRITECOST_RAWQR=1 adds the baseline as it
// was before 6b98c42, "rawqr"):
//
//	STORAGE_WRITECOST=1 go test -run TestWriteCost -v ./sqlstore
func TestWriteCost(t *testing.T) {
	if os.Getenv("STORAGE_WRITECOST") == "" {
		t.Skip("a measurement: set STORAGE_WRITECOST=1 to run it")
	}
	rounds := 7
	if v, err := strconv.Atoi(os.Getenv("STORAGE_WRITECOST_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	ctx := t.Context()
	dir := t.TempDir()
	in := storage.InNamespace("bench")
	pad := fmt.Sprintf("%0200d", 0)
	keys := envInt("STORAGE_WRITECOST_KEYS", 10000)
	fields := strings.Split(cmp.Or(os.Getenv("STORAGE_WRITECOST_FIELDS"), "n"), ",")
	// As in bench/peers: n is the key's number over 10, so new keys append
	// to the index as they append to the table. With s declared, s
	// differs between keys too (the number's last 9 digits of the pad).
	// valN is val(i) with n of key number j.
	valN := func(i, j int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"%s"}`, j/10, pad)) }
	if slices.Contains(fields, "s") {
		valN = func(i, j int) json.RawMessage {
			return json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"%s%09d"}`, j/10, pad[9:], i))
		}
	}
	val := func(i int) json.RawMessage { return valN(i, i) }
	items := make([]storage.Item, keys)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("key%07d", i), Value: val(i)}
	}
	fresh := func(s *writeSystem) (string, json.RawMessage) {
		s.seq++
		return fmt.Sprintf("new%09d", s.seq), val(keys + s.seq)
	}
	var systems []*writeSystem
	engine := func(name string, stmts []string, opened ...func(*Store)) *writeSystem {
		st := openTest(t, "sqlite:"+filepath.Join(dir, name+".db")+syncParam(), WithSweepInterval(-1))
		t.Cleanup(func() { _ = st.Close() })
		for _, f := range opened {
			f(st)
		}
		if err := st.CreateNamespace(ctx, "bench", storage.WithIndexes(fields...)); err != nil {
			t.Fatal(err)
		}
		for _, q := range stmts {
			if _, err := st.eng.writer().exec(ctx, q); err != nil {
				t.Fatalf("%s: %s: %v", name, q, err)
			}
		}
		if _, err := st.SetMany(ctx, items, in); err != nil {
			t.Fatal(err)
		}
		return &writeSystem{
			name: name,
			exec: func(q string) error { _, err := st.eng.writer().exec(ctx, q); return err },
			checkpoint: func(q string) (log int64, err error) {
				err = st.eng.writer().queryRows(ctx, q, nil, func(r rowScanner) error {
					var busy, done int64
					return r.Scan(&busy, &log, &done)
				})
				return log, err
			},
			set:     func(k string, v json.RawMessage) error { return st.Set(ctx, k, v, in) },
			setMany: func(its []storage.Item) error { _, err := st.SetMany(ctx, its, in); return err },
			rmw:     func(k string) error { return readModifyWrite(ctx, st, k, in) },
		}
	}
	systems = append(systems, engine("engine", nil))
	if os.Getenv("STORAGE_WRITECOST_BEFORE") != "" {
		// The engine with its writes through database/sql's statements,
		// as before sqlitewrite.go.
		systems = append(systems, engine("before", nil, legacySQLiteWrites))
	}
	if os.Getenv("STORAGE_WRITECOST_INTX") != "" {
		// The engine with SetMany's statement in a transaction, as
		// before upsertBatch.
		systems = append(systems, engine("intx", nil, batchesInTx))
	}
	// Statements are separated by STORAGE_WRITECOST_SEP (default ";"):
	// another separator lets a variant create triggers.
	sep := cmp.Or(os.Getenv("STORAGE_WRITECOST_SEP"), ";")
	for _, l := range strings.Split(os.Getenv("STORAGE_WRITECOST_VARIANTS"), "\n") {
		name, stmts, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		var qs []string
		for _, q := range strings.Split(stmts, sep) {
			if strings.TrimSpace(q) != "" {
				qs = append(qs, q)
			}
		}
		systems = append(systems, engine(name, qs))
	}
	systems = append(systems, rawSystem(t, "raw", filepath.Join(dir, "raw.db"), items, fields...))
	if os.Getenv("STORAGE_WRITECOST_RAWQR") != "" {
		// The baseline before 6b98c42: single Sets read with QueryRow,
		// committed in the reset, never checkpointed.
		systems = append(systems, rawSystem(t, "rawqr", filepath.Join(dir, "rawqr.db"), items, fields...))
	}

	type workload struct {
		name string
		n    int
		op   func(s *writeSystem, i int) error
	}
	workloads := []workload{
		{"set/insert", 1000, func(s *writeSystem, _ int) error { k, v := fresh(s); return s.set(k, v) }},
		{"set/overwrite", 1000, func(s *writeSystem, i int) error {
			it := items[(i*7919)%keys]
			return s.set(it.Key, it.Value.(json.RawMessage))
		}},
		{"setMany/1000 new", 5, func(s *writeSystem, _ int) error {
			its := make([]storage.Item, 1000)
			for j := range its {
				k, v := fresh(s)
				its[j] = storage.Item{Key: k, Value: v}
			}
			return s.setMany(its)
		}},
		{"setMany/1000 overwrite", 5, func(s *writeSystem, i int) error {
			// 1000 stored keys from a rotating start, each written with
			// its value as stored (n unchanged, as in set/overwrite).
			its := make([]storage.Item, 1000)
			for j := range its {
				its[j] = items[(i*1000+j*7)%keys]
			}
			return s.setMany(its)
		}},
		{"setMany/1000 changed", 5, func(s *writeSystem, i int) error {
			// 1000 stored keys from a rotating start, each written with
			// a value its declared fields did not have (n, and s if
			// declared, move by the round's shift).
			its := make([]storage.Item, 1000)
			for j := range its {
				k := (i*1000 + j*7) % keys
				its[j] = storage.Item{Key: items[k].Key, Value: val(k + 10*(i+1))}
			}
			return s.setMany(its)
		}},
		{"setMany/1000 n changed", 5, func(s *writeSystem, i int) error {
			// As "changed", but only n moves: s (if declared) keeps
			// its value.
			its := make([]storage.Item, 1000)
			for j := range its {
				k := (i*1000 + j*7) % keys
				its[j] = storage.Item{Key: items[k].Key, Value: valN(k, k+10*(i+1))}
			}
			return s.setMany(its)
		}},
		{"setMany/1000 other changed", 5, func(s *writeSystem, i int) error {
			// 1000 stored keys from a rotating start, each written with
			// its value as stored and a field x, not declared, that
			// moves each round: the values change, the declared fields
			// keep theirs.
			its := make([]storage.Item, 1000)
			for j := range its {
				k := (i*1000 + j*7) % keys
				v := items[k].Value.(json.RawMessage)
				its[j] = storage.Item{Key: items[k].Key, Value: json.RawMessage(fmt.Sprintf(`%s,"x":%d}`, v[:len(v)-1], i))}
			}
			return s.setMany(its)
		}},
		{"tx/read-modify-write", 1000, func(s *writeSystem, i int) error { return s.rmw(items[(i*7919)%keys].Key) }},
	}
	if only := os.Getenv("STORAGE_WRITECOST_ONLY"); only != "" {
		re := regexp.MustCompile(only)
		workloads = slices.DeleteFunc(workloads, func(w workload) bool { return !re.MatchString(w.name) })
	}
	load, _ := os.ReadFile("/proc/loadavg")
	var b strings.Builder
	fmt.Fprintf(&b, "load at start: %s", load)
	for _, w := range workloads {
		cpu := make([][]float64, len(systems))
		wall := make([][]float64, len(systems))
		written := make([]float64, len(systems))
		for r := range rounds {
			for k := range systems {
				j := (k + r) % len(systems)
				s := systems[j]
				w0, c0, t0 := wcharBytes(), cpuTime(), time.Now()
				// Labelled, so that one -cpuprofile splits the systems
				// (pprof -tagfocus='system=^engine$').
				pprof.Do(ctx, pprof.Labels("system", s.name, "workload", w.name), func(context.Context) {
					for i := range w.n {
						if err := w.op(s, r*w.n+i); err != nil {
							t.Fatalf("%s %s: %v", w.name, s.name, err)
						}
					}
				})
				cpu[j] = append(cpu[j], float64(cpuTime()-c0)/float64(w.n))
				wall[j] = append(wall[j], float64(time.Since(t0))/float64(w.n))
				written[j] += float64(wcharBytes()-w0) / float64(w.n)
			}
		}
		// WAL frames per op, counted once after the rounds: the WAL
		// truncated, no automatic checkpoint, 100 ops (1 of SetMany).
		frames := make([]float64, len(systems))
		for j, s := range systems {
			n := min(w.n, 100)
			if _, err := s.checkpoint("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				t.Fatal(err)
			}
			if err := s.exec("PRAGMA wal_autocheckpoint = 0"); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if err := w.op(s, rounds*w.n+i); err != nil {
					t.Fatalf("%s %s: %v", w.name, s.name, err)
				}
			}
			log, err := s.checkpoint("PRAGMA wal_checkpoint(PASSIVE)")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.exec("PRAGMA wal_autocheckpoint = 1000"); err != nil {
				t.Fatal(err)
			}
			frames[j] = float64(log) / float64(n)
		}
		fmt.Fprintf(&b, "\n%s:", w.name)
		for j, s := range systems {
			cr, c := medianRatio(cpu, j), slices.Sorted(slices.Values(cpu[j]))
			wr, wt := medianRatio(wall, j), slices.Sorted(slices.Values(wall[j]))
			fmt.Fprintf(&b, "\n  %-8s CPU/op %8.1f µs, engine/this %.2f (%.2f-%.2f); wall/op %8.1f µs, engine/this %.2f (%.2f-%.2f); written/op %7.1f KB, WAL frames/op %6.1f",
				s.name, c[rounds/2]/1e3, cr[rounds/2], cr[0], cr[rounds-1], wt[rounds/2]/1e3, wr[rounds/2], wr[0], wr[rounds-1],
				written[j]/float64(rounds)/1024, frames[j])
		}
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "\nload at end: %s", load)
	t.Log(b.String())
}

// syncParam is the DSN parameter of STORAGE_WRITECOST_FULL=1 (every
// system at synchronous=FULL), else "".
func syncParam() string {
	if os.Getenv("STORAGE_WRITECOST_FULL") != "" {
		return "?synchronous=full"
	}
	return ""
}

// medianRatio returns the sorted per-round ratios of x[j] to x[0] (the
// engine's): per op, the engine's throughput over system j's, as bench/peers
// gives engine/modernc.
func medianRatio(x [][]float64, j int) []float64 {
	r := make([]float64, len(x[j]))
	for i := range r {
		r[i] = x[j][i] / x[0][i]
	}
	slices.Sort(r)
	return r
}

// writeSystem is one store of TestWriteCost.
type writeSystem struct {
	name    string
	set     func(key string, v json.RawMessage) error
	setMany func([]storage.Item) error
	rmw     func(key string) error
	seq     int // the last new key's number
	// checkpoint runs a PRAGMA wal_checkpoint on the writer and returns
	// the frames in the WAL.
	checkpoint func(pragma string) (int64, error)
	exec       func(q string) error
}

// rawSystem is bench/peers' hand-written SQLite (rawsqlite.go): its table
// and index, its statements prepared once, each stepped to SQLITE_DONE.
// As "rawqr", its single Sets (not those of its transactions) read their
// row with QueryRow, as the peers' baseline did before 6b98c42: the
// statement is reset after its row, commits there, and SQLite's WAL hook,
// so its automatic checkpoint, never runs.
func rawSystem(t *testing.T, name, path string, items []storage.Item, fields ...string) *writeSystem {
	ctx := t.Context()
	o := dialect.DefaultSQLiteOptions
	if syncParam() != "" {
		o.SynchronousFull = true
	}
	db, err := sql.Open("sqlite", dialect.SQLiteDriverDSN(path, o, true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE kv (
    namespace_id INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, metadata BLOB NOT NULL,
    version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, key));`); err != nil {
		t.Fatal(err)
	}
	if len(fields) == 0 {
		fields = []string{"n"}
	}
	for _, f := range fields {
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE INDEX kv_%s ON kv (namespace_id, value ->> '$.%s', key)`, f, f)); err != nil {
			t.Fatal(err)
		}
	}
	prep := func(q string) *sql.Stmt {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	upsert := prep(`INSERT INTO kv (namespace_id, key, value, metadata, version, created_at, updated_at)
VALUES (?1, ?2, jsonb(?3), jsonb('{}'), 1, ?4, ?4)
ON CONFLICT (namespace_id, key) DO UPDATE SET value = excluded.value, version = kv.version + 1, updated_at = excluded.updated_at
RETURNING version`)
	upsertMany := prep(`INSERT INTO kv (namespace_id, key, value, metadata, version, created_at, updated_at)
SELECT ?1, i.value ->> '$[0]', jsonb(i.value -> '$[1]'), jsonb('{}'), 1, ?2, ?2 FROM json_each(?3) AS i WHERE true
ON CONFLICT (namespace_id, key) DO UPDATE SET value = excluded.value, version = kv.version + 1, updated_at = excluded.updated_at
RETURNING key, version`)
	get := prep(`SELECT CAST(json(value) AS TEXT), version FROM kv WHERE namespace_id = ?1 AND key = ?2`)
	drain := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		return rows.Close()
	}
	set := func(st *sql.Stmt, k string, v json.RawMessage) error {
		return drain(st.QueryContext(ctx, 1, k, string(v), time.Now().UnixMicro()))
	}
	setMany := func(its []storage.Item) error {
		var b strings.Builder
		b.WriteByte('[')
		for i, it := range its {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "[%q,%s]", it.Key, it.Value.(json.RawMessage))
		}
		b.WriteByte(']')
		return drain(upsertMany.QueryContext(ctx, 1, time.Now().UnixMicro(), b.String()))
	}
	if err := setMany(items); err != nil {
		t.Fatal(err)
	}
	return &writeSystem{
		name: name,
		exec: func(q string) error { _, err := db.ExecContext(ctx, q); return err },
		checkpoint: func(q string) (log int64, err error) {
			var busy, done int64
			err = db.QueryRowContext(ctx, q).Scan(&busy, &log, &done)
			return log, err
		},
		set: func(k string, v json.RawMessage) error {
			if name == "rawqr" {
				var ver int64
				return upsert.QueryRowContext(ctx, 1, k, string(v), time.Now().UnixMicro()).Scan(&ver)
			}
			return set(upsert, k, v)
		},
		setMany: setMany,
		rmw: func(k string) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }()
			var v string
			var ver int64
			if err := tx.StmtContext(ctx, get).QueryRowContext(ctx, 1, k).Scan(&v, &ver); err != nil {
				return err
			}
			if err := set(tx.StmtContext(ctx, upsert), k, json.RawMessage(v)); err != nil {
				return err
			}
			return tx.Commit()
		},
	}
}

// batchesInTx puts back, on st, SetMany's write inside a transaction (BEGIN,
// the namespace, the statement, COMMIT) as before upsertBatch, for
// TestWriteCost's "intx": its writer querier no longer offers upsertBatch.
func batchesInTx(st *Store) {
	e := st.eng.(*sqliteEngine)
	e.wq = inTxBatches{e.wq}
}

type inTxBatches struct{ querier }
