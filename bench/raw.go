package bench

import (
	"context"
	"time"

	"github.com/mycelia-kernel/storage"
)

// Raw is a hand-written baseline: the same work as the engine's operations,
// on the same schema and the same namespace, with fixed SQL.
type Raw interface {
	// Get reads one entry with all the columns the engine's Get reads.
	Get(ctx context.Context, key string) (found bool, err error)
	Has(ctx context.Context, key string) (bool, error)
	// Set upserts: version bump and updated_at on conflict, stored
	// metadata kept (what Set without WithMetadata does).
	Set(ctx context.Context, key string, value []byte, now time.Time) error
	Delete(ctx context.Context, key string) (bool, error)
	GetMany(ctx context.Context, keys []string) (int, error)
	// SetMany upserts a batch by one of BulkMethods.
	SetMany(ctx context.Context, method string, keys []string, values [][]byte, now time.Time) error
	BulkMethods() []string
	DeleteMany(ctx context.Context, keys []string) (int, error)
	// DeleteRange deletes the keys in [lo, hi) (bench housekeeping).
	DeleteRange(ctx context.Context, lo, hi string) error
	// List returns keys in [lo, hi), after after (when not ""), by limit
	// and offset.
	List(ctx context.Context, lo, hi, after string, limit, offset int) ([]string, error)
	// Query runs the named query (see the query* constants) and returns
	// the number of entries read.
	Query(ctx context.Context, name string, args ...any) (int, error)
	Count(ctx context.Context) (int64, error)
	// RMW runs a read-modify-write transaction over keys (a read and a
	// write each) at level, retrying conflicts like txmanager.RunInTx; it
	// returns how many attempts were retried.
	RMW(ctx context.Context, level storage.IsolationLevel, keys []string, now func() time.Time) (retries int, err error)
	Exec(ctx context.Context, stmt string) error
	// Version is the database server's version.
	Version(ctx context.Context) (string, error)
	Close()
}

// The query workloads' names.
const (
	queryIndexedEq   = "indexedEq"
	queryUnindexedEq = "unindexedEq"
	queryRange       = "indexedRange"
	queryContains    = "contains"
	queryStartsWith  = "startsWith"
	querySort        = "sortLimit20"
)

// retryBackoff mirrors txmanager.DefaultRetryPolicy: full jitter on a
// doubling delay from 5ms up to 500ms, at most 10 attempts.
const maxAttempts = 10

func backoff(ctx context.Context, attempt int) error {
	d := 5 * time.Millisecond
	for i := 1; i < attempt && d < 500*time.Millisecond; i++ {
		d *= 2
	}
	d = min(d, 500*time.Millisecond)
	t := time.NewTimer(jitter(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
