package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/txmanager"
)

// SoakConfig is a long mixed run on a SQLite file (Soak).
type SoakConfig struct {
	Dir       string        // where the database file goes
	Duration  time.Duration // how long the load runs
	Every     time.Duration // how often a sample is taken (default 1 minute)
	Keys      int           // distinct keys written (default 100,000)
	ValueSize int           // bytes of each value (default 1 KiB)
	Writers   int           // goroutines writing: single writes, batches, transactions (default 4)
	Readers   int           // goroutines reading: gets, lists, batches of gets (default 4)
	// Snapshot is how long the snapshot holder keeps each read-only
	// transaction (a WAL snapshot) open before it starts another
	// (default 5 s).
	Snapshot time.Duration
	// Retention is the change log's window (sqlstore.WithRetention); the
	// zero value is sqlstore.DefaultRetention.
	Retention sqlstore.Retention
}

// SoakSample is one sample of a soak run.
type SoakSample struct {
	At         time.Duration // since the start
	WALBytes   int64         // size of the -wal file
	DBBytes    int64         // size of the database file
	RSSBytes   int64         // the process's resident set (Linux; 0 elsewhere)
	Writes     int64         // writes in the interval
	Reads      int64         // reads in the interval
	WriteP99   time.Duration // p99 write latency in the interval
	ReadP99    time.Duration // p99 read latency in the interval
	Errors     int64         // failed operations in the interval
	LastError  string        // the last of them
	Entries    int64         // Status().Size
	LogChanges int64         // changes in the change log: Status().Revision - OldestRevision + 1
	Goroutines int
}

// latencies collects operation durations between samples.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// take returns the count and the p99 since the last take.
func (l *latencies) take() (int64, time.Duration) {
	l.mu.Lock()
	d := l.d
	l.d = nil
	l.mu.Unlock()
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	return int64(len(d)), d[len(d)*99/100]
}

// Soak runs mixed load on a fresh SQLite file for cfg.Duration, with a
// reader that keeps WAL snapshots open, and calls sample every cfg.Every:
// the WAL, database and RSS sizes and p99 latencies should stay flat.
func Soak(ctx context.Context, cfg SoakConfig, sample func(SoakSample)) error {
	if cfg.Every <= 0 {
		cfg.Every = time.Minute
	}
	if cfg.Keys <= 0 {
		cfg.Keys = 100_000
	}
	if cfg.ValueSize <= 0 {
		cfg.ValueSize = 1024
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 4
	}
	if cfg.Readers <= 0 {
		cfg.Readers = 4
	}
	if cfg.Snapshot <= 0 {
		cfg.Snapshot = 5 * time.Second
	}
	dir, err := os.MkdirTemp(cfg.Dir, "storebench-soak-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "soak.db")
	var opts []sqlstore.Option
	if cfg.Retention != (sqlstore.Retention{}) {
		opts = append(opts, sqlstore.WithRetention(cfg.Retention))
	}
	s, err := sqlstore.Open(ctx, "sqlite:"+path, opts...)
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wl, rl latencies
	var errs atomic.Int64
	var lastErr atomic.Value
	fail := func(err error) {
		if err != nil && ctx.Err() == nil {
			errs.Add(1)
			lastErr.Store(err.Error())
		}
	}
	value := func(i int) any { return Value(i, cfg.ValueSize) }
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k := rand.IntN(cfg.Keys)
				t0 := time.Now()
				var err error
				switch (i + w) % 4 {
				case 0, 1:
					err = s.Set(ctx, Key(k), value(k))
				case 2:
					items := make([]storage.Item, 10)
					for j := range items {
						items[j] = storage.Item{Key: Key((k + j) % cfg.Keys), Value: value(k + j)}
					}
					var res storage.BatchResult
					if res, err = s.SetMany(ctx, items); err == nil {
						err = res.Err()
					}
				case 3:
					err = txmanager.RunInTx(ctx, s, storage.TxOptions{}, func(tx storage.Tx) error {
						if err := tx.Set(ctx, Key(k), value(k)); err != nil {
							return err
						}
						return tx.Delete(ctx, Key((k+1)%cfg.Keys))
					})
					if errors.Is(err, storage.ErrNotFound) {
						err = nil
					}
				}
				wl.add(time.Since(t0))
				fail(err)
			}
		})
	}
	for r := range cfg.Readers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k := rand.IntN(cfg.Keys)
				t0 := time.Now()
				var err error
				switch (i + r) % 3 {
				case 0:
					if _, err = s.Get(ctx, Key(k)); errors.Is(err, storage.ErrNotFound) {
						err = nil
					}
				case 1:
					_, err = s.List(ctx, storage.Pattern(Key(k)[:8]+"*"), storage.Limit(20))
				case 2:
					keys := make([]string, 10)
					for j := range keys {
						keys[j] = Key((k + j) % cfg.Keys)
					}
					_, err = s.GetMany(ctx, keys)
				}
				rl.add(time.Since(t0))
				fail(err)
			}
		})
	}
	wg.Go(func() { // keeps a WAL snapshot open
		for ctx.Err() == nil {
			tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
			if err != nil {
				fail(err)
				continue
			}
			_, err = tx.Count(ctx)
			fail(err)
			t := time.NewTimer(cfg.Snapshot)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	})

	start := time.Now()
	tick := time.NewTicker(cfg.Every)
	defer tick.Stop()
	take := func() {
		var smp SoakSample
		smp.At = time.Since(start).Round(time.Second)
		smp.WALBytes = fileSize(path + "-wal")
		smp.DBBytes = fileSize(path)
		smp.RSSBytes = rss()
		smp.Writes, smp.WriteP99 = wl.take()
		smp.Reads, smp.ReadP99 = rl.take()
		smp.Errors = errs.Swap(0)
		if e, ok := lastErr.Load().(string); ok {
			smp.LastError = e
		}
		if st, err := s.Status(context.WithoutCancel(ctx)); err == nil {
			smp.Entries = st.Size
			smp.LogChanges = st.Revision - st.OldestRevision + 1
		}
		sample(smp)
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			take()
		}
	}
	wg.Wait()
	take()
	return nil
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// rss reads VmRSS from /proc/self/status (Linux); 0 elsewhere.
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	return parseRSS(f)
}

func parseRSS(r io.Reader) int64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// WriteSoakSample prints one sample as a line of a Markdown table (the
// header with WriteSoakHeader).
func WriteSoakSample(w io.Writer, s SoakSample) {
	fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %d | %s | %d | %s | %d | %d | %d |\n", s.At,
		float64(s.WALBytes)/1e6, float64(s.DBBytes)/1e6, float64(s.RSSBytes)/1e6,
		s.Writes, s.WriteP99.Round(10*time.Microsecond), s.Reads, s.ReadP99.Round(10*time.Microsecond), s.Errors, s.Entries, s.LogChanges)
}

// WriteSoakHeader prints the header of the soak table.
func WriteSoakHeader(w io.Writer) {
	fmt.Fprintln(w, "| at | WAL MB | db MB | RSS MB | writes | write p99 | reads | read p99 | errors | entries | log changes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
}
