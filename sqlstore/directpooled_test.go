package sqlstore

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
)

// TestDirectDSNThroughPooler: a WithDirectDSN that reaches the pooler too
// (the same DSN given twice, say) is refused, ErrInvalidOption, before a
// migration runs: through it the migrations' session-level advisory lock
// serializes nothing. Open took it and migrated through the pooler.
func TestDirectDSNThroughPooler(t *testing.T) {
	dsn := pgtest.NewRole(t, "dp", pgtest.BouncerDSN(t), "default_query_exec_mode", "exec")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, WithDirectDSN(dsn))
	if err == nil {
		_ = s.Close()
		t.Fatal("Open with a direct DSN through the pooler succeeded")
	}
	wantSentinel(t, "Open", err, storage.ErrInvalidOption)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, directOf(t, dsn))
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, u.User.Username()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the role's schema has %d tables after the refused Open, want none", n)
	}
	// The same store with the server's own address as its direct DSN opens.
	s, err = Open(ctx, dsn, WithDirectDSN(directOf(t, dsn)))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
}

// TestOpenThroughPoolerWithoutDirectDSN: Open through a pooler in
// transaction mode without WithDirectDSN is refused, ErrInvalidOption
// naming WithDirectDSN, before a migration runs: it migrated through the
// pooler, where the migrations' session-level advisory lock serializes
// nothing (it is held by whichever server connection the pooler handed
// out, and re-entered by the next migrator given that connection). With
// WithoutMigrate, which only reads the schema's version, it opens once
// the schema is current; on an empty schema it fails, ErrUnsupported,
// without creating goose's version table.
func TestOpenThroughPoolerWithoutDirectDSN(t *testing.T) {
	dsn := pgtest.NewRole(t, "dq", pgtest.BouncerDSN(t), "default_query_exec_mode", "exec")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, directOf(t, dsn))
	tables := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, u.User.Username()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s, err := Open(ctx, dsn)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open through the pooler without WithDirectDSN succeeded")
	}
	wantSentinel(t, "Open", err, storage.ErrInvalidOption)
	if !strings.Contains(err.Error(), "WithDirectDSN") {
		t.Errorf("Open: %v does not say to use WithDirectDSN", err)
	}
	if n := tables(); n != 0 {
		t.Errorf("the role's schema has %d tables after the refused Open, want none", n)
	}
	s, err = Open(ctx, dsn, WithoutMigrate())
	if err == nil {
		_ = s.Close()
		t.Fatal("Open WithoutMigrate of an empty schema succeeded")
	}
	wantSentinel(t, "Open WithoutMigrate", err, storage.ErrUnsupported)
	if n := tables(); n != 0 {
		t.Errorf("the role's schema has %d tables after Open WithoutMigrate, want none (no goose version table)", n)
	}
	// Migrated through the direct DSN, the store opens through the pooler
	// WithoutMigrate.
	s, err = Open(ctx, dsn, WithDirectDSN(directOf(t, dsn)))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s, err = Open(ctx, dsn, WithoutMigrate())
	if err != nil {
		t.Fatalf("Open WithoutMigrate through the pooler of a current schema: %v", err)
	}
	_ = s.Close()
}
