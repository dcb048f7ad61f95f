package sqlstore

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/migratecache"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/storetest"
)

func pgAdminDSN(t testing.TB) string { t.Helper(); return pgtest.AdminDSN(t) }

// newPGSchema gives the test a fresh schema, dropped when it ends.
func newPGSchema(t testing.TB) string {
	t.Helper()
	return testdb.Postgres(t, "t", "pool_max_conns", "8")
}

// configs are the three configurations every engine test runs on.
type testConfig struct {
	name string
	dsn  func(t testing.TB) string
	// opts, when set, gives the options a store on dsn needs (the direct
	// DSN beside a pooler's).
	opts func(t testing.TB, dsn string) []Option
}

var configs = []testConfig{
	{name: "sqlite-memory", dsn: testdb.SQLiteMemory},
	{name: "sqlite-file", dsn: testdb.SQLiteFile},
	{name: "postgres", dsn: newPGSchema},
}

// raceSkipsMemory skips the sqlite-memory configuration of one of the
// heaviest tests under the race detector (CI), where SQLite runs about 70
// times slower: sqlite-file runs the same statements through the same code
// (an in-memory database differs in where its pages live, not in the
// statements or plans these tests check). Without -race every
// configuration runs.
func raceSkipsMemory(t *testing.T, c testConfig) {
	t.Helper()
	if raceEnabled && c.name == "sqlite-memory" {
		t.Skip("under -race sqlite-file runs this test's statements; sqlite-memory runs without -race")
	}
}

func openTest(t testing.TB, dsn string, opts ...Option) *Store {
	t.Helper()
	return openTestCtx(t, context.Background(), dsn, opts...)
}

// openTestCtx is openTest with the values of ctx: the conformance harness
// opens its fresh SQLite stores from the migrated copy (migratecache.With).
func openTestCtx(t testing.TB, ctx context.Context, dsn string, opts ...Option) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	return s
}

func harness(c testConfig) storetest.Harness {
	return storetest.Harness{
		Name: c.name,
		New: func(t *testing.T, cfg storetest.Config) storage.Store {
			opts := []Option{WithCapacity(cfg.Capacity)}
			if cfg.MaxValueSize > 0 {
				opts = append(opts, WithMaxValueSize(cfg.MaxValueSize))
			}
			if cfg.Clock != nil {
				opts = append(opts, WithClock(cfg.Clock))
			}
			dsn := c.dsn(t)
			if c.opts != nil {
				opts = append(opts, c.opts(t, dsn)...)
			}
			// The suite tests the store, not its migrations (package
			// schema's tests and the other Opens do): a fresh SQLite
			// database starts from the migrated copy, without each store's
			// half second of migrations under the race detector
			// (TestSQLiteTemplateSameDatabase).
			return openTestCtx(t, migratecache.With(context.Background()), dsn, opts...)
		},
		Supports: storetest.Supports{Capacity: true, MaxValueSize: true, Transactions: true, Expiry: true, Revisions: true},
		Check:    checkInvariants,
	}
}

// inTxHarness is harness(c) with every data operation in a transaction of
// its own (storetest.InTx).
func inTxHarness(c testConfig) storetest.Harness {
	h := harness(c)
	newStore := h.New
	h.New = func(t *testing.T, cfg storetest.Config) storage.Store {
		return storetest.InTx(newStore(t, cfg))
	}
	h.Check = func(t *testing.T, s storage.Store) { checkInvariants(t, s.(*storetest.TxStore).Store.(*Store)) }
	return h
}

// seededRun is a seeded random test's seed and size: the seed from the
// environment variable seedVar, else the time; the size from countVar,
// else count; divided by shortDiv with -short or -race. The caller logs
// them.
func seededRun(t *testing.T, seedVar, countVar string, count, shortDiv int) (uint64, int) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(seedVar); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", seedVar, s, err)
		}
		seed = v
	}
	if s := os.Getenv(countVar); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", countVar, s, err)
		}
		count = n
	}
	if testing.Short() || raceEnabled {
		count /= shortDiv
	}
	return seed, count
}
