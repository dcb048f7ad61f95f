// Command peers measures the storage engine side by side with what a Go
// program would use instead, in one process, rounds interleaved:
//
//   - the engine (sqlstore) on SQLite (modernc, a WAL file) and on
//     PostgreSQL;
//   - hand-written SQL on the modernc driver, the engine's pragmas, every
//     statement prepared once and kept (the engine/raw ratio's baseline);
//   - the same SQL on github.com/mattn/go-sqlite3 (cgo), to show what the
//     driver costs;
//   - go.etcd.io/bbolt storing JSON values with a hand-kept secondary
//     index, with fsync at every commit and with NoSync;
//   - hand-written pgx (pgxpool, cached statements, a (ns, key) primary key
//     and one expression index ending in the key, unnest upserts).
//
// Writes are compared like with like: SQLite synchronous=NORMAL (durable at
// checkpoints, never corrupt) beside bbolt NoSync, and SQLite
// synchronous=FULL beside bbolt with fsync and PostgreSQL. Every ratio is
// the median of per-round ratios, so noise from the machine hits both sides
// of a round alike. It lives in a module of its own so that the library's
// go.mod does not carry bbolt or cgo.
//
//	go run . -short          # 10k and 100k entries, under 5 minutes (make bench-peers)
//	go run . -full           # 10k, 100k and 1M entries
//
// PostgreSQL runs when -pg (default $STORAGE_TEST_POSTGRES_DSN) is set.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// Config is one run.
type Config struct {
	Sizes     []int
	ValueSize int
	Rounds    int
	RoundTime time.Duration
	Dir       string
	PG        string // PostgreSQL admin DSN, "" to skip
	Only      *regexp.Regexp
	Log       func(format string, args ...any)
}

func run() error {
	short := flag.Bool("short", false, "10k and 100k entries, 11 rounds of 25 ms (under 5 minutes)")
	full := flag.Bool("full", false, "10k, 100k and 1M entries, 11 rounds of 50 ms")
	sizesF := flag.String("sizes", "", "dataset sizes, comma-separated (default 10000,100000)")
	valueSize := flag.Int("value", 256, "value size in bytes")
	rounds := flag.Int("rounds", 0, "interleaved rounds per workload")
	roundTime := flag.Duration("round-time", 0, "duration of one system's turn in a round")
	dir := flag.String("dir", os.TempDir(), "directory for the database files")
	pg := flag.String("pg", os.Getenv("STORAGE_TEST_POSTGRES_DSN"), "PostgreSQL DSN (default $STORAGE_TEST_POSTGRES_DSN)")
	only := flag.String("only", "", "regexp selecting workloads")
	out := flag.String("out", "", "Markdown report (default bench/results/<date>-peers-<kind>.md)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run")
	flag.Parse()

	cfg := Config{Sizes: []int{10_000, 100_000}, ValueSize: *valueSize, Rounds: 11, RoundTime: 25 * time.Millisecond, Dir: *dir, PG: *pg,
		Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }}
	kind := "custom"
	switch {
	case *short && *full:
		return errors.New("-short and -full exclude each other")
	case *short:
		kind = "short"
	case *full:
		kind = "full"
		cfg.Sizes, cfg.Rounds, cfg.RoundTime = []int{10_000, 100_000, 1_000_000}, 11, 50*time.Millisecond
	}
	if *sizesF != "" {
		cfg.Sizes = nil
		for _, f := range strings.Split(*sizesF, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1000 {
				return fmt.Errorf("bad size %q (at least 1000)", f)
			}
			cfg.Sizes = append(cfg.Sizes, n)
		}
	}
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}
	if *roundTime > 0 {
		cfg.RoundTime = *roundTime
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return err
		}
		cfg.Only = re
	}
	if cfg.PG == "" {
		cfg.Log("PostgreSQL skipped: set -pg or STORAGE_TEST_POSTGRES_DSN")
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	loadBefore := uptime()
	start := time.Now()
	var reports []*Report
	for _, n := range cfg.Sizes {
		r, err := Run(ctx, cfg, n)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	md := Markdown(ctx, cfg, reports, loadBefore, uptime(), time.Since(start))
	fmt.Print(md)
	path := *out
	if path == "" {
		path = filepath.Join(resultsDir(), time.Now().UTC().Format("2006-01-02")+"-peers-"+kind+".md")
	}
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	cfg.Log("wrote %s", path)
	return nil
}

// resultsDir is bench/results when run from bench/peers, else ".".
func resultsDir() string {
	for _, d := range []string{"../results", "bench/results"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	return "."
}

// uptime is the machine's load line.
func uptime() string {
	b, err := exec.Command("uptime").Output()
	if err != nil {
		b, _ = os.ReadFile("/proc/loadavg")
	}
	return strings.TrimSpace(string(b))
}

// maxRSS is the process's peak resident set size in bytes.
func maxRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
