package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestDropRoleWithTempTables: a role whose sessions still hold temporary
// tables when the test ends (as the engine's COPY path leaves one per
// server connection, kept open by a pooler) is dropped without error:
// dropRole waits for the terminated backends to drop them.
func TestDropRoleWithTempTables(t *testing.T) {
	admin := AdminDSN(t)
	for i := range 5 {
		var conns []*pgx.Conn
		t.Run("role", func(t *testing.T) {
			dsn := NewRole(t, "droptemp", admin)
			for range 4 {
				c, err := pgx.Connect(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				if _, err := c.Exec(context.Background(), "CREATE TEMP TABLE x (a int); INSERT INTO x SELECT generate_series(1, 1000)"); err != nil {
					t.Fatal(err)
				}
			}
		})
		for _, c := range conns {
			_ = c.Close(context.Background())
		}
		if t.Failed() {
			t.Fatalf("round %d", i)
		}
	}
}
