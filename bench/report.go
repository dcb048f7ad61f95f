package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPU       string
	Cores     int
	MemoryGiB float64
	Go        string
	OS        string
	SQLite    string
	Postgres  string
}

// DescribeMachine reads the CPU model and memory from /proc where there is
// one.
func DescribeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb float64
			if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %f kB", &kb); n == 1 {
				m.MemoryGiB = kb / (1 << 20)
				break
			}
		}
		_ = f.Close()
	}
	return m
}

// Target is one of the targets, evaluated on the results.
type Target struct {
	Name     string
	Measured string
	Met      bool
	Note     string
}

func find(reps []*Report, dialect string, size, vs int, workload, method string) (Result, bool) {
	for _, rep := range reps {
		for _, r := range rep.Results {
			if r.Dialect == dialect && r.Size == size && r.ValueSize == vs && r.Workload == workload && (method == "" || r.Method == method) {
				return r, true
			}
		}
	}
	return Result{}, false
}

// Targets evaluates the targets on every report that has the rows
// they need.
func Targets(reps []*Report) []Target {
	var ts []Target
	limits := map[string]float64{"sqlite": 1.3, "postgres": 1.15}
	sizes := map[string]map[[2]int]bool{} // dialect -> (size, vs)
	for _, rep := range reps {
		c := rep.Config
		if sizes[c.Dialect] == nil {
			sizes[c.Dialect] = map[[2]int]bool{}
		}
		sizes[c.Dialect][[2]int{c.Size, c.ValueSize}] = true
		cell := fmt.Sprintf("%s %s %s", c.Dialect, human(c.Size), bytesName(c.ValueSize))
		for _, r := range rep.Results {
			for _, p := range PointWorkloads {
				if r.Workload == p {
					ts = append(ts, Target{Name: fmt.Sprintf("%s %s <= %.2fx raw", cell, p, limits[c.Dialect]),
						Measured: fmt.Sprintf("%.2fx", r.Ratio()), Met: r.Ratio() <= limits[c.Dialect]})
				}
			}
		}
		// setMany of 1000: engine throughput >= 0.8x the best raw bulk.
		// The engine's time is the one measured interleaved with the best
		// raw method.
		var best Result
		for _, r := range rep.Results {
			if r.Workload == fmt.Sprintf(WSetMany, 1000) && (best.Raw == 0 || r.Raw < best.Raw) {
				best = r
			}
		}
		if best.Raw > 0 {
			tp := float64(best.Raw) / float64(best.Engine)
			ts = append(ts, Target{Name: cell + " setMany/1000 >= 0.8x best raw bulk throughput",
				Measured: fmt.Sprintf("%.2fx of %s", tp, best.Method), Met: tp >= 0.8})
		}
		if c.Dialect == "postgres" {
			g, ok1 := find([]*Report{rep}, c.Dialect, c.Size, c.ValueSize, WGetSeq100, "")
			gm, ok2 := find([]*Report{rep}, c.Dialect, c.Size, c.ValueSize, fmt.Sprintf(WGetMany, 100), "")
			if ok1 && ok2 {
				sp := float64(g.Engine) / float64(gm.Engine)
				ts = append(ts, Target{Name: cell + " getMany/100 >= 20x faster than 100 gets",
					Measured: fmt.Sprintf("%.1fx", sp), Met: sp >= 20})
			}
		}
		if c.Dialect == "sqlite" {
			for _, m := range rep.Mixed {
				if m.Side == "engine" && m.Goroutines == 16 {
					ts = append(ts, Target{Name: cell + " no busy error, 16 mixed goroutines",
						Measured: fmt.Sprintf("%d busy, errors %v", m.Errors["busy"], m.Errors), Met: m.Errors["busy"] == 0})
				}
			}
		}
	}
	// Indexed query: the largest size against 10k, same value size.
	for d, cells := range sizes {
		for cell := range cells {
			if cell[0] == 10_000 {
				continue
			}
			small, ok1 := find(reps, d, 10_000, cell[1], WQueryIndexed, "")
			large, ok2 := find(reps, d, cell[0], cell[1], WQueryIndexed, "")
			if ok1 && ok2 && cell[0] > 10_000 {
				g := float64(large.Engine) / float64(small.Engine)
				ts = append(ts, Target{Name: fmt.Sprintf("%s %s indexed eq at %s <= 2x its time at 10k", d, bytesName(cell[1]), human(cell[0])),
					Measured: fmt.Sprintf("%.2fx (%s vs %s)", g, large.Engine.Round(time.Microsecond), small.Engine.Round(time.Microsecond)), Met: g <= 2})
			}
		}
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts
}

func human(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func bytesName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%dKB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1fµs", float64(d)/1e3)
}

func allocs(a float64) string {
	if a < 0 {
		return ""
	}
	return fmt.Sprintf("%.0f", a)
}

func errs(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// WriteMarkdown writes the machine, the results of every report and the
// targets as Markdown tables.
func WriteMarkdown(w io.Writer, title, command string, m Machine, reps []*Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# %s\n\n", title)
	fmt.Fprintf(b, "Command: `%s`\n\n", command)
	fmt.Fprintf(b, "Machine: %s, %d cores, %.1f GiB, %s, %s; SQLite %s; PostgreSQL %s.\n\n",
		m.CPU, m.Cores, m.MemoryGiB, m.Go, m.OS, orNone(m.SQLite), orNone(m.Postgres))
	b.WriteString("Times are medians of per-round time per operation; engine and raw rounds alternate, " +
		"so noise hits both alike, and engine/raw is the median of the per-round ratios (each engine round against " +
		"the raw round next to it). The machine is shared: absolute numbers are noisy, ratios less so. " +
		"Allocations per operation (point operations) are runtime.MemStats deltas.\n\n")
	b.WriteString("## Operations\n\n| dialect | entries | value | workload | raw method | ops/round | engine | raw | engine/raw | allocs engine | allocs raw |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rep := range reps {
		for _, r := range rep.Results {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %d | %s | %s | %.2f | %s | %s |\n", r.Dialect, human(r.Size), bytesName(r.ValueSize),
				r.Workload, r.Method, r.N, dur(r.Engine), dur(r.Raw), r.Ratio(), allocs(r.EngineAllocs), allocs(r.RawAllocs))
		}
	}
	b.WriteString("\n## Mixed: 90% get, 10% set\n\n| dialect | entries | value | goroutines | side | ops | ops/s | p50 | p99 | errors |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rep := range reps {
		c := rep.Config
		for _, x := range rep.Mixed {
			fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %d | %.0f | %s | %s | %s |\n", c.Dialect, human(c.Size), bytesName(c.ValueSize),
				x.Goroutines, x.Side, x.Ops, x.Throughput, dur(x.P50), dur(x.P99), errs(x.Errors))
		}
	}
	fmt.Fprintf(b, "\n## Read-modify-write transactions under contention\n\n%d goroutines, each transaction 5 reads and 5 writes of 5 of 10 hot keys; engine via txmanager.RunInTx, raw via a hand-written retry loop with the same backoff.\n\n", ContentionGoroutines)
	b.WriteString("| dialect | entries | value | level | in force | side | commits | commits/s | retries | failures |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rep := range reps {
		c := rep.Config
		for _, x := range rep.Tx {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %d | %.1f | %d | %s |\n", c.Dialect, human(c.Size), bytesName(c.ValueSize),
				x.Level, x.InForce, x.Side, x.Commits, x.CommitsPerSec, x.Retries, errs(x.Failures))
		}
	}
	b.WriteString("\n## Targets\n\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range Targets(reps) {
		met := "met"
		if !t.Met {
			met = "**missed**"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", t.Name, t.Measured, met)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "not run"
	}
	return s
}
