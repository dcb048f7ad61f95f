package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// pgAdminDSN returns the DSN of the test PostgreSQL server, skips the test
// when there is none, or fails it when CI=true.
func pgAdminDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("STORAGE_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("STORAGE_TEST_POSTGRES_DSN is not set, and CI=true needs the Postgres half: " +
				`export STORAGE_TEST_POSTGRES_DSN="$(bash .ci/postgres.sh)"`)
		}
		t.Skip("Postgres tests skipped: set STORAGE_TEST_POSTGRES_DSN to enable them, e.g. " +
			`export STORAGE_TEST_POSTGRES_DSN="$(bash .ci/postgres.sh)"`)
	}
	return dsn
}

// newPGSchema creates a fresh schema in the test server, dropped when the
// test ends, and returns a DSN whose search_path selects it.
func newPGSchema(t testing.TB) string {
	t.Helper()
	admin := pgAdminDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to test Postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("cleanup: connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse STORAGE_TEST_POSTGRES_DSN: %v", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	q.Set("pool_max_conns", "8")
	u.RawQuery = q.Encode()
	return u.String()
}

// configs are the three configurations every engine test runs on.
type testConfig struct {
	name string
	dsn  func(t testing.TB) string
}

var configs = []testConfig{
	{"sqlite-memory", func(testing.TB) string { return "sqlite::memory:" }},
	{"sqlite-file", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "store.db") }},
	{"postgres", newPGSchema},
}

func openTest(t testing.TB, dsn string, opts ...Option) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
			return openTest(t, c.dsn(t), opts...)
		},
		Supports: storetest.Supports{Capacity: true, MaxValueSize: true},
		Check:    checkInvariants,
	}
}
