package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/storetest"
)

// watchConfigs are the configurations of the watch tests: a file (watchers
// read on the reader pool while the writer writes) and PostgreSQL; the
// in-memory database shares one connection, which the model check covers
// too.
func watchConfigs() []testConfig { return configs }

func head(t testing.TB, s storage.Store) int64 {
	t.Helper()
	st, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Revision
}

// TestWatchModel: 8 writers against 4 watchers (one of which breaks off and
// resumes at random) rebuild the store from its events, on every
// configuration.
func TestWatchModel(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithWatchBuffer(64))
			t.Cleanup(func() { _ = s.Close() })
			storetest.WatchModel(t, s, storetest.WatchModelConfig{Duration: 2 * time.Second})
		})
	}
}

// next takes the next event of a pulled watch, failing after a while.
func next(t *testing.T, ch <-chan watchItem) storage.Event {
	t.Helper()
	select {
	case it := <-ch:
		if it.err != nil {
			t.Fatalf("watch: %v", it.err)
		}
		return it.ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return storage.Event{}
}

type watchItem struct {
	ev  storage.Event
	err error
}

// pull runs a watch on a goroutine and hands over what it yields.
func pull(ctx context.Context, w storage.Watcher, opts ...storage.Option) <-chan watchItem {
	ch := make(chan watchItem, 1024)
	go func() {
		defer close(ch)
		for ev, err := range w.Watch(ctx, opts...) {
			ch <- watchItem{ev, err}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

func TestWatchEvents(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r0 := head(t, s)
			all := pull(ctx, s, storage.FromRevision(r0))
			users := pull(ctx, s, storage.FromRevision(r0), storage.InNamespace("users"), storage.Pattern("u:*"))
			adults := pull(ctx, s, storage.FromRevision(r0), storage.InNamespace("users"), storage.Where(storage.Gte("age", 18)), storage.OmitValues())

			must(t, s.Set(ctx, "u:1", map[string]any{"age": 30}, storage.InNamespace("users")))
			must(t, s.Set(ctx, "u:2", map[string]any{"age": 10}, storage.InNamespace("users")))
			must(t, s.Set(ctx, "x", 1, storage.InNamespace("users")))
			must(t, s.SetMetadata(ctx, "u:1", map[string]any{"tag": "a"}, storage.InNamespace("users")))
			must(t, s.Set(ctx, "o", 1, storage.InNamespace("other")))
			must(t, s.Delete(ctx, "u:2", storage.InNamespace("users")))
			must(t, s.Clear(ctx, storage.InNamespace("users")))
			must(t, s.DeleteNamespace(ctx, "other", storage.Recursive()))

			var got []string
			prev := r0
			for {
				ev := next(t, all)
				if ev.Revision != prev+1 {
					t.Fatalf("revision %d after %d", ev.Revision, prev)
				}
				prev = ev.Revision
				got = append(got, fmt.Sprintf("%s %s/%s", ev.Type, ev.Namespace, ev.Key))
				if ev.Type == storage.EventNamespaceDelete {
					break
				}
			}
			want := []string{"namespace_create users/", "put users/u:1", "put users/u:2", "put users/x", "metadata users/u:1",
				"namespace_create other/", "put other/o", "delete users/u:2", "clear users/", "namespace_delete other/"}
			if !slices.Equal(got, want) {
				t.Fatalf("events:\n got %q\nwant %q", got, want)
			}

			// The namespace and pattern: users' u:* keys and its namespace events.
			var gotU []string
			for range 6 {
				ev := next(t, users)
				gotU = append(gotU, fmt.Sprintf("%s %s", ev.Type, ev.Key))
			}
			wantU := []string{"namespace_create ", "put u:1", "put u:2", "metadata u:1", "delete u:2", "clear "}
			if !slices.Equal(gotU, wantU) {
				t.Fatalf("users u:* events:\n got %q\nwant %q", gotU, wantU)
			}
			// The filter passes matching puts, and every other event.
			var gotA []string
			for range 5 {
				ev := next(t, adults)
				if ev.Value != nil || ev.Metadata != nil {
					t.Fatalf("OmitValues: %+v carries a value or metadata", ev)
				}
				gotA = append(gotA, fmt.Sprintf("%s %s", ev.Type, ev.Key))
			}
			wantA := []string{"namespace_create ", "put u:1", "metadata u:1", "delete u:2", "clear "}
			if !slices.Equal(gotA, wantA) {
				t.Fatalf("filtered events:\n got %q\nwant %q", gotA, wantA)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWatchValues: a put carries the value and metadata, its version and
// the key's previous revision.
func TestWatchValues(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			must(t, s.Set(ctx, "k", 1))
			// From now: the watch starts from the revision it reads when
			// its iteration starts; wait for that before writing (a sleep
			// of 100 ms was not always enough on a loaded machine, and the
			// write came before the watch's start: no event).
			started := make(chan struct{})
			ch := pull(ctx, s, storage.OnStart(func(int64) { close(started) }))
			<-started
			must(t, s.Set(ctx, "k", map[string]any{"a": []int{1, 2}}, storage.WithMetadata(map[string]any{"m": true})))
			ev := next(t, ch)
			if ev.Type != storage.EventPut || ev.Namespace != storage.DefaultNamespace || ev.Key != "k" || ev.Version != 2 ||
				!storetest.JSONEqual(ev.Value, []byte(`{"a":[1,2]}`)) || !storetest.JSONEqual(ev.Metadata, []byte(`{"m":true}`)) ||
				ev.PrevRevision == 0 || ev.PrevRevision >= ev.Revision || ev.At.IsZero() {
				t.Fatalf("event %+v", ev)
			}
			must(t, s.Delete(ctx, "k"))
			del := next(t, ch)
			if del.Type != storage.EventDelete || del.PrevRevision != ev.Revision || del.Value != nil {
				t.Fatalf("delete event %+v after %d", del, ev.Revision)
			}
		})
	}
}

// TestWatchExpire: the sweeper's removal of an expired key is an expire
// event.
func TestWatchExpire(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			must(t, s.Set(ctx, "k", 1, storage.WithTTL(time.Minute)))
			ch := pull(ctx, s, storage.FromRevision(head(t, s)))
			clock.Advance(2 * time.Minute)
			if _, err := s.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if ev := next(t, ch); ev.Type != storage.EventExpire || ev.Key != "k" {
				t.Fatalf("event %+v, want expire k", ev)
			}
		})
	}
}

