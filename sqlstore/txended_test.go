package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
)

// TestTxEndedIsTheContextsError: once database/sql rolled a SQLite
// transaction back because its context ended, what its statements return
// (ErrTxDone, or "statement is closed" through the statement cache) is
// reported as the context's error (CI: TestFaultsNamespaceRace got
// "sql: statement is closed" untyped from a DeleteNamespace).
func TestTxEndedIsTheContextsError(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	closed := fmt.Errorf("exec: %w", errors.New("sql: statement is closed"))
	other := errors.New("disk I/O error")
	for _, c := range []struct {
		ctx  context.Context
		err  error
		want error
	}{
		{done, closed, context.Canceled},
		{done, sql.ErrTxDone, context.Canceled},
		{done, other, other},
		{context.Background(), closed, closed},
		{context.Background(), sql.ErrTxDone, sql.ErrTxDone},
		{done, nil, nil},
	} {
		if got := txEnded(c.ctx, c.err); !errors.Is(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("txEnded(ctx err %v, %v) = %v, want %v", c.ctx.Err(), c.err, got, c.want)
		}
	}
}
