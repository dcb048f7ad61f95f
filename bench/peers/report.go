package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Markdown is the report of a run.
func Markdown(ctx context.Context, cfg Config, reps []*Report, loadBefore, loadAfter string, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# The engine beside its peers\n\n")
	fmt.Fprintf(&b, "`bench/peers` (`make bench-peers`), %s, took %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), took.Round(time.Second))
	fmt.Fprintf(&b, "- machine: %d cores, %s, %s/%s, %s\n", runtime.NumCPU(), memTotal(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "- SQLite: modernc %s, mattn %s; PostgreSQL: %s\n", sqliteVersion(ctx, "sqlite"), sqliteVersion(ctx, "sqlite3"), pgVersion(ctx, cfg.PG))
	fmt.Fprintf(&b, "- load before: `%s`\n- load after: `%s`\n", loadBefore, loadAfter)
	fmt.Fprintf(&b, "- values of ~%d B JSON; %d interleaved rounds of %s per system (order rotated each round); ops/s and allocs/op are medians over rounds; each ratio is the median of per-round ratios (above 1: the engine is faster)\n", cfg.ValueSize, cfg.Rounds, cfg.RoundTime)
	fmt.Fprintf(&b, "- process peak RSS (all systems in one process): %.0f MiB\n\n", float64(maxRSS())/(1<<20))
	b.WriteString("Durability, like with like: reads are one group; writes are compared at NORMAL (SQLite synchronous=NORMAL in WAL mode, durable at checkpoints and never corrupt, beside bbolt NoSync, which can lose recent commits and corrupt the file) and at FULL (SQLite synchronous=FULL, bbolt fsync at every commit, PostgreSQL defaults).\n\n")
	for _, r := range reps {
		fmt.Fprintf(&b, "## %d entries\n\n", r.Size)
		writeTable(&b, r, false)
		b.WriteString("\nAllocations per operation (client side):\n\n")
		writeTable(&b, r, true)
		b.WriteString("\n| system | durability | load | on disk |\n|---|---|---|---|\n")
		for _, s := range r.Systems {
			load := ""
			if d, ok := r.Load[s]; ok {
				load = d.Round(time.Millisecond).String()
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.1f MiB |\n", s, r.Durability[s], load, float64(r.Disk[s])/(1<<20))
		}
		b.WriteString("\nThe engine and engine FULL share one file, modernc and mattn another (table kv), bbolt and bbolt NoSync a third; sizes are after loading (files and WAL; PostgreSQL: tables, indexes and TOAST of the schema).\n\n")
	}
	return b.String()
}

func writeTable(b *strings.Builder, r *Report, allocs bool) {
	cols := r.Systems
	b.WriteString("| workload | writes |")
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", c)
	}
	if !allocs {
		b.WriteString(" engine/modernc | engine-pg/pgx |")
	}
	b.WriteString("\n|---|---|")
	for range cols {
		b.WriteString("---:|")
	}
	if !allocs {
		b.WriteString("---:|---:|")
	}
	b.WriteString("\n")
	for _, row := range r.Rows {
		grp := row.Group
		if grp == GroupRead {
			grp = ""
		}
		fmt.Fprintf(b, "| %s | %s |", row.Workload, grp)
		for _, c := range cols {
			cell := ""
			for _, res := range row.Results {
				if res.System == c {
					if allocs {
						cell = fmt.Sprintf("%.0f", res.AllocsPerOp)
					} else {
						cell = fmt.Sprintf("%.0f", res.OpsPerSec)
					}
				}
			}
			fmt.Fprintf(b, " %s |", cell)
		}
		if !allocs {
			sq, pg := "", ""
			for k, v := range row.Ratios {
				if strings.HasPrefix(k, sEnginePG) {
					pg = fmt.Sprintf("%.2f", v)
				} else {
					sq = fmt.Sprintf("%.2f", v)
				}
			}
			fmt.Fprintf(b, " %s | %s |", sq, pg)
		}
		b.WriteString("\n")
	}
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "? memory"
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	if len(f) >= 2 {
		var kb int64
		_, _ = fmt.Sscan(f[1], &kb)
		return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
	}
	return "? memory"
}

func sqliteVersion(ctx context.Context, driver string) string {
	db, err := sql.Open(driver, ":memory:")
	if err != nil {
		return "?"
	}
	defer func() { _ = db.Close() }()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err != nil {
		return "?"
	}
	return v
}

func pgVersion(ctx context.Context, dsn string) string {
	if dsn == "" {
		return "not run"
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "?"
	}
	defer func() { _ = c.Close(ctx) }()
	var v string
	if err := c.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "?"
	}
	return v
}
