package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestErrorMessages pins the printed form of every sentinel the engine
// returns, on every configuration, outside and inside a transaction: the
// project's own words ("storage: op namespace … key …: what"), one
// sentinel, and no driver text (database/sql's "no rows in result set",
// SQLSTATEs, SQLite result codes).
func TestErrorMessages(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, c.dsn(t), WithCapacity(4), WithMaxValueSize(100), WithMaxOpenTx(1))
			t.Cleanup(func() { _ = s.Close() })
			mustDo(t, s.Set(ctx, "k", 1))
			mustDo(t, s.CreateNamespace(ctx, "other", storage.WithIndexes("f")))

			var ops storage.Ops = s
			check := func(what string, err error, sentinel error, want string) {
				t.Helper()
				wantMessage(t, what, err, sentinel, want)
			}
			run := func(prefix string) {
				_, err := ops.Get(ctx, "missing")
				check(prefix+"get", err, storage.ErrNotFound, `storage: get namespace "default" key "missing": not found`)
				if !errors.Is(err, sql.ErrNoRows) {
					t.Errorf("%sget: %v does not satisfy errors.Is(err, sql.ErrNoRows)", prefix, err)
				}
				check(prefix+"delete", ops.Delete(ctx, "missing"), storage.ErrNotFound,
					`storage: delete namespace "default" key "missing": not found`)
				_, err = ops.GetMetadata(ctx, "missing")
				check(prefix+"getMetadata", err, storage.ErrNotFound,
					`storage: getMetadata namespace "default" key "missing": not found`)
				check(prefix+"setMetadata", ops.SetMetadata(ctx, "missing", map[string]any{"a": 1}), storage.ErrNotFound,
					`storage: setMetadata namespace "default" key "missing": not found`)
				gm, err := ops.GetMany(ctx, []string{"missing", ""})
				mustDo(t, err)
				check(prefix+"getMany missing", gm.Errors["missing"], storage.ErrNotFound,
					`storage: getMany namespace "default" key "missing": not found`)
				check(prefix+"getMany empty key", gm.Errors[""], storage.ErrInvalidKey,
					`storage: getMany namespace "default": invalid key: key is empty`)
				dm, err := ops.DeleteMany(ctx, []string{"missing"})
				mustDo(t, err)
				check(prefix+"deleteMany", dm.Results[0].Err, storage.ErrNotFound,
					`storage: deleteMany namespace "default" key "missing": not found`)
				check(prefix+"noOverwrite", ops.Set(ctx, "k", 1, storage.NoOverwrite()), storage.ErrAlreadyExists,
					`storage: set namespace "default" key "k": already exists`)
				check(prefix+"ifVersion", ops.Set(ctx, "k", 1, storage.IfVersion(9)), storage.ErrConflict,
					`storage: set namespace "default" key "k": version conflict: expected version 9, found 1`)
				check(prefix+"ifVersion missing", ops.Set(ctx, "missing", 1, storage.IfVersion(9)), storage.ErrConflict,
					`storage: set namespace "default" key "missing": version conflict: expected version 9, but the key does not exist`)
				check(prefix+"too large", ops.Set(ctx, "big", strings.Repeat("x", 200)), storage.ErrValueTooLarge,
					`storage: set namespace "default" key "big": value too large: 202 bytes, more than the maximum 100`)
				check(prefix+"invalid value", ops.Set(ctx, "bad", json.RawMessage(`{"a":1,"a":2}`)), storage.ErrInvalidValue,
					`storage: set namespace "default" key "bad": invalid value: duplicate object key "a" at offset 7`)
				check(prefix+"invalid key", ops.Set(ctx, "", 1), storage.ErrInvalidKey,
					`storage: set namespace "default": invalid key: key is empty`)
				check(prefix+"invalid namespace", ops.Set(ctx, "k", 1, storage.InNamespace("a/b")), storage.ErrInvalidNamespace,
					`storage: set key "k": invalid namespace: namespace "a/b" must match [A-Za-z0-9][A-Za-z0-9._-]{0,127} or be principal://{pkr}[/namespace/{name}]`)
				check(prefix+"invalid option", ops.Set(ctx, "k", 1, storage.Limit(3)), storage.ErrInvalidOption,
					`storage: set namespace "default" key "k": invalid option: set does not accept option Limit`)
				// An option's error names the namespace (given before or
				// after it) and the key, as the other errors do.
				check(prefix+"metadata too large", ops.Set(ctx, "k", 1, storage.WithMetadata(map[string]any{"a": strings.Repeat("x", 200)}),
					storage.InNamespace("other")), storage.ErrValueTooLarge,
					`storage: set namespace "other" key "k": value too large: metadata is 208 bytes, more than the maximum 100`)
				check(prefix+"invalid option in namespace", ops.Delete(ctx, "k", storage.IfVersion(0), storage.InNamespace("other")),
					storage.ErrInvalidOption, `storage: delete namespace "other" key "k": invalid option: IfVersion(0): versions start at 1`)
				check(prefix+"setMetadata invalid option", ops.SetMetadata(ctx, "k", map[string]any{}, storage.InNamespace("other"), storage.NoOverwrite()),
					storage.ErrInvalidOption, `storage: setMetadata namespace "other" key "k": invalid option: setMetadata does not accept option NoOverwrite`)
				_, err = ops.Query(ctx, storage.Eq("a..b", 1))
				check(prefix+"invalid filter", err, storage.ErrInvalidFilter,
					`storage: query namespace "default": invalid filter: field "a..b", segment 2: empty (two dots in a row, or a dot at an end)`)
				// Numbers a filter cannot hold, and values that are no JSON
				// or that PostgreSQL's numeric cannot hold: the same words.
				_, err = ops.Query(ctx, storage.Eq("n", json.Number("1e131071")))
				check(prefix+"filter number out of range", err, storage.ErrInvalidFilter,
					`storage: query namespace "default": invalid filter: filter: field "n", operator eq: number 1e131071 is out of range for a filter (at most ±1.7976931348623157e+308)`)
				_, err = ops.Count(ctx, storage.Where(storage.In("n", 1, json.Number("-1"+strings.Repeat("0", 400)))))
				check(prefix+"filter number out of range in in", err, storage.ErrInvalidFilter,
					`storage: count namespace "default": invalid filter: filter: field "n", operator in: value 1: number -10000000000000000000000000000000000000… is out of range for a filter (at most ±1.7976931348623157e+308)`)
				_, err = ops.Query(ctx, storage.Gt("n", math.Inf(-1)))
				check(prefix+"filter infinity", err, storage.ErrInvalidFilter,
					`storage: query namespace "default": invalid filter: filter: field "n", operator gt: -Inf is not representable in JSON`)
				check(prefix+"value infinity", ops.Set(ctx, "bad", math.Inf(-1)), storage.ErrInvalidValue,
					`storage: set namespace "default" key "bad": invalid value: -Inf is not representable in JSON`)
				check(prefix+"value number out of range", ops.Set(ctx, "bad", json.RawMessage(`[1e200000]`)), storage.ErrInvalidValue,
					`storage: set namespace "default" key "bad": invalid value: number 1e200000 is out of range for PostgreSQL numeric (at most 131072 digits before the decimal point, 16383 after it), at offset 1`)
				check(prefix+"metadata number out of range", ops.Set(ctx, "bad", 1, storage.WithMetadata(json.RawMessage(`{"a":-1e200000}`))), storage.ErrInvalidValue,
					`storage: set namespace "default" key "bad": invalid value: metadata: number -1e200000 is out of range for PostgreSQL numeric (at most 131072 digits before the decimal point, 16383 after it), at offset 5`)
				br, err := ops.SetMany(ctx, []storage.Item{{Key: "n1", Value: 1}, {Key: "", Value: 1}}, storage.Atomic())
				if err != nil && !errors.Is(err, storage.ErrInvalidKey) {
					t.Errorf("%satomic setMany: %v", prefix, err)
				}
				check(prefix+"aborted", br.Results[0].Err, storage.ErrAborted,
					`storage: setMany namespace "default" key "n1": batch aborted`)
			}
			run("")

			// Store-level and transaction-level errors.
			mustDo(t, s.Set(ctx, "c2", 1))
			mustDo(t, s.Set(ctx, "c3", 1))
			mustDo(t, s.Set(ctx, "c4", 1, storage.InNamespace("other")))
			check("capacity", s.Set(ctx, "c5", 1), storage.ErrCapacityExceeded,
				`storage: set namespace "default" key "c5": capacity exceeded: the store holds at most 4 entries`)
			check("namespace exists", s.CreateNamespace(ctx, "other"), storage.ErrNamespaceExists,
				`storage: createNamespace namespace "other": namespace already exists`)
			check("namespace not found", s.DeleteNamespace(ctx, "nope"), storage.ErrNamespaceNotFound,
				`storage: deleteNamespace namespace "nope": namespace not found`)
			check("namespace not empty", s.DeleteNamespace(ctx, "other"), storage.ErrNamespaceNotEmpty,
				`storage: deleteNamespace namespace "other": namespace not empty`)
			check("index exists", s.CreateIndex(ctx, "other", "f"), storage.ErrIndexExists,
				`storage: createIndex namespace "other": index already exists`)
			check("index not found", s.DropIndex(ctx, "other", "g"), storage.ErrIndexNotFound,
				`storage: dropIndex namespace "other": index not found`)
			_, err := s.LookupTx("nope")
			check("tx not found", err, storage.ErrTxNotFound, `storage: lookupTx: transaction not found: "nope"`)

			tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
			mustDo(t, err)
			_, err = s.Begin(ctx, storage.TxOptions{})
			check("too many tx", err, storage.ErrTooManyTx,
				`storage: begin: too many open transactions: 1 of 1 are open`)
			check("read-only", tx.Set(ctx, "z", 1), storage.ErrReadOnly, `storage: set namespace "default" key "z": read-only transaction`)
			mustDo(t, tx.Commit(ctx))
			check("tx done", tx.Set(ctx, "z", 1), storage.ErrTxDone,
				`storage: set: transaction has already been committed or rolled back`)

			// The same messages inside a transaction (of a store with room
			// for one).
			s2 := openTest(t, c.dsn(t), WithMaxValueSize(100))
			t.Cleanup(func() { _ = s2.Close() })
			mustDo(t, s2.Set(ctx, "k", 1))
			tx2, err := s2.Begin(ctx, storage.TxOptions{})
			mustDo(t, err)
			ops = tx2
			run("tx ")
			_ = tx2.Rollback(ctx)

			mustDo(t, s.Close())
			_, err = s.Get(ctx, "k")
			check("closed", err, storage.ErrClosed, `storage: get: store is closed`)
		})
	}
}

