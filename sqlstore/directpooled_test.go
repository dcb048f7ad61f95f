package sqlstore

import (
	"context"
	"net/url"
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
