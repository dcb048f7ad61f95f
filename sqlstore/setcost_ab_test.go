package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/internal/sqlitedb"
)

// TestSetCost breaks a plain Set (an overwrite of one of 1000 keys, ~256
// byte values, in a namespace with one declared index) on a SQLite file
// into its shares, measured in one process in alternating rounds as CPU
// time (user and system, the whole process) and bytes written per op:
//
//   - engine: Store.Set;
//   - sql: the upsert statement alone, run on the engine's writer through
//     its statement cache, with Set's arguments (engine - sql is the Go
//     side of a Set);
//   - noindex: Store.Set on a store whose index triggers are dropped;
//   - nolog: Store.Set on a store whose change-log put triggers are
//     dropped;
//   - ix14: Store.Set with the index update trigger of migration 00014
//     (which 00019 replaced: it deletes and inserts the entry's index rows
//     even when they do not change);
//   - raw: the peers benchmark's hand-written upsert on its own table
//     (bench/peers/rawsqlite.go), statement prepared once.
//
// With STORAGE_SETCOST_CHANGE=1 every overwrite changes the indexed field
// (n alternates between two values), else it writes the value the key has.
// STORAGE_SETCOST_ONLY (a regexp) keeps the variants whose names match.
// It measures and asserts nothing. Run it with STORAGE_SETCOST=1
// (STORAGE_SETCOST_ROUNDS rounds, default 9):
//
//	STORAGE_SETCOST=1 go test -run TestSetCost -v ./sqlstore
func TestSetCost(t *testing.T) {
	if os.Getenv("STORAGE_SETCOST") == "" {
		t.Skip("a measurement: set STORAGE_SETCOST=1 to run it")
	}
	rounds := 9
	if v, err := strconv.Atoi(os.Getenv("STORAGE_SETCOST_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	ctx := t.Context()
	dir := t.TempDir()
	in := storage.InNamespace("bench")
	pad := fmt.Sprintf("%0200d", 0)
	const keys = 1000
	items := make([]storage.Item, keys)
	other := make([]storage.Item, keys) // n changed
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("key:%06d", i), Value: json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"%s"}`, i, pad))}
		other[i] = storage.Item{Key: items[i].Key, Value: json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"%s"}`, i+keys, pad))}
	}
	change := os.Getenv("STORAGE_SETCOST_CHANGE") != ""
	var cur []storage.Item // the values of this round
	open := func(name string, drop ...string) *Store {
		s := openTest(t, "sqlite:"+filepath.Join(dir, name+".db"), WithSweepInterval(-1))
		t.Cleanup(func() { _ = s.Close() })
		if err := s.CreateNamespace(ctx, "bench", storage.WithIndexes("n")); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range drop {
			if _, err := s.eng.writer().exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		if _, err := s.SetMany(ctx, items, in); err != nil {
			t.Fatal(err)
		}
		return s
	}
	engine := open("engine")
	sqlOnly := open("sql")
	noIndex := open("noindex", "DROP TRIGGER entries_index_update", "DROP TRIGGER entries_index_insert")
	noLog := open("nolog", "DROP TRIGGER changes_put_insert", "DROP TRIGGER changes_put_update")
	ix14 := open("ix14", "DROP TRIGGER entries_index_update", index14Trigger(t))

	rawPath := filepath.Join(dir, "raw.db")
	raw, err := sql.Open("sqlite", dialect.SQLiteDriverDSN(rawPath, dialect.DefaultSQLiteOptions, true))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.ExecContext(ctx, `CREATE TABLE kv (
    namespace_id INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, metadata BLOB NOT NULL,
    version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, key));
CREATE INDEX kv_n ON kv (namespace_id, value ->> '$.n', key);`); err != nil {
		t.Fatal(err)
	}
	upsert, err := raw.PrepareContext(ctx, `INSERT INTO kv (namespace_id, key, value, metadata, version, created_at, updated_at)
VALUES (?1, ?2, jsonb(?3), jsonb('{}'), 1, ?4, ?4)
ON CONFLICT (namespace_id, key) DO UPDATE SET value = excluded.value, version = kv.version + 1, updated_at = excluded.updated_at
RETURNING version`)
	if err != nil {
		t.Fatal(err)
	}
	defer upsert.Close()
	rawSet := func(i int) error {
		var v int64
		return upsert.QueryRowContext(ctx, 1, cur[i].Key, string(cur[i].Value.(json.RawMessage)), time.Now().UnixMicro()).Scan(&v)
	}
	cur = items
	for i := range items {
		if err := rawSet(i); err != nil {
			t.Fatal(err)
		}
	}
	wc := sqlOnly.eng.(*sqliteEngine).wc
	sqlSet := func(i int) error {
		rows, err := wc.QueryContext(ctx, sqlitedb.UpsertEntrySQL,
			cur[i].Key, string(cur[i].Value.(json.RawMessage)), nil, micros(sqlOnly.now()), nil, 0, nil, "bench")
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		return rows.Close()
	}
	storeSet := func(s *Store) func(int) error {
		return func(i int) error { return s.Set(ctx, cur[i].Key, cur[i].Value, in) }
	}
	variants := []struct {
		name string
		set  func(int) error
	}{
		{"engine", storeSet(engine)},
		{"sql", sqlSet},
		{"noindex", storeSet(noIndex)},
		{"nolog", storeSet(noLog)},
		{"ix14", storeSet(ix14)},
		{"raw", rawSet},
	}
	if only := os.Getenv("STORAGE_SETCOST_ONLY"); only != "" {
		re := regexp.MustCompile(only)
		variants = slices.DeleteFunc(variants, func(v struct {
			name string
			set  func(int) error
		}) bool {
			return !re.MatchString(v.name)
		})
	}
	const n = 1000
	cpu := make([][]float64, len(variants))
	written := make([]float64, len(variants))
	for r := range rounds {
		if change && r%2 == 0 {
			cur = other
		} else {
			cur = items
		}
		for k := range variants {
			j := (k + r) % len(variants) // rotate who goes first
			v := variants[j]
			w0, c0 := wcharBytes(), cpuTime()
			for i := range n {
				if err := v.set(i % keys); err != nil {
					t.Fatalf("%s: %v", v.name, err)
				}
			}
			cpu[j] = append(cpu[j], float64(cpuTime()-c0)/n)
			written[j] += float64(wcharBytes()-w0) / n
		}
	}
	var b strings.Builder
	for j, v := range variants {
		var ratios []float64
		for r := range rounds {
			ratios = append(ratios, cpu[j][r]/cpu[0][r])
		}
		slices.Sort(ratios)
		c := slices.Clone(cpu[j])
		slices.Sort(c)
		fmt.Fprintf(&b, "\n%-8s CPU/op %6.1f µs, ratio to engine %.2f (%.2f-%.2f), written/op %.1f KB",
			v.name, c[rounds/2]/1e3, ratios[rounds/2], ratios[0], ratios[rounds-1], written[j]/float64(rounds)/1024)
	}
	t.Log(b.String())
}

// index14Trigger is the index update trigger of migration 00014, read from
// the Down of 00019.
func index14Trigger(t *testing.T) string {
	b, err := os.ReadFile("../migrations/sqlite/00019_index_update_unchanged.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, _ := strings.Cut(string(b), "-- +goose Down")
	_, body, _ := strings.Cut(down, "-- +goose StatementBegin\n")
	body, _, _ = strings.Cut(body, "-- +goose StatementEnd")
	return body
}