// wantMessage fails t unless err wraps sentinel and only it, and prints
// exactly want.
func wantMessage(t *testing.T, what string, err, sentinel error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %q", what, want)
		return
	}
	n := 0
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			n++
		}
	}
	if !errors.Is(err, sentinel) || n != 1 {
		t.Errorf("%s: %q wraps %d sentinels, want only %v", what, err, n, sentinel)
	}
	if err.Error() != want {
		t.Errorf("%s:\n got %s\nwant %s", what, err, want)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestConflictMessage: a transaction that PostgreSQL aborts to keep it
// isolated says so in the project's words.
func TestConflictMessage(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, newPGSchema(t))
	t.Cleanup(func() { _ = s.Close() })
	mustDo(t, s.Set(ctx, "k", 1))
	opts := storage.TxOptions{Isolation: storage.LevelRepeatableRead}
	t1, err := s.Begin(ctx, opts)
	mustDo(t, err)
	t2, err := s.Begin(ctx, opts)
	mustDo(t, err)
	defer func() { _ = t1.Rollback(ctx); _ = t2.Rollback(ctx) }()
	_, err = t2.Get(ctx, "k") // t2's snapshot
	mustDo(t, err)
	mustDo(t, t1.Set(ctx, "k", 2))
	mustDo(t, t1.Commit(ctx))
	err = t2.Set(ctx, "k", 3)
	if err == nil {
		err = t2.Commit(ctx)
	}

	if !errors.Is(err, storage.ErrTxConflict) || !strings.HasPrefix(err.Error(), `storage: set namespace "default" key "k": transaction conflict, retry: `) {
		t.Errorf("second writer: %v", err)
	}
	for _, leak := range []string{"SQLSTATE", "ERROR:", "could not serialize"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("%q carries driver text %q", err, leak)
		}
	}
}
