package sqlstore

import (
	"context"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// ops implements storage.Ops over a scope: the store itself, or one of its
// transactions. Store embeds one, so the data operations are written once.
type ops struct {
	s  *Store
	sc scope
}

// scope is where data operations run.
type scope interface {
	// reader and writer return the queriers for reads and for writes.
	reader() querier
	writer() querier
	// atomic runs fn so that its writes apply together or not at all: in a
	// transaction of its own on the store, under a savepoint inside a
	// transaction.
	atomic(ctx context.Context, fn func(q querier) error) error
	// usable reports why the scope can no longer run operations, or nil.
	usable() error
	// readOnly reports whether writes are refused.
	readOnly() bool
	// localIDs is where namespace ids read in the scope are cached (nsid.go):
	// nil for the Store's own cache, a transaction's own cache inside one.
	localIDs() *nsIDCache
}

// storeScope runs operations directly on the store's connections.
type storeScope struct{ s *Store }

func (sc storeScope) reader() querier { return sc.s.eng.reader() }
func (sc storeScope) writer() querier { return sc.s.eng.writer() }

// atomic runs fn in a transaction. When the transaction failed on a foreign
// key (on PostgreSQL a recursive DeleteNamespace removed the namespace that
// fn had just created or found), it runs again, up to
// maxNamespaceRetries times: fn recreates the namespace, as any write to a
// missing namespace does.
func (sc storeScope) atomic(ctx context.Context, fn func(q querier) error) error {
	for attempt := 0; ; attempt++ {
		err := sc.s.eng.inTx(ctx, fn)
		if err == nil || attempt >= maxNamespaceRetries || sc.s.eng.dialect().Classify(err) != dialect.ClassForeignKey {
			return err
		}
	}
}

func (sc storeScope) readOnly() bool { return false }

func (sc storeScope) localIDs() *nsIDCache { return nil }

func (sc storeScope) usable() error {
	if sc.s.closed.Load() {
		return storage.ErrClosed
	}
	return nil
}
