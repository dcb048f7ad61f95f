package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/sqlitedb"
)

// upsertEntriesKeepMetadataArrays is UpsertEntriesKeepMetadata before the
// slots (main at 7da81f8): each item an array [key, value offset, value
// length, metadata offset, metadata length, expires_at or null, keep_ttl
// 0|1], for TestBatchTextsCost.
const upsertEntriesKeepMetadataArrays = `-- name: UpsertEntriesKeepMetadata :many
-- An expired row's metadata is not kept: it becomes '{}'.
INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
SELECT n.id, i.value ->> '$[0]', jsonb(CAST(substr(CAST(?6 AS BLOB), i.value ->> '$[1]', i.value ->> '$[2]') AS TEXT)), jsonb('{}'), 1,
       ?1, ?1,
       CAST(?2 AS TEXT), CAST(?2 AS TEXT),
       CASE WHEN i.value ->> '$[6]' <> 0
            THEN (SELECT o.expires_at FROM entries o WHERE o.namespace_id = n.id AND o.key = i.value ->> '$[0]'
                    AND (o.expires_at IS NULL OR o.expires_at > CAST(?1 AS INTEGER)))
            ELSE i.value ->> '$[5]' END,
       CAST(?3 AS INTEGER) + i.key + 1, CAST(?3 AS INTEGER) + i.key + 1
FROM namespaces n, json_each(CAST(?4 AS TEXT)) AS i
WHERE n.name = ?5
ON CONFLICT (namespace_id, key) DO UPDATE SET
    value      = excluded.value,
    metadata   = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.metadata ELSE excluded.metadata END,
    version    = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.version + 1 ELSE 1 END,
    created_at = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.created_at ELSE excluded.created_at END,
    created_by = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                      THEN entries.created_by ELSE excluded.created_by END,
    updated_at = excluded.updated_at,
    updated_by = excluded.updated_by,
    expires_at = excluded.expires_at,
    revision   = excluded.revision,
    create_revision = CASE WHEN entries.expires_at IS NULL OR entries.expires_at > excluded.updated_at
                           THEN entries.create_revision ELSE excluded.create_revision END
RETURNING key, version, revision, create_revision;
`

// jsonItemsArrays is the encoding of upsertEntriesKeepMetadataArrays: the
// item arrays, and the values and metadata laid end to end in texts.
func jsonItemsArrays(items []batchItem) (string, []byte) {
	b := []byte{'['}
	var texts []byte
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendJSONString(b, it.Key)
		b = fmt.Appendf(b, ",%d,%d", len(texts)+1, len(it.Value))
		texts = append(texts, it.Value...)
		b = fmt.Appendf(b, ",%d,2,null,0]", len(texts)+1)
		texts = append(texts, "{}"...)
	}
	return string(append(b, ']')), texts
}

// TestBatchTextsCost compares, in one process and alternating rounds, the
// SQLite batch upsert with each item a JSON array of offsets (before:
// json_each renders each array as text, each ->> parses it) and with the
// keys alone in the JSON array and the rest in fixed-width slots of a BLOB
// (batchItems, after): the same store file (the
// engine's schema and triggers, a namespace with one declared index, 10000
// keys), each round a transaction of 1000 new keys per form, CPU time per
// batch. It measures and asserts nothing. Run it with
// STORAGE_BATCHTEXTS=1 (STORAGE_BATCHTEXTS_ROUNDS, default 11;
// STORAGE_BATCHTEXTS_PAD, the values' padding in bytes, default 200).
func TestBatchTextsCost(t *testing.T) {
	if os.Getenv("STORAGE_BATCHTEXTS") == "" {
		t.Skip("a measurement: set STORAGE_BATCHTEXTS=1 to run it")
	}
	rounds, pad := 11, 200
	if v, err := strconv.Atoi(os.Getenv("STORAGE_BATCHTEXTS_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if v, err := strconv.Atoi(os.Getenv("STORAGE_BATCHTEXTS_PAD")); err == nil && v >= 0 {
		pad = v
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "texts.db")
	st := openTest(t, "sqlite:"+path, WithSweepInterval(-1))
	if err := st.CreateNamespace(ctx, "bench", storage.WithIndexes("n")); err != nil {
		t.Fatal(err)
	}
	p := strings.Repeat("0", pad)
	val := func(i int) []byte { return fmt.Appendf(nil, `{"n":%d,"s":"%s"}`, i/10, p) }
	seq := 0
	batch := func() []batchItem {
		out := make([]batchItem, 1000)
		for i := range out {
			seq++
			out[i] = batchItem{Key: fmt.Sprintf("k%09d", seq), Value: val(seq)}
		}
		return out
	}
	load := make([]storage.Item, 0, 10000)
	for range 10 {
		for _, bi := range batch() {
			load = append(load, storage.Item{Key: bi.Key, Value: json.RawMessage(bi.Value)})
		}
	}
	if _, err := st.SetMany(ctx, load, storage.InNamespace("bench")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(1)
	run := func(arrays bool) time.Duration {
		items := batch()
		c0 := cpuTime()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var base int64
		if err := tx.QueryRowContext(ctx, "SELECT current FROM revision_counter WHERE id = 1").Scan(&base); err != nil {
			t.Fatal(err)
		}
		now := micros(time.Now())
		n := 0
		if arrays {
			js, texts := jsonItemsArrays(items)
			rows, err := tx.QueryContext(ctx, upsertEntriesKeepMetadataArrays, now, nil, base, js, "bench", texts)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				n++
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			keys, texts, slots := batchItems(items)
			rs, err := sqlitedb.New(tx).UpsertEntriesKeepMetadata(ctx, sqlitedb.UpsertEntriesKeepMetadataParams{Texts: texts, Slots: slots, Now: now, Items: keys, Namespace: "bench"})
			if err != nil {
				t.Fatal(err)
			}
			n = len(rs)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if n != len(items) {
			t.Fatalf("%d rows written, want %d", n, len(items))
		}
		return cpuTime() - c0
	}
	run(true)
	run(false)
	var ratios []float64
	var sumIn, sumOut time.Duration
	for r := range rounds {
		var a, b time.Duration
		if r%2 == 0 {
			a = run(true)
			b = run(false)
		} else {
			b = run(false)
			a = run(true)
		}
		sumIn += a
		sumOut += b
		ratios = append(ratios, float64(b)/float64(a))
	}
	slices.Sort(ratios)
	t.Logf("pad %d, %d rounds: arrays %v/batch, slots %v/batch; slots/arrays CPU median %.2f (%.2f-%.2f)",
		pad, rounds, sumIn/time.Duration(rounds), sumOut/time.Duration(rounds), ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
}
