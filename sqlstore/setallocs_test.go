package sqlstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
)

// keepBatcher is a pgBatcher that keeps the last batch it was sent and
// answers nothing.
type keepBatcher struct{ b **pgx.Batch }

func (keepBatcher) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, errors.New("unused")
}
func (keepBatcher) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errors.New("unused")
}
func (keepBatcher) QueryRow(context.Context, string, ...any) pgx.Row { return nil }
func (k keepBatcher) SendBatch(_ context.Context, b *pgx.Batch) pgx.BatchResults {
	*k.b = b
	return nil
}

// TestRevDBSendBatch: the batch of a write is the revision lock (with the
// transaction's reference until it is known, in a transaction) and then
// the statement, with their arguments, and it is built in one allocation
// (it was seven: the batch, two queued queries, their slice grown twice,
// the lock's arguments and the boxed key; bench/results/2026-12-03-pgsetcpu.md).
func TestRevDBSendBatch(t *testing.T) {
	ctx := context.Background()
	var got *pgx.Batch
	const key = int64(0x6d7963656c696102)
	var xid string
	for _, c := range []struct {
		name string
		xid  *string
		lock string
	}{
		{"outside a transaction", nil, revisionLockTimedSQL},
		{"first write of a transaction", &xid, revisionLockXidSQL},
	} {
		r := newRevDB(keepBatcher{&got}, c.xid, key)
		_, done := r.send(ctx, "SELECT $1, $2", []any{"a", 2})
		done()
		if got == nil || got.Len() != 2 {
			t.Fatalf("%s: batch %+v, want two statements", c.name, got)
		}
		q0, q1 := got.QueuedQueries[0], got.QueuedQueries[1]
		if q0.SQL != c.lock || !slices.Equal(q0.Arguments, []any{key, "0"}) {
			t.Errorf("%s: lock statement %q %v, want %q [%d 0]", c.name, q0.SQL, q0.Arguments, c.lock, key)
		}
		if q1.SQL != "SELECT $1, $2" || !slices.Equal(q1.Arguments, []any{"a", 2}) {
			t.Errorf("%s: statement %q %v", c.name, q1.SQL, q1.Arguments)
		}
	}
	// With a deadline, the lock statement carries the time left in ms.
	dctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	_, done := newRevDB(keepBatcher{&got}, nil, key).send(dctx, "SELECT 1", nil)
	done()
	if ms, ok := got.QueuedQueries[0].Arguments[1].(string); !ok || len(ms) != 7 || ms[:2] != "35" {
		t.Errorf("lock_timeout argument %v, want ~3600000 ms", got.QueuedQueries[0].Arguments[1])
	}

	r := newRevDB(keepBatcher{&got}, nil, key)
	args := []any{"a", 2}
	if n := testing.AllocsPerRun(100, func() {
		_, done := r.send(ctx, "SELECT $1, $2", args)
		done()
	}); n > 1 {
		t.Errorf("send allocates %v times, want 1", n)
	}
}

// TestWriteArgsDoNotAllocate: a write without an actor or an expiry binds
// nil for them without an allocation (each cost one on every Set).
func TestWriteArgsDoNotAllocate(t *testing.T) {
	ctx := context.Background()
	var sink any
	if n := testing.AllocsPerRun(100, func() { sink = actorOf(ctx) }); n != 0 {
		t.Errorf("actorOf without an actor allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { sink = optTime(time.Time{}) }); n != 0 {
		t.Errorf("optTime of the zero time allocates %v times", n)
	}
	_ = sink
	if a := actorOf(storage.ContextWithActor(ctx, "ann")); a == nil || *a != "ann" {
		t.Errorf("actorOf = %v, want ann", a)
	}
	at := time.Unix(100, 0)
	if p := optTime(at); p == nil || !p.Equal(at) {
		t.Errorf("optTime = %v, want %v", p, at)
	}
}
