package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

var diffSentinels = []error{storage.ErrNotFound, storage.ErrAlreadyExists, storage.ErrNamespaceNotFound, storage.ErrNamespaceExists,
	storage.ErrNamespaceNotEmpty, storage.ErrInvalidKey, storage.ErrInvalidNamespace, storage.ErrInvalidValue, storage.ErrValueTooLarge,
	storage.ErrInvalidOption, storage.ErrConflict, storage.ErrInvalidFilter, storage.ErrUnsupported, storage.ErrAborted,
	storage.ErrPermissionDenied, storage.ErrReadOnly}

func diffKind(err error) string {
	if err == nil {
		return "ok"
	}
	for _, s := range diffSentinels {
		if errors.Is(err, s) {
			return s.Error() + " [" + err.Error() + "]"
		}
	}
	return "OTHER:" + err.Error()
}

func normEntry(e storage.Entry) string {
	return fmt.Sprintf("%s/%s=%s md=%s v%d r%d cr%d exp=%v", e.Namespace, e.Key, compactJSON(e.Value), compactJSON(e.Metadata), e.Version, e.Revision, e.CreateRevision, !e.ExpiresAt.IsZero())
}

// TestWireDifferential runs the same random operations, with random
// options, keys, namespaces, principals and transactions, on a
// security.Store over the engine in process and on a client.Store over
// HTTP to another such store, and wants the same answers: results,
// versions, revisions, metadata, expiry, per-key errors, history, cursors
// (paging with them), transactions and, at the end, the change stream.
// Errors compare by sentinel and message. The differences package client documents
// are left aside: it checks keys, values, metadata and filters itself,
// before the server checks permissions and which options an operation
// takes (an empty key with an option delete does not take is
// ErrInvalidKey over the wire, ErrInvalidOption in process).
func TestWireDifferential(t *testing.T) {
	seeds := int64(3)
	if raceEnabled {
		seeds = 1
	}
	for _, c := range []int{0, 2} { // sqlite-memory, postgres
		for seed := int64(1); seed <= seeds; seed++ {
			t.Run(fmt.Sprint(configs[c].Name, "/", seed), func(t *testing.T) { diffRun(t, seed, c) })
		}
	}
}

