package storage

import (
	"context"
	"fmt"

	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// IsolationLevel is a transaction isolation level.
type IsolationLevel int

// The isolation levels. A backend runs a transaction at the requested level
// or a stricter one, and Tx.Isolation reports the level actually in force:
// PostgreSQL runs LevelReadUncommitted as LevelReadCommitted; SQLite runs
// every transaction as LevelSerializable.
const (
	// LevelDefault is the backend's default: read-committed on PostgreSQL,
	// serializable on SQLite.
	LevelDefault IsolationLevel = iota
	LevelReadUncommitted
	LevelReadCommitted
	LevelRepeatableRead
	LevelSerializable
)

func (l IsolationLevel) String() string {
	switch l {
	case LevelDefault:
		return "default"
	case LevelReadUncommitted:
		return "read-uncommitted"
	case LevelReadCommitted:
		return "read-committed"
	case LevelRepeatableRead:
		return "repeatable-read"
	case LevelSerializable:
		return "serializable"
	}
	return fmt.Sprintf("IsolationLevel(%d)", int(l))
}

// ParseIsolationLevel reads the seed's spelling of a level ("read-committed",
// "read-uncommitted", "repeatable-read", "serializable", or "" for the
// default).
func ParseIsolationLevel(s string) (IsolationLevel, error) {
	for l := LevelDefault; l <= LevelSerializable; l++ {
		if s == l.String() || (s == "" && l == LevelDefault) {
			return l, nil
		}
	}
	return LevelDefault, invalid(ErrInvalidOption, "unknown isolation level %q", jsonx.Clip(s))
}

// TxOptions are the options of Store.Begin. The zero value is a read-write
// transaction at the backend's default level.
type TxOptions struct {
	Isolation IsolationLevel
	// ReadOnly makes every write in the transaction fail with ErrReadOnly.
	ReadOnly bool
}

// Tx is a database transaction. It carries every data operation; each sees
// the transaction's own writes. A Tx is safe for concurrent use, but its
// operations run one at a time. After Commit or Rollback every operation
// fails with ErrTxDone; Commit and Rollback themselves are safe to repeat,
// so `defer tx.Rollback(ctx)` always works.
type Tx interface {
	Ops
	// ID identifies the transaction for Store.LookupTx.
	ID() string
	// Isolation reports the level actually in force.
	Isolation() IsolationLevel
	// ReadOnly reports whether the transaction refuses writes.
	ReadOnly() bool
	// Commit commits. Under a context that has already ended it commits
	// nothing: the transaction rolls back and the answer is the
	// context's error, on every dialect.
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}
