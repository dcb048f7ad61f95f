package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestStoreMetricsEveryPool: /metrics reports every pool the store holds
// connections in, the lanes beside the main pools included (a PostgreSQL
// store opens its pool's connections and both lanes'; before, only the
// pool's were reported, and SQLite's point readers not at all).
func TestStoreMetricsEveryPool(t *testing.T) {
	dsns := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "m.db")}
	if pg := os.Getenv("STORAGE_TEST_POSTGRES_DSN"); pg != "" {
		dsns["postgres"] = pg
	}
	want := map[string][]string{
		"sqlite":   {"sqlite_writer", "sqlite_reader", "sqlite_point_reader"},
		"postgres": {"postgres", "postgres_point_reads", "postgres_writes"},
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			s, err := sqlstore.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			pools := map[string]bool{}
			for _, f := range storeMetrics(s)() {
				if f.Name != "storage_pool_max_connections" {
					continue
				}
				for _, sm := range f.Samples {
					for _, l := range sm.Labels {
						if l[0] == "pool" {
							pools[l[1]] = true
							if sm.Value < 1 {
								t.Errorf("pool %s: max connections %v", l[1], sm.Value)
							}
						}
					}
				}
			}
			for _, p := range want[name] {
				if !pools[p] {
					t.Errorf("no figures for pool %s; reported: %s", p, strings.Join(slices.Sorted(maps.Keys(pools)), ", "))
				}
			}
			if len(pools) != len(want[name]) {
				t.Errorf("pools reported: %v; want %v", slices.Sorted(maps.Keys(pools)), want[name])
			}
		})
	}
}