func diffRun(t *testing.T, seed int64, ci int) {
	c := configs[ci]
	s := newServer(t, c, httpapi.Config{})
	wire := newClient(t, s, adminToken)
	inner := teststore.Open(t, c.DSN(t))
	tokens, _ := httpapi.ParseAuthFile([]byte(authFile))
	lib := security.NewStore(inner, tokens.Policy())
	pkr, _ := tokens.Authenticate(adminToken)
	lctx := security.WithPrincipal(context.Background(), pkr)
	wctx := context.Background()
	bwire := newClient(t, s, bobToken)
	bpkr, _ := tokens.Authenticate(bobToken)
	bctx := security.WithPrincipal(context.Background(), bpkr)
	awire, actx := wire, lctx
	r := rand.New(rand.NewSource(seed))
	nss := []string{"default", "users", "x", "users", "", "a/b", "\x00"}
	keys := []string{"a", "b", "c", "a/b", "z", "", "\xff", strings.Repeat("k", 1100), "é", "a\x00"}
	vals := []string{`1`, `"s"`, `{"n":1,"s":"a"}`, `{"n":2,"t":[1,2]}`, `null`, `{"n":3,"o":{"p":1}}`, `[1,2]`, `{"n":-0}`, `12345678901234567890`}
	mds := []string{`{"m":1}`, `{"tag":"x"}`, `null`, `{}`, `{"m":{"q":2}}`}
	opts := func() []storage.Option {
		var o []storage.Option
		if r.Intn(3) > 0 {
			o = append(o, storage.InNamespace(nss[r.Intn(len(nss))]))
		}
		return o
	}
	writeOpts := []func() storage.Option{
		storage.NoOverwrite, storage.MustExist, storage.Merge, storage.KeepTTL, storage.Atomic,
		func() storage.Option { return storage.IfVersion(int64(r.Intn(3))) },
		func() storage.Option { return storage.IfRevision(int64(r.Intn(20))) },
		func() storage.Option { return storage.WithMetadata(json.RawMessage(mds[r.Intn(len(mds))])) },
		func() storage.Option { return storage.WithTTL(time.Hour) },
		func() storage.Option { return storage.WithTTL(1500 * time.Millisecond) },
	}
	wopts := func() []storage.Option {
		o := opts()
		if i := r.Intn(14); i < len(writeOpts) {
			o = append(o, writeOpts[i]())
		}
		return o
	}
	filters := []storage.Filter{storage.All(), storage.Eq("n", 1), storage.Gt("n", 1), storage.Exists("o", true), storage.Contains("t", 1),
		storage.Eq("$key", "a"), storage.Gte("$version", 2), storage.StartsWith("s", "a"), storage.In("n", 1, 3), storage.Not(storage.Eq("n", 2)),
		storage.Eq("$metadata.m", 1), storage.Lt("n", "x"), storage.Eq("o", map[string]any{"p": 1})}
	var ltx, wtx storage.Tx
	defer func() {
		if ltx != nil {
			_ = ltx.Rollback(lctx)
			_ = wtx.Rollback(wctx)
		}
	}()
	defer func() {
		if t.Failed() {
			return
		}
		st, err := inner.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range [][]storage.Option{nil, {storage.OmitValues()}} {
			a := watchAll(actx, storage.Store(lib).(storage.Watcher), st.Revision, o...)
			b := watchAll(wctx, awire, st.Revision, o...)
			if a != b {
				t.Errorf("watch %d options:\n lib:  %s\n wire: %s", len(o), a, b)
			}
		}
	}()
	steps := 300
	if raceEnabled {
		steps = 150
	}
	for i := range steps {
		op := r.Intn(20)
		if r.Intn(3) == 0 && ltx == nil {
			wire, lctx = bwire, bctx
		} else {
			wire, lctx = awire, actx
		}
		var lo, wo storage.Ops = lib, wire
		if ltx != nil {
			lo, wo = ltx, wtx
			if op >= 13 && op <= 15 {
				op = 3
			}
		}
		k := keys[r.Intn(len(keys))]
		var a, b string
		switch op {
		case 0, 1, 2:
			v := json.RawMessage(vals[r.Intn(len(vals))])
			o := wopts()
			var w1, w2 storage.WriteResult
			e1 := lo.Set(lctx, k, v, append(o, storage.Written(&w1))...)
			e2 := wo.Set(wctx, k, v, append(o, storage.Written(&w2))...)
			a, b = diffKind(e1)+fmt.Sprint(w1), diffKind(e2)+fmt.Sprint(w2)
		case 3:
			o := opts()
			e1, err1 := lo.Get(lctx, k, o...)
			e2, err2 := wo.Get(wctx, k, o...)
			a, b = diffKind(err1)+normEntry(e1), diffKind(err2)+normEntry(e2)
		case 4:
			o := wopts()
			e1 := lo.Delete(lctx, k, o...)
			e2 := wo.Delete(wctx, k, o...)
			a, b = diffKind(e1), diffKind(e2)
		case 5:
			o := opts()
			m1, err1 := lo.GetMetadata(lctx, k, o...)
			m2, err2 := wo.GetMetadata(wctx, k, o...)
			m1.CreatedAt, m1.UpdatedAt, m2.CreatedAt, m2.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			e1, e2 := !m1.ExpiresAt.IsZero(), !m2.ExpiresAt.IsZero()
			m1.ExpiresAt, m2.ExpiresAt = time.Time{}, time.Time{}
			a, b = diffKind(err1)+fmt.Sprintf("%#v %v", m1, e1), diffKind(err2)+fmt.Sprintf("%#v %v", m2, e2)
		case 6:
			md := json.RawMessage(mds[r.Intn(len(mds))])
			o := wopts()
			e1 := lo.SetMetadata(lctx, k, md, o...)
			e2 := wo.SetMetadata(wctx, k, md, o...)
			a, b = diffKind(e1), diffKind(e2)
		case 7:
			var items []storage.Item
			for j := 0; j < 1+r.Intn(4); j++ {
				items = append(items, storage.Item{Key: keys[r.Intn(len(keys))], Value: json.RawMessage(vals[r.Intn(len(vals))])})
			}
			o := wopts()
			r1, err1 := lo.SetMany(lctx, items, o...)
			r2, err2 := wo.SetMany(wctx, items, o...)
			a, b = diffKind(err1)+batchStr(r1), diffKind(err2)+batchStr(r2)
		case 8:
			ks := []string{keys[r.Intn(len(keys))], keys[r.Intn(len(keys))]}
			o := wopts()
			r1, err1 := lo.DeleteMany(lctx, ks, o...)
			r2, err2 := wo.DeleteMany(wctx, ks, o...)
			a, b = diffKind(err1)+batchStr(r1), diffKind(err2)+batchStr(r2)
		case 9:
			ks := []string{keys[r.Intn(len(keys))], keys[r.Intn(len(keys))], "q"}
			o := opts()
			r1, err1 := lo.GetMany(lctx, ks, o...)
			r2, err2 := wo.GetMany(wctx, ks, o...)
			a, b = diffKind(err1)+getManyStr(r1), diffKind(err2)+getManyStr(r2)
		case 10:
			o := opts()
			if r.Intn(2) == 0 {
				o = append(o, storage.Limit(r.Intn(4)))
			}
			if r.Intn(3) == 0 {
				o = append(o, storage.Offset(r.Intn(3)))
			}
			if r.Intn(3) == 0 {
				o = append(o, storage.Pattern([]string{"a*", "*b", "?", "a/*", "[ab]"}[r.Intn(5)]))
			}
			r1, err1 := lo.List(lctx, o...)
			r2, err2 := wo.List(wctx, o...)
			a, b = diffKind(err1)+fmt.Sprint(r1.Keys, r1.Cursor != ""), diffKind(err2)+fmt.Sprint(r2.Keys, r2.Cursor != "")
		case 11:
			o := opts()
			f := filters[r.Intn(len(filters))]
			if r.Intn(2) == 0 {
				o = append(o, storage.SortBy([]storage.SortField{storage.Desc("n"), storage.Asc("$key"), storage.Desc("$version"), storage.Asc("$updatedAt")}[r.Intn(4)]))
			}
			if r.Intn(2) == 0 {
				o = append(o, storage.Limit(r.Intn(4)))
			}
			r1, err1 := lo.Query(lctx, f, o...)
			r2, err2 := wo.Query(wctx, f, o...)
			var s1, s2 []string
			for _, e := range r1.Entries {
				s1 = append(s1, normEntry(e))
			}
			for _, e := range r2.Entries {
				s2 = append(s2, normEntry(e))
			}
			a, b = diffKind(err1)+strings.Join(s1, ";")+fmt.Sprint(r1.Cursor != ""), diffKind(err2)+strings.Join(s2, ";")+fmt.Sprint(r2.Cursor != "")
		case 12:
			o := opts()
			if r.Intn(2) == 0 {
				o = append(o, storage.Where(filters[r.Intn(len(filters))]))
			}
			n1, err1 := lib.Count(lctx, o...)
			n2, err2 := wire.Count(wctx, o...)
			a, b = diffKind(err1)+fmt.Sprint(n1), diffKind(err2)+fmt.Sprint(n2)
		case 13:
			ns := nss[r.Intn(len(nss))]
			var no []storage.NamespaceOption
			if r.Intn(2) == 0 {
				no = append(no, storage.WithNamespaceMetadata(map[string]any{"d": 1}))
			}
			e1 := lib.CreateNamespace(lctx, ns, no...)
			e2 := wire.CreateNamespace(wctx, ns, no...)
			a, b = diffKind(e1), diffKind(e2)
		case 14:
			ns := nss[r.Intn(len(nss))]
			var no []storage.NamespaceOption
			if r.Intn(2) == 0 {
				no = append(no, storage.Recursive())
			}
			e1 := lib.DeleteNamespace(lctx, ns, no...)
			e2 := wire.DeleteNamespace(wctx, ns, no...)
			a, b = diffKind(e1), diffKind(e2)
		case 15:
			if r.Intn(4) == 0 {
				o := opts()
				e1 := lib.Clear(lctx, o...)
				e2 := wire.Clear(wctx, o...)
				a, b = diffKind(e1), diffKind(e2)
			} else {
				l1, err1 := lib.ListNamespaces(lctx)
				l2, err2 := wire.ListNamespaces(wctx)
				a, b = diffKind(err1)+nsList(l1), diffKind(err2)+nsList(l2)
			}
		}
		switch op {
		case 17:
			o := opts()
			o = append(o, storage.AtRevision(int64(r.Intn(40))))
			e1, err1 := lo.Get(lctx, k, o...)
			e2, err2 := wo.Get(wctx, k, o...)
			a, b = diffKind(err1)+normEntry(e1), diffKind(err2)+normEntry(e2)
		case 18:
			o := opts()
			if r.Intn(2) == 0 {
				o = append(o, storage.FromRevision(int64(r.Intn(30))))
			}
			if r.Intn(2) == 0 {
				o = append(o, storage.Limit(r.Intn(4)))
			}
			if r.Intn(3) == 0 {
				o = append(o, storage.OmitValues())
			}
			h1, err1 := storage.Store(lib).(storage.Historian).History(lctx, k, o...)
			h2, err2 := wire.History(wctx, k, o...)
			a, b = diffKind(err1)+eventsStr(h1), diffKind(err2)+eventsStr(h2)
		case 19:
			o := opts()
			o = append(o, storage.Limit(1+r.Intn(2)))
			if r.Intn(2) == 0 {
				o = append(o, storage.MaxBytes(int64(1+r.Intn(40))))
			}
			var s1, s2 []string
			var c1, c2 string
			var err1, err2 error
			for page := 0; page < 6; page++ {
				po := o
				if c1 != "" {
					po = append(po, storage.After(c1))
				}
				var r1 storage.QueryResult
				r1, err1 = lo.Query(lctx, storage.All(), po...)
				po = o
				if c2 != "" {
					po = append(po, storage.After(c2))
				}
				r2, e := wo.Query(wctx, storage.All(), po...)
				err2 = e
				for _, e := range r1.Entries {
					s1 = append(s1, normEntry(e))
				}
				for _, e := range r2.Entries {
					s2 = append(s2, normEntry(e))
				}
				c1, c2 = r1.Cursor, r2.Cursor
				if err1 != nil || err2 != nil || c1 == "" || c2 == "" {
					break
				}
			}
			a, b = diffKind(err1)+strings.Join(s1, ";")+fmt.Sprint(c1 != ""), diffKind(err2)+strings.Join(s2, ";")+fmt.Sprint(c2 != "")
		}
		if op == 16 {
			if ltx == nil {
				to := storage.TxOptions{ReadOnly: r.Intn(4) == 0}
				if r.Intn(2) == 0 {
					to.Isolation = storage.LevelSerializable
				}
				var e1, e2 error
				ltx, e1 = lib.Begin(lctx, to)
				wtx, e2 = wire.Begin(wctx, to)
				a, b = diffKind(e1), diffKind(e2)
				if (ltx == nil) != (wtx == nil) {
					t.Fatalf("begin: %s / %s", a, b)
				}
			} else {
				var e1, e2 error
				if r.Intn(2) == 0 {
					e1, e2 = ltx.Commit(lctx), wtx.Commit(wctx)
				} else {
					e1, e2 = ltx.Rollback(lctx), wtx.Rollback(wctx)
				}
				a, b = diffKind(e1), diffKind(e2)
				ltx, wtx = nil, nil
			}
		}
		if a != b && !clientChecksFirst(a, b) {
			if len(a) > 600 {
				a = a[:600]
			}
			if len(b) > 600 {
				b = b[:600]
			}
			t.Errorf("step %d op %d key %q:\n lib:  %s\n wire: %s", i, op, k, a, b)
		}
	}
}