// TestWatchTwoHandles: two stores opened separately on one database; a
// watcher on one sees the other's writes (on SQLite by polling).
func TestWatchTwoHandles(t *testing.T) {
	for _, c := range watchConfigs() {
		if c.name == "sqlite-memory" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dsn := c.dsn(t)
			a := openTest(t, dsn, WithWatchPollInterval(20*time.Millisecond))
			t.Cleanup(func() { _ = a.Close() })
			b := openTest(t, dsn)
			t.Cleanup(func() { _ = b.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ch := pull(ctx, a, storage.FromRevision(head(t, a)))
			for i := range 20 {
				must(t, b.Set(ctx, "k"+strconv.Itoa(i), i))
			}
			for i := range 20 {
				if ev := next(t, ch); ev.Key != "k"+strconv.Itoa(i) {
					t.Fatalf("event %d: %+v", i, ev)
				}
			}
		})
	}
}

var execCommand = exec.CommandContext

// TestWatchProcesses: a watcher in this process sees the writes of
// another process on the same SQLite file.
func TestWatchProcesses(t *testing.T) {
	if dsn := os.Getenv("SQLSTORE_WATCH_CHILD_DSN"); dsn != "" {
		s := openTest(t, dsn)
		defer s.Close()
		for i := range 10 {
			must(t, s.Set(t.Context(), "p"+strconv.Itoa(i), i))
		}
		return
	}
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	dsn := "sqlite:" + dir + "/w.db"
	s := openTest(t, dsn, WithWatchPollInterval(20*time.Millisecond))
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := pull(ctx, s, storage.FromRevision(head(t, s)))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := execCommand(ctx, exe, "-test.run=^TestWatchProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SQLSTORE_WATCH_CHILD_DSN="+dsn)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for i := range 10 {
		if ev := next(t, ch); ev.Type != storage.EventPut || ev.Key != "p"+strconv.Itoa(i) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
}

// TestWatchCompacted: a resume before the retained window is
// ErrCompacted with the oldest revision; a watch whose position compaction
// passed fails the same way; History and AtRevision too.
func TestWatchCompacted(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithRetention(Retention{Changes: 5}), WithSweepInterval(-1), WithSweepBatch(3))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			r0 := head(t, s)
			for i := range 20 {
				must(t, s.Set(ctx, "k", i))
			}
			h := head(t, s)
			n, err := s.Compact(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.OldestRevision != h-4 {
				t.Fatalf("after compacting %d changes: oldest %d, want %d (head %d)", n, st.OldestRevision, h-4, h)
			}
			for ev, err := range s.Watch(ctx, storage.FromRevision(r0)) {
				var ce *storage.CompactedError
				if !errors.Is(err, storage.ErrCompacted) || !errors.As(err, &ce) || ce.Oldest != h-4 || ce.Requested != r0 {
					t.Fatalf("watch from %d: %+v, %v; want ErrCompacted, oldest %d", r0, ev, err, h-4)
				}
				break
			}
			// From the oldest on, it works.
			wctx, cancel := context.WithCancel(ctx)
			ch := pull(wctx, s, storage.FromRevision(h-5))
			for r := h - 4; r <= h; r++ {
				if ev := next(t, ch); ev.Revision != r {
					t.Fatalf("event %+v, want revision %d", ev, r)
				}
			}
			cancel()
			if _, err := s.History(ctx, "k", storage.FromRevision(r0)); !errors.Is(err, storage.ErrCompacted) {
				t.Fatalf("History from %d: %v, want ErrCompacted", r0, err)
			}
			evs, err := s.History(ctx, "k")
			if err != nil || len(evs) != 5 || evs[0].Revision != h-4 {
				t.Fatalf("History: %d events (%v), want the 5 retained", len(evs), err)
			}
			if _, err := s.Get(ctx, "k", storage.AtRevision(r0+3)); !errors.Is(err, storage.ErrCompacted) {
				t.Fatalf("Get at %d: %v, want ErrCompacted", r0+3, err)
			}
			e, err := s.Get(ctx, "k", storage.AtRevision(h-2))
			if err != nil || string(e.Value) != "17" {
				t.Fatalf("Get at %d: %s, %v; want 17", h-2, e.Value, err)
			}

			// A watch behind the window when compaction passes it.
			lag := openTest(t, c.dsn(t), WithRetention(Retention{Changes: 2}), WithSweepInterval(-1))
			t.Cleanup(func() { _ = lag.Close() })
			from := head(t, lag)
			for i := range 10 {
				must(t, lag.Set(ctx, "k", i))
			}
			if _, err := lag.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			for _, err := range lag.Watch(ctx, storage.FromRevision(from)) {
				if !errors.Is(err, storage.ErrCompacted) {
					t.Fatalf("watch from %d after compaction: %v", from, err)
				}
				break
			}
		})
	}
}

