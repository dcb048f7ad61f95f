// Command storebench measures the storage engine (sqlstore) against
// hand-written SQL baselines doing the same work on the same schema, side by
// side in one process: SQLite (a WAL file) and PostgreSQL. It prints a table
// of medians and engine/raw ratios and writes it as Markdown, with the
// machine's description and the targets, under bench/results/.
//
//	go run ./cmd/storebench -short                 # under 5 minutes (make bench)
//	go run ./cmd/storebench -full                  # the whole matrix (make bench-full)
//	go run ./cmd/storebench -sizes 10000,1000000 -only 'get|set|has|delete|query/indexed'
//	go run ./cmd/storebench -soak 1h               # WAL, RSS and p99 every minute (not in CI)
//
// PostgreSQL runs when -pg (default $STORAGE_TEST_POSTGRES_DSN) is set; each
// dataset gets its own schema, dropped at the end. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage/bench"
	"github.com/mycelia-kernel/storage/internal/cmdline"
	"github.com/mycelia-kernel/storage/sqlstore"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "storebench:", err)
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run() error {
	short := flag.Bool("short", false, "the short run: 10k entries of 256 B, a few seconds per mixed run (under 5 minutes)")
	full := flag.Bool("full", false, "the full matrix: 10k, 100k and 1M entries of 256 B and 4 KB, 30 s mixed runs (hours)")
	dialects := flag.String("dialects", "sqlite,postgres", "dialects to run")
	pg := flag.String("pg", os.Getenv("STORAGE_TEST_POSTGRES_DSN"), "PostgreSQL DSN (default $STORAGE_TEST_POSTGRES_DSN)")
	sizesF := flag.String("sizes", "", "dataset sizes (entries), comma-separated")
	valuesF := flag.String("values", "", "value sizes (bytes), comma-separated")
	rounds := flag.Int("rounds", 0, "interleaved rounds per workload")
	roundTime := flag.Duration("round-time", 0, "target duration of one side's round")
	mixed := flag.Duration("mixed", 0, "duration of each mixed run, per side")
	goroutinesF := flag.String("goroutines", "1,4,16", "goroutine counts of the mixed runs")
	txTime := flag.Duration("tx", 0, "duration of each contention run, per side; 0 skips them")
	only := flag.String("only", "", "regexp selecting workloads by name (mixed and rmw are named so)")
	out := flag.String("out", "", "Markdown output (default bench/results/<date>-<short|full|custom>.md)")
	dir := flag.String("dir", os.TempDir(), "directory for the SQLite database files")
	title := flag.String("title", "", "title of the Markdown report")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run")
	soak := flag.Duration("soak", 0, "instead of the benchmarks: a soak run of this length on a SQLite file (mixed load, a reader holding snapshots), sampled every -soak-every")
	soakEvery := flag.Duration("soak-every", time.Minute, "sampling interval of -soak")
	soakRetention := flag.Int64("soak-retention", 0, "the change log's retention of -soak, in changes (0: sqlstore.DefaultRetention)")
	indexes := flag.Bool("indexes", false, "instead of the matrix: the declared-index comparison (issue 13) at -sizes (default 100000), written to bench/results/<date>-indexes.md")
	version := flag.Bool("version", false, "print the version and exit")
	// A mistake in the flags prints one line and the usage line, as the
	// other binaries do; -h prints the whole help.
	flag.CommandLine.Init("storebench", flag.ContinueOnError)
	flag.CommandLine.Usage = func() {}
	if err := flag.CommandLine.Parse(os.Args[1:]); err != nil {
		os.Exit(cmdline.ParseFailed(err, flag.CommandLine, func() {
			fmt.Fprintln(flag.CommandLine.Output(), "Usage: storebench [flags]\n\nFlags:")
			flag.PrintDefaults()
		}, "usage: storebench [flags]; storebench -h for help"))
	}
	if *version {
		fmt.Println(cmdline.Version("storebench"))
		return nil
	}
	if *soak > 0 {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		bench.WriteSoakHeader(os.Stdout)
		return bench.Soak(ctx, bench.SoakConfig{Dir: *dir, Duration: *soak, Every: *soakEvery, Retention: sqlstore.Retention{Changes: *soakRetention}}, func(s bench.SoakSample) {
			bench.WriteSoakSample(os.Stdout, s)
			if s.LastError != "" {
				fmt.Fprintln(os.Stderr, "storebench: soak: last error:", s.LastError)
			}
		})
	}

	kind := "custom"
	sizes, values := []int{10_000}, []int{256}
	r, rt, mx, tx := 15, 15*time.Millisecond, 3*time.Second, 2*time.Second
	switch {
	case *short && *full:
		return errors.New("-short and -full exclude each other")
	case *short:
		kind = "short"
	case *full:
		kind = "full"
		sizes, values = []int{10_000, 100_000, 1_000_000}, []int{256, 4096}
		r, rt, mx, tx = 21, 50*time.Millisecond, 30*time.Second, 10*time.Second
	}
	var err error
	if *sizesF != "" {
		if sizes, err = ints(*sizesF); err != nil {
			return err
		}
	}
	if *valuesF != "" {
		if values, err = ints(*valuesF); err != nil {
			return err
		}
	}
	goroutines, err := ints(*goroutinesF)
	if err != nil {
		return err
	}
	if *rounds > 0 {
		r = *rounds
	}
	if *roundTime > 0 {
		rt = *roundTime
	}
	if *mixed > 0 {
		mx = *mixed
	}
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "tx" {
			tx = *txTime // -tx 0 skips the contention runs
		}
	})
	var re *regexp.Regexp
	if *only != "" {
		if re, err = regexp.Compile(*only); err != nil {
			return fmt.Errorf("-only: %w", err)
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *indexes {
		if *sizesF == "" {
			sizes = []int{100_000}
		}
		if *rounds <= 0 {
			r = 9
		}
		if *roundTime <= 0 {
			rt = 30 * time.Millisecond
		}
		return runIndexes(ctx, strings.Split(*dialects, ","), *pg, *dir, sizes, r, rt, re, *out)
	}

	m := bench.DescribeMachine()
	var reps []*bench.Report
	start := time.Now()
	for _, d := range strings.Split(*dialects, ",") {
		d = strings.TrimSpace(d)
		if d == "postgres" && *pg == "" {
			fmt.Fprintln(os.Stderr, "storebench: PostgreSQL skipped: no -pg DSN and STORAGE_TEST_POSTGRES_DSN is not set")
			continue
		}
		for _, vs := range values {
			for _, size := range sizes {
				rep, err := bench.Run(ctx, bench.Config{Dialect: d, Dir: *dir, PostgresDSN: *pg, Size: size, ValueSize: vs,
					Rounds: r, RoundTime: rt, MixedTime: mx, MixedGoroutines: goroutines, TxTime: tx, Only: re, Log: os.Stderr})
				if rep != nil {
					reps = append(reps, rep)
					noteVersion(&m, d, rep)
				}
				if err != nil {
					return fmt.Errorf("%s %d x %d B: %w", d, size, vs, err)
				}
			}
		}
	}
	if *title == "" {
		*title = fmt.Sprintf("storebench %s run, %s (took %s)", kind, time.Now().UTC().Format("2006-01-02"), time.Since(start).Round(time.Second))
	}
	if *out == "" {
		*out = filepath.Join("bench", "results", time.Now().UTC().Format("2006-01-02")+"-"+kind+".md")
	}
	args := make([]string, len(os.Args)-1)
	for i, a := range os.Args[1:] {
		args[i] = a
		if strings.ContainsAny(a, "|()$*?[]^ '\"") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	command := "go run ./cmd/storebench " + strings.Join(args, " ")
	if err := bench.WriteMarkdown(os.Stdout, *title, command, m, reps); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := bench.WriteMarkdown(f, *title, command, m, reps); err != nil {
		_ = f.Close()
		return err
	}
	fmt.Fprintln(os.Stderr, "storebench: wrote", *out)
	return f.Close()
}

// uptime is the output of uptime(1), or why there is none.
func uptime() string {
	out, err := exec.Command("uptime").Output()
	if err != nil {
		return "uptime: " + err.Error() + "\n"
	}
	return string(out)
}

// runIndexes runs the declared-index comparison (bench.RunIndexes).
func runIndexes(ctx context.Context, dialects []string, pg, dir string, sizes []int, rounds int, roundTime time.Duration, only *regexp.Regexp, out string) error {
	m := bench.DescribeMachine()
	load := "before: " + uptime()
	var reps []*bench.Report
	start := time.Now()
	for _, d := range dialects {
		d = strings.TrimSpace(d)
		if d == "postgres" && pg == "" {
			fmt.Fprintln(os.Stderr, "storebench: PostgreSQL skipped: no -pg DSN and STORAGE_TEST_POSTGRES_DSN is not set")
			continue
		}
		for _, size := range sizes {
			fmt.Fprintf(os.Stderr, "storebench: %s, %d entries\n", d, size)
			rep, err := bench.RunIndexes(ctx, bench.Config{Dialect: d, Dir: dir, PostgresDSN: pg, Size: size,
				Rounds: rounds, RoundTime: roundTime, Only: only, Log: os.Stderr})
			if rep != nil {
				reps = append(reps, rep)
				noteVersion(&m, d, rep)
			}
			if err != nil {
				return fmt.Errorf("%s %d: %w", d, size, err)
			}
			load += "after " + d + " " + strconv.Itoa(size) + ": " + uptime()
		}
	}
	title := fmt.Sprintf("Declared indexes: engine against raw SQL with one index per field, %s (took %s)",
		time.Now().UTC().Format("2006-01-02"), time.Since(start).Round(time.Second))
	if out == "" {
		out = filepath.Join("bench", "results", time.Now().UTC().Format("2006-01-02")+"-indexes.md")
	}
	command := "nice go run ./cmd/storebench " + strings.Join(os.Args[1:], " ")
	if err := bench.WriteIndexMarkdown(os.Stdout, title, command, load, m, reps); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := bench.WriteIndexMarkdown(f, title, command, load, m, reps); err != nil {
		_ = f.Close()
		return err
	}
	fmt.Fprintln(os.Stderr, "storebench: wrote", out)
	return f.Close()
}

// noteVersion records the database version of a report of dialect d.
func noteVersion(m *bench.Machine, d string, rep *bench.Report) {
	if d == "sqlite" {
		m.SQLite = rep.Version
	} else {
		m.Postgres = rep.Version
	}
}