func watchAll(ctx context.Context, w storage.Watcher, upTo int64, o ...storage.Option) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var l []storage.Event
	for ev, err := range w.Watch(ctx, append(o, storage.FromRevision(1))...) {
		if err != nil {
			return "ERR " + diffKind(err) + eventsStr(l)
		}
		l = append(l, ev)
		if ev.Revision >= upTo {
			break
		}
	}
	return eventsStr(l)
}

// clientChecksFirst reports whether the answers a (in process) and b
// (over the wire) differ only as package client documents: it checks
// keys, values, metadata and filters before the server checks the
// principal's permissions and which options the operation takes (and a
// batch whose keys it refuses all sends none, so the server then checks
// only the call's options).
func clientChecksFirst(a, b string) bool {
	switch {
	case strings.Contains(b, "invalid key:"):
		return true
	case strings.HasPrefix(a, "storage: invalid option") && strings.Contains(a, "does not accept"):
		return true
	case strings.Contains(a, "permission denied"):
		return strings.Contains(b, "invalid filter") || strings.Contains(b, "invalid value") || strings.Contains(b, "invalid option")
	}
	return false
}

func nsList(l []storage.Namespace) string {
	var s []string
	for _, n := range l {
		s = append(s, fmt.Sprintf("%s %s %v %v", n.Name, n.Owner, n.Metadata, n.Indexes))
	}
	return strings.Join(s, ";")
}

func batchStr(r storage.BatchResult) string {
	var s []string
	for _, k := range r.Results {
		s = append(s, fmt.Sprintf("%s:%s:%d:%d", k.Key, diffKind(k.Err), k.Version, k.Revision))
	}
	return strings.Join(s, ",")
}

func getManyStr(r storage.GetManyResult) string {
	var s []string
	for k, e := range r.Entries {
		s = append(s, k+"="+normEntry(e))
	}
	for k, e := range r.Errors {
		s = append(s, k+"!"+diffKind(e))
	}
	sort.Strings(s)
	return strings.Join(s, ",") + fmt.Sprint(r.Unread)
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

func eventsStr(l []storage.Event) string {
	var s []string
	for _, e := range l {
		s = append(s, fmt.Sprintf("%s %s/%s %s %s r%d p%d v%d", e.Type, e.Namespace, e.Key, compactJSON(e.Value), compactJSON(e.Metadata), e.Revision, e.PrevRevision, e.Version))
	}
	return strings.Join(s, ";")
}