// TestWatchFromZero: FromRevision(0) is every retained change (storage's
// doc), on a new store, whose log starts after the revisions given before
// it existed, and after compaction: a watch from 0 starts at the oldest
// retained change and History from 0 returns what History without
// FromRevision does, never ErrCompacted.
func TestWatchFromZero(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithRetention(Retention{Changes: 2}), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			check := func(when string, want ...int64) {
				t.Helper()
				started := int64(-1)
				wctx, cancel := context.WithCancel(ctx)
				defer cancel()
				ch := pull(wctx, s, storage.FromRevision(0), storage.OnStart(func(r int64) { started = r }))
				for _, r := range want {
					if ev := next(t, ch); ev.Revision != r {
						t.Fatalf("%s: watch from 0: event %+v, want revision %d", when, ev, r)
					}
				}
				if started != want[0]-1 {
					t.Errorf("%s: watch from 0 started at %d, want %d", when, started, want[0]-1)
				}
				evs, err := s.History(ctx, "k", storage.FromRevision(0))
				if err != nil || len(evs) != len(want) || evs[0].Revision != want[0] {
					t.Fatalf("%s: History from 0: %+v, %v; want revisions %v", when, evs, err, want)
				}
			}
			var revs []int64
			for i := range 3 {
				var w storage.WriteResult
				must(t, s.Set(ctx, "k", i, storage.Written(&w)))
				revs = append(revs, w.Revision)
			}
			check("new store", revs...)
			if _, err := s.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			check("compacted", revs[1:]...)
		})
	}
}

// TestWatchLagged: a consumer that does not keep up is cut off with
// ErrWatchLagged naming its last revision, and resumes from it with no
// gap; the writers never waited.
func TestWatchLagged(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			cut := make(chan struct{}, 1)
			s := openTest(t, c.dsn(t), WithWatchBuffer(4), withWatchPatience(50*time.Millisecond),
				withWatchLagged(func() {
					select {
					case cut <- struct{}{}:
					default:
					}
				}))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			r0 := head(t, s)
			must(t, s.Set(ctx, "first", 0))
			var lagged *storage.LaggedError
			last := r0
			n := 0
			// Bounded: a watch never cut off would wait for more events.
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			for ev, err := range s.Watch(wctx, storage.FromRevision(r0)) {
				if err != nil {
					if !errors.As(err, &lagged) || !errors.Is(err, storage.ErrWatchLagged) {
						t.Fatalf("watch: %v, want ErrWatchLagged", err)
					}
					break
				}
				last = ev.Revision
				n++
				if n == 1 {
					// Stall: the writers go on meanwhile.
					start := time.Now()
					for i := range 50 {
						must(t, s.Set(ctx, "k"+strconv.Itoa(i), i))
					}
					if d := time.Since(start); d > 10*time.Second {
						t.Fatalf("50 writes took %v behind a stalled watcher", d)
					}
					// Until the watch has read the log and given up on
					// us: a fixed sleep let a watch starved of CPU read
					// after the stall and never cut off (a hang).
					select {
					case <-cut:
					case <-time.After(30 * time.Second):
						t.Fatalf("a consumer stalled 30 s behind 50 events was not cut off")
					}
				}
			}
			if lagged == nil || lagged.Last != last || n > 5 {
				t.Fatalf("got %d events then %v; want at most the buffer, then lagged at %d", n, lagged, last)
			}
			h := head(t, s)
			ch := pull(ctx, s, storage.FromRevision(lagged.Last))
			for r := last + 1; r <= h; r++ {
				if ev := next(t, ch); ev.Revision != r {
					t.Fatalf("resumed: %+v, want revision %d", ev, r)
				}
			}
		})
	}
}

// TestWatchOnStart: OnStart says where a watch starts, before any event,
// and is not called for a watch that fails to start.
func TestWatchOnStart(t *testing.T) {
	s := openTest(t, "sqlite::memory:", WithRetention(Retention{Changes: 1}), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	for i := range 3 {
		must(t, s.Set(ctx, "k", i))
	}
	h := head(t, s)
	for name, c := range map[string]struct {
		from int64 // -1: from now
		want int64
		err  error
	}{
		"now": {-1, h, nil}, "from": {h - 1, h - 1, nil}, "compacted": {1, 0, storage.ErrCompacted},
	} {
		var got int64 = -1
		opts := []storage.Option{storage.OnStart(func(r int64) { got = r })}
		if c.from >= 0 {
			opts = append(opts, storage.FromRevision(c.from))
		}
		if c.err != nil {
			if _, err := s.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		for _, err := range s.Watch(wctx, opts...) {
			if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
				t.Fatalf("%s: %v, want %v", name, err, c.err)
			}
			break
		}
		cancel()
		if c.err != nil && got != -1 || c.err == nil && got != c.want {
			t.Errorf("%s: OnStart(%d), want %d", name, got, c.want)
		}
	}
}

// TestWatchOptions: the options a watch refuses.
func TestWatchOptions(t *testing.T) {
	s := openTest(t, "sqlite::memory:")
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	h := head(t, s)
	for name, opts := range map[string][]storage.Option{
		"AtRevision":  {storage.AtRevision(1)},
		"ahead":       {storage.FromRevision(h + 1)},
		"Limit":       {storage.Limit(3)},
		"bad pattern": {storage.Pattern(`a\`)},
	} {
		for _, err := range s.Watch(ctx, opts...) {
			if !errors.Is(err, storage.ErrInvalidOption) {
				t.Errorf("%s: %v, want ErrInvalidOption", name, err)
			}
			break
		}
	}
}

// TestHistory: a key's changes in order, paged with FromRevision and
// Limit; Get at past revisions.
func TestHistory(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			ns := storage.InNamespace("h")
			must(t, s.Set(ctx, "k", 1, ns))
			r1 := head(t, s)
			must(t, s.Set(ctx, "other", 1, ns))
			must(t, s.Set(ctx, "k", 2, ns))
			r2 := head(t, s)
			must(t, s.SetMetadata(ctx, "k", map[string]any{"m": 1}, ns))
			r3 := head(t, s)
			must(t, s.Delete(ctx, "k", ns))
			r4 := head(t, s)
			must(t, s.Set(ctx, "k", 3, ns))
			r5 := head(t, s)
			must(t, s.Clear(ctx, ns))
			r6 := head(t, s)

			evs, err := s.History(ctx, "k", ns)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range evs {
				got = append(got, fmt.Sprintf("%s@%d", ev.Type, ev.Revision))
			}
			want := []string{"put@" + strconv.FormatInt(r1, 10), "put@" + strconv.FormatInt(r2, 10), "metadata@" + strconv.FormatInt(r3, 10),
				"delete@" + strconv.FormatInt(r4, 10), "put@" + strconv.FormatInt(r5, 10)}
			if !slices.Equal(got, want) {
				t.Fatalf("History = %q, want %q", got, want)
			}
			page, err := s.History(ctx, "k", ns, storage.FromRevision(r1), storage.Limit(2))
			if err != nil || len(page) != 2 || page[0].Revision != r2 || page[1].Revision != r3 {
				t.Fatalf("page after %d: %+v, %v", r1, page, err)
			}
			if evs, err := s.History(ctx, "none", ns); err != nil || len(evs) != 0 {
				t.Fatalf("History of a key never written: %v, %v", evs, err)
			}

			type state struct {
				value, md string
				version   int64
			}
			for r, w := range map[int64]*state{
				r1 - 1: nil, r1: {"1", "{}", 1}, r1 + 1: {"1", "{}", 1}, r2: {"2", "{}", 2}, r3: {"2", `{"m":1}`, 3},
				r4: nil, r5: {"3", "{}", 1}, r6: nil,
			} {
				e, err := s.Get(ctx, "k", ns, storage.AtRevision(r))
				switch {
				case w == nil && errors.Is(err, storage.ErrNotFound):
				case w == nil || err != nil:
					t.Errorf("Get at %d: %+v, %v; want %v", r, e, err, w)
				case !storetest.JSONEqual(e.Value, []byte(w.value)) || !storetest.JSONEqual(e.Metadata, []byte(w.md)) || e.Version != w.version:
					t.Errorf("Get at %d: %s %s v%d; want %+v", r, e.Value, e.Metadata, e.Version, *w)
				}
			}
			if _, err := s.Get(ctx, "k", ns, storage.AtRevision(r6+1)); !errors.Is(err, storage.ErrInvalidOption) {
				t.Errorf("Get ahead of the store: %v, want ErrInvalidOption", err)
			}
		})
	}
}

// TestWatchLatency logs the latency from a write's call to its event,
// p50 and p99, on each configuration (WATCH_LATENCY_N writes, default
// 200): written by the watcher's own store (woken at once), and by a
// second store on the same database (another process's writes: on
// PostgreSQL woken by NOTIFY, on SQLite found by the poller, every
// DefaultWatchPollInterval).
func TestWatchLatency(t *testing.T) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("WATCH_LATENCY_N")); err == nil && v > 0 {
		n = v
	}
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			dsn := c.dsn(t)
			s := openTest(t, dsn)
			t.Cleanup(func() { _ = s.Close() })
			writers := map[string]*Store{"same store": s}
			if c.name != "sqlite-memory" {
				other := openTest(t, dsn)
				t.Cleanup(func() { _ = other.Close() })
				writers["other store"] = other
			}
			for _, name := range []string{"same store", "other store"} {
				w := writers[name]
				if w == nil {
					continue
				}
				n := n
				if name == "other store" && c.name != "postgres" {
					n = min(n, 40) // polled: each write waits up to an interval
				}
				ctx, cancel := context.WithCancel(t.Context())
				ch := pull(ctx, s, storage.FromRevision(head(t, s)))
				lat := make([]time.Duration, 0, n)
				for i := range n {
					start := time.Now()
					must(t, w.Set(ctx, "k", i))
					next(t, ch)
					lat = append(lat, time.Since(start))
				}
				cancel()
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				t.Logf("%s, written by the %s: watch latency over %d writes: p50 %v, p99 %v, max %v",
					c.name, name, n, lat[n/2], lat[n*99/100], lat[n-1])
			}
		})
	}
}

// TestWatchNotify: on PostgreSQL another store's writes reach a watcher
// through LISTEN/NOTIFY, well before its poller (set to a minute) would
// find them; with WithWatchPollingOnly they wait for the poller.
func TestWatchNotify(t *testing.T) {
	for _, c := range watchConfigs() {
		if c.name != "postgres" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dsn := c.dsn(t)
			listening := openTest(t, dsn, WithWatchPollInterval(time.Minute))
			t.Cleanup(func() { _ = listening.Close() })
			polling := openTest(t, dsn, WithWatchPollInterval(time.Minute), WithWatchPollingOnly())
			t.Cleanup(func() { _ = polling.Close() })
			writer := openTest(t, dsn)
			t.Cleanup(func() { _ = writer.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			from := storage.FromRevision(head(t, writer))
			heard, deaf := pull(ctx, listening, from), pull(ctx, polling, from)
			time.Sleep(200 * time.Millisecond) // the LISTEN connection is up
			must(t, writer.Set(ctx, "k", 1))
			if ev := next(t, heard); ev.Key != "k" {
				t.Fatalf("event %+v", ev)
			}
			select {
			case it := <-deaf:
				t.Fatalf("a store that only polls (every minute) got %+v at once", it)
			case <-time.After(300 * time.Millisecond):
			}
		})
	}
}

// TestWatchLaggedBytes: a consumer that stalls on large values is cut off
// with ErrWatchLagged once the events waiting for it pass
// WithWatchBufferBytes, though far fewer than WithWatchBuffer; one that
// keeps up gets every event, each larger than a tenth of the bound.
func TestWatchLaggedBytes(t *testing.T) {
	const size = 100 << 10
	big := strings.Repeat("x", size)
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			cut := make(chan struct{}, 1)
			s := openTest(t, c.dsn(t), WithWatchBuffer(1024), WithWatchBufferBytes(1<<20), withWatchPatience(100*time.Millisecond),
				withWatchLagged(func() {
					select {
					case cut <- struct{}{}:
					default:
					}
				}))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			r0 := head(t, s)
			for i := range 40 {
				must(t, s.Set(ctx, "k"+strconv.Itoa(i), big))
			}
			n := 0
			var lagged *storage.LaggedError
			sctx, scancel := context.WithTimeout(ctx, time.Minute)
			defer scancel()
			for _, err := range s.Watch(sctx, storage.FromRevision(r0)) {
				if err != nil {
					if !errors.As(err, &lagged) {
						t.Fatalf("watch: %v, want ErrWatchLagged", err)
					}
					break
				}
				n++
				if n == 1 {
					// Stall until the watch gives up on us (see TestWatchLagged).
					select {
					case <-cut:
					case <-time.After(30 * time.Second):
						t.Fatalf("a consumer stalled 30 s behind 40 events of 100 KiB was not cut off")
					}
				}
			}
			// At most the bound's worth (about 10 events) and one read of
			// the log beyond it.
			if lagged == nil || n > 20 {
				t.Fatalf("stalled consumer: %d events, then %v; want lagged within the byte bound", n, lagged)
			}
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			n = 0
			for ev, err := range s.Watch(wctx, storage.FromRevision(r0)) {
				if err != nil {
					t.Fatalf("steady consumer: %v after %d events", err, n)
				}
				if len(ev.Value) < size {
					t.Fatalf("event %d: value of %d bytes", n, len(ev.Value))
				}
				if n++; n == 40 {
					break
				}
			}
		})
	}
}

// TestWatchReadsPaced: every write wakes every watch of the store, and
// each woken watch read the log, so a few idle watches (one principal's,
// over the wire) multiplied every writer's work by their number: with 16
// watches of other namespaces, or of the whole store, PostgreSQL's write
// throughput fell to 0.1-0.4 of what it was. A watch now reads at most
// once per WithWatchReadInterval while writes keep waking it, and still
// gets every event.
func TestWatchReadsPaced(t *testing.T) {
	const (
		watchers = 16
		gap      = 20 * time.Millisecond
	)
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithWatchReadInterval(gap))
			t.Cleanup(func() { _ = s.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r0 := head(t, s)
			chs := make([]<-chan watchItem, watchers)
			for i := range chs {
				var opts []storage.Option
				if i%2 == 0 {
					opts = append(opts, storage.InNamespace("w"+strconv.Itoa(i)))
				}
				chs[i] = pull(ctx, s, append(opts, storage.FromRevision(r0))...)
			}
			time.Sleep(100 * time.Millisecond) // the watches start
			before := s.feed.reads.Load()
			start := time.Now()
			writes := 0
			// A steady stream, fewer than the watches buffer (pull).
			for ; time.Since(start) < time.Second && writes < 900; writes++ {
				must(t, s.Set(ctx, "k"+strconv.Itoa(writes%50), writes, storage.InNamespace("b")))
				time.Sleep(time.Millisecond)
			}
			took := time.Since(start)
			// Every write reaches the watches of the whole store.
			for i := 1; i < watchers; i += 2 {
				for j := range writes {
					if ev := next(t, chs[i]); ev.Revision != r0+int64(j)+1 {
						t.Fatalf("watch %d: event %d at revision %d, want %d", i, j, ev.Revision, r0+int64(j)+1)
					}
				}
			}
			reads := s.feed.reads.Load() - before
			// At most one read per gap per watch while the writes ran,
			// one more to start, and a few to catch up after.
			most := int64(watchers) * (int64(took/gap) + 8)
			t.Logf("%d writes in %v, %d watches: %d reads of the log (at most %d)", writes, took.Round(time.Millisecond), watchers, reads, most)
			if reads > most {
				t.Fatalf("%d watches read the log %d times during %d writes in %v, want at most %d (one per %v each)",
					watchers, reads, writes, took, most, gap)
			}
		})
	}
}

// TestWatchScope: a watch given driver.WatchScopeOption (the security
// layer's namespaces a caller may read) reads only the changes of those
// namespaces (names and ranges of names), and asks again at each read,
// so a widened scope reaches the running watch; the rest of the store's
// changes are never read for it.
func TestWatchScope(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var wide atomic.Bool
			scope := driver.WatchScopeOption(func() ([]driver.KeyRange, bool) {
				if wide.Load() {
					return nil, true
				}
				return []driver.KeyRange{{From: "a", To: "a\x00"}, storage.PrefixRange("p")}, false
			})
			none := driver.WatchScopeOption(func() ([]driver.KeyRange, bool) { return nil, false })
			r0 := head(t, s)
			ch := pull(ctx, s, storage.FromRevision(r0), scope)
			empty := pull(ctx, s, storage.FromRevision(r0), none)
			time.Sleep(50 * time.Millisecond)
			before := s.feed.events.Load()
			for i := range 50 {
				for _, ns := range []string{"a", "a0", "b", "o", "p1", "pz", "q"} {
					must(t, s.Set(ctx, "k"+strconv.Itoa(i), i, storage.InNamespace(ns)))
				}
			}
			var got []string
			for len(got) < 3*51 {
				ev := next(t, ch)
				if ev.Key == "k0" || ev.Key == "" {
					got = append(got, ev.Namespace+"/"+ev.Key)
				} else {
					got = append(got, ev.Namespace)
				}
			}
			if got[0] != "a/" || got[1] != "a/k0" || got[2] != "p1/" || got[3] != "p1/k0" || got[4] != "pz/" || got[5] != "pz/k0" {
				t.Fatalf("scoped watch: first events %q", got[:6])
			}
			for _, ns := range got[6:] {
				if ns != "a" && ns != "p1" && ns != "pz" {
					t.Fatalf("scoped watch: an event of %q", ns)
				}
			}
			wide.Store(true)
			must(t, s.Set(ctx, "after", 1, storage.InNamespace("b")))
			for {
				ev := next(t, ch)
				if ev.Namespace == "b" {
					if ev.Key != "after" {
						t.Fatalf("widened watch: %+v, want b/after", ev)
					}
					break
				}
			}
			select {
			case it := <-empty:
				t.Fatalf("a watch of no namespace got %+v", it)
			default:
			}
			read := s.feed.events.Load() - before
			t.Logf("%d writes, 153 of them in the scope: the watches read %d changes", 7*50, read)
			if want := int64(3*51 + 1); read > want+5 {
				t.Fatalf("the watches read %d changes, want about %d", read, want)
			}
		})
	}
}

// TestWatchIdleNamespace: every write woke every watch of the store, so
// idle watches of one namespace read the log (up to 100 times a second
// each) while the writes went to others. A watch of one namespace is now
// woken only by the writes of its namespace (this store's at once, the
// others' through the scanner: PostgreSQL's notifications, the poller):
// idle watches of "a" read next to nothing while "b" is written, still get
// a's changes from this store and from another, and a compaction of the
// changes they skipped (by another store, which this one's records say
// nothing of) does not cut them off.
func TestWatchIdleNamespace(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			checkIdleWatches(t, c, []storage.Option{storage.InNamespace("a")}, "b", "a", "a")
		})
	}
}

// checkIdleWatches runs 8 watches (watch) of namespaces that hold mine and
// theirs but not busy, idle while busy is written 300 times: they read the
// log at most twice each; another store's compaction (which this store's
// records say nothing of) does not cut them off; then they get a write to
// mine from this store and (but on sqlite-memory) one to theirs from
// another.
func checkIdleWatches(t *testing.T, c testConfig, watch []storage.Option, busy, mine, theirs string) {
	t.Helper()
	const watchers = 8
	dsn := c.dsn(t)
	s := openTest(t, dsn, WithRetention(Retention{Changes: 10}))
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for _, ns := range []string{mine, theirs, busy} {
		must(t, s.Set(ctx, "k", 0, storage.InNamespace(ns)))
	}
	chs := make([]<-chan watchItem, watchers)
	for i := range chs {
		chs[i] = pull(ctx, s, append(slices.Clone(watch), storage.FromRevision(head(t, s)))...)
	}
	time.Sleep(300 * time.Millisecond) // the watches start, the scanner's first scan
	before := s.feed.reads.Load()
	start := time.Now()
	const writes = 300
	for i := range writes {
		must(t, s.Set(ctx, "k"+strconv.Itoa(i%20), i, storage.InNamespace(busy)))
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	time.Sleep(300 * time.Millisecond) // the scanner's last scans
	reads := s.feed.reads.Load() - before
	t.Logf("%d writes to %s in %v (%.0f/s): %d idle watches read the log %d times (%.1f/s per watch)", writes, busy,
		took.Round(time.Millisecond), writes/took.Seconds(), watchers, reads, float64(reads)/took.Seconds()/watchers)
	if reads > 2*watchers {
		t.Fatalf("%d idle watches read the log %d times during %d writes to %s, want at most %d", watchers, reads, writes, busy, 2*watchers)
	}
	// Another store's compaction: the scans moved the watches past the
	// changes of busy.
	other := s
	if c.name != "sqlite-memory" {
		other = openTest(t, dsn, WithRetention(Retention{Changes: 10}))
		t.Cleanup(func() { _ = other.Close() })
	}
	if _, err := other.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, s.Set(ctx, "mine", 1, storage.InNamespace(mine)))
	for i, ch := range chs {
		if ev := next(t, ch); ev.Key != "mine" {
			t.Fatalf("watch %d: %+v, want %s/mine", i, ev, mine)
		}
	}
	if other == s {
		return
	}
	must(t, other.Set(ctx, "theirs", 1, storage.InNamespace(theirs)))
	for i, ch := range chs {
		if ev := next(t, ch); ev.Key != "theirs" {
			t.Fatalf("watch %d: %+v, want %s/theirs from another store", i, ev, theirs)
		}
	}
}

// TestWatchIdleScope: a watch of several namespaces (driver.WatchScopeOption,
// as the security layer gives every principal's watch) was woken by every
// write of the store, and read the log (narrowed to its scope, still a
// query) 155-197 times a second while the writes went to other
// namespaces: one principal's writes made every other's watch query the
// log. It is now woken only by the writes of its namespaces: idle watches
// of a and b… read next to nothing while c is written, still get the
// changes of their namespaces from this store and from another, and a
// compaction of the changes they skipped (by another store) does not cut
// them off.
func TestWatchIdleScope(t *testing.T) {
	scope := driver.WatchScopeOption(func() ([]driver.KeyRange, bool) {
		return []driver.KeyRange{{From: "a", To: "a\x00"}, storage.PrefixRange("b")}, false
	})
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			checkIdleWatches(t, c, []storage.Option{scope}, "c", "b1", "a")
		})
	}
}

// TestWatchScopesMissNothing: watches of scopes, woken only by the writes
// of their namespaces (and the scanner's), get every change of those
// namespaces in order, no more and no less, while writers write many
// namespaces at once: single writes, batches, transactions of several
// namespaces (some rolled back), clears of one namespace and of the whole
// store, namespaces created and deleted, and another store's writes (the
// poller's or PostgreSQL's notifications' wake-ups). A watch of the whole
// store, woken by every write, is the reference.
func TestWatchScopesMissNothing(t *testing.T) {
	scopes := [][]driver.KeyRange{
		{{From: "n00", To: "n00\x00"}},
		{{From: "n01", To: "n01\x00"}, {From: "n02", To: "n02\x00"}},
		{storage.PrefixRange("n1")},
		{{From: "n03", To: "n07"}},
		{{From: "n05", To: "n05\x00"}, {From: "n13", To: "n13\x00"}},
		{{From: "n08"}},
		{},
	}
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			dsn := c.dsn(t)
			s := openTest(t, dsn)
			t.Cleanup(func() { _ = s.Close() })
			other := s
			if c.name != "sqlite-memory" {
				other = openTest(t, dsn)
				t.Cleanup(func() { _ = other.Close() })
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r0 := head(t, s)
			type got struct {
				mu  sync.Mutex
				evs []storage.Event
				err error
			}
			collect := func(opts ...storage.Option) *got {
				g := &got{}
				go func() {
					for ev, err := range s.Watch(ctx, append(opts, storage.FromRevision(r0))...) {
						g.mu.Lock()
						g.evs, g.err = append(g.evs, ev), err
						g.mu.Unlock()
						if err != nil {
							return
						}
					}
				}()
				return g
			}
			all := collect()
			gots := make([]*got, len(scopes))
			for i, rs := range scopes {
				gots[i] = collect(driver.WatchScopeOption(func() ([]driver.KeyRange, bool) { return rs, false }))
			}
			time.Sleep(200 * time.Millisecond) // the watches start
			ns := func(r *rand.Rand) string { return fmt.Sprintf("n%02d", r.IntN(16)) }
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(w), 1))
					st := s
					if w == 3 {
						st = other
					}
					for i := 0; i < 60 && ctx.Err() == nil; i++ {
						var err error
						switch k := r.IntN(20); {
						case k < 10:
							err = st.Set(ctx, "k"+strconv.Itoa(r.IntN(5)), i, storage.InNamespace(ns(r)))
						case k < 12:
							_, err = st.SetMany(ctx, []storage.Item{{Key: "m1", Value: i}, {Key: "m2", Value: i}}, storage.InNamespace(ns(r)))
						case k < 16:
							var tx storage.Tx
							if tx, err = st.Begin(ctx, storage.TxOptions{}); err != nil {
								break
							}
							for range 3 {
								if err = tx.Set(ctx, "t"+strconv.Itoa(w), i, storage.InNamespace(ns(r))); err != nil {
									break
								}
							}
							if err == nil && k == 15 {
								err = tx.Rollback(ctx)
							} else if err == nil {
								err = tx.Commit(ctx)
							} else {
								_ = tx.Rollback(ctx)
							}
						case k < 18:
							err = st.Clear(ctx, storage.InNamespace(ns(r)))
						case k < 19:
							n := ns(r)
							if err = st.DeleteNamespace(ctx, n, storage.Recursive()); errors.Is(err, storage.ErrNamespaceNotFound) {
								err = st.CreateNamespace(ctx, n)
							}
						default:
							if w == 0 && i == 30 {
								err = st.Clear(ctx)
							}
						}
						if err != nil && !errors.Is(err, storage.ErrNamespaceExists) && !errors.Is(err, storage.ErrNamespaceNotFound) &&
							!errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrTxConflict) {
							t.Errorf("writer %d: %v", w, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			h := head(t, s)
			// Every watch has caught up with the reference, filtered.
			events := func(g *got) ([]storage.Event, error) {
				g.mu.Lock()
				defer g.mu.Unlock()
				return slices.Clone(g.evs), g.err
			}
			deadline := time.Now().Add(20 * time.Second)
			var ref []storage.Event
			for {
				evs, err := events(all)
				if err != nil {
					t.Fatalf("whole-store watch: %v", err)
				}
				if len(evs) > 0 && evs[len(evs)-1].Revision >= h {
					ref = evs
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("whole-store watch: %d events, not at revision %d", len(evs), h)
				}
				time.Sleep(10 * time.Millisecond)
			}
			for i, rs := range scopes {
				var want []int64
				for _, ev := range ref {
					if inRanges(rs, ev.Namespace) {
						want = append(want, ev.Revision)
					}
				}
				var have []int64
				for {
					evs, err := events(gots[i])
					if err != nil {
						t.Fatalf("watch %d (%q): %v", i, rs, err)
					}
					have = have[:0]
					for _, ev := range evs {
						have = append(have, ev.Revision)
					}
					if len(have) >= len(want) || time.Now().After(deadline) {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if !slices.Equal(have, want) {
					t.Fatalf("watch %d (%q): %d events %v, want %d %v", i, rs, len(have), have, len(want), want)
				}
			}
			t.Logf("%d changes; the scoped watches got %d of them each at most", len(ref), func() int {
				n := 0
				for _, g := range gots {
					evs, _ := events(g)
					n = max(n, len(evs))
				}
				return n
			}())
		})
	}
}

// TestWatchScopeWakes: this store's writes wake a watch of a scope at once,
// whatever writes them: a write of one namespace, a transaction of several
// (its commit), a namespace created or deleted, a clear of one namespace or
// of the whole store. The poller, which would find them too, is held off.
func TestWatchScopeWakes(t *testing.T) {
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithWatchPollInterval(time.Hour), WithWatchPollingOnly())
			t.Cleanup(func() { _ = s.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			must(t, s.Set(ctx, "k", 0, storage.InNamespace("c")))
			ch := pull(ctx, s, storage.FromRevision(head(t, s)), driver.WatchScopeOption(func() ([]driver.KeyRange, bool) {
				return []driver.KeyRange{{From: "a", To: "a\x00"}, storage.PrefixRange("b")}, false
			}))
			time.Sleep(100 * time.Millisecond) // the watch starts
			want := func(typ storage.EventType, ns, key string) {
				t.Helper()
				if ev := next(t, ch); ev.Type != typ || ev.Namespace != ns || ev.Key != key {
					t.Fatalf("event %s %s/%s, want %s %s/%s", ev.Type, ev.Namespace, ev.Key, typ, ns, key)
				}
			}
			must(t, s.Set(ctx, "k", 1, storage.InNamespace("a")))
			want(storage.EventNamespaceCreate, "a", "")
			want(storage.EventPut, "a", "k")
			tx, err := s.Begin(ctx, storage.TxOptions{})
			must(t, err)
			must(t, tx.Set(ctx, "k", 2, storage.InNamespace("c")))
			must(t, tx.Set(ctx, "k", 2, storage.InNamespace("b1")))
			must(t, tx.Commit(ctx))
			want(storage.EventNamespaceCreate, "b1", "")
			want(storage.EventPut, "b1", "k")
			must(t, s.CreateNamespace(ctx, "b2"))
			want(storage.EventNamespaceCreate, "b2", "")
			must(t, s.DeleteNamespace(ctx, "b2"))
			want(storage.EventNamespaceDelete, "b2", "")
			must(t, s.Clear(ctx, storage.InNamespace("a")))
			want(storage.EventClear, "a", "")
			must(t, s.Set(ctx, "k", 3, storage.InNamespace("a")))
			want(storage.EventPut, "a", "k")
			must(t, s.Clear(ctx))
			want(storage.EventClear, "a", "")
			want(storage.EventClear, "b1", "")
		})
	}
}
