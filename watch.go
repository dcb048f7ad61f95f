package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/mycelia-kernel/storage/driver"
)

// EventType is the kind of change an Event reports.
type EventType string

// The event types. Key-level events (put, delete, expire, metadata) name a
// key; namespace-level events (clear, namespace_create, namespace_delete,
// namespace_metadata) do not.
const (
	// EventPut: a key was written (Set, SetMany, an import); Value is its
	// new value.
	EventPut EventType = "put"
	// EventDelete: a key was deleted (Delete, DeleteMany).
	EventDelete EventType = "delete"
	// EventExpire: the sweeper removed a key whose expiry had passed. The
	// key was already invisible from its expiry on; the event tells when
	// the row went. A key written again after its expiry, before the
	// sweeper came, gets no expire event (see Watcher).
	EventExpire EventType = "expire"
	// EventMetadata: a key's metadata changed (SetMetadata); its value did
	// not.
	EventMetadata EventType = "metadata"
	// EventClear: every entry of Namespace was deleted (Clear; a Clear
	// of every namespace is one event per namespace that held entries).
	EventClear EventType = "clear"
	// EventNamespaceCreate: a namespace was created (explicitly, or by the
	// first write to it).
	EventNamespaceCreate EventType = "namespace_create"
	// EventNamespaceDelete: a namespace was deleted, with its entries
	// (DeleteNamespace, one event per namespace).
	EventNamespaceDelete EventType = "namespace_delete"
	// EventNamespaceMetadata: a namespace's metadata changed (an import
	// over an existing namespace).
	EventNamespaceMetadata EventType = "namespace_metadata"
)

// Event is one committed change, as Watch and History report it.
type Event struct {
	Type EventType
	// Namespace is where the change happened.
	Namespace string
	// Key is the key of a key-level event; "" for namespace-level ones.
	Key string
	// Value is the new value of a put (nil with OmitValues, and for every
	// other type).
	Value json.RawMessage
	// Metadata is the key's user metadata after a put or a metadata
	// change (nil otherwise, and with OmitValues).
	Metadata json.RawMessage
	// Revision is the change's revision: unique in the store, and
	// increasing in commit order.
	Revision int64
	// PrevRevision is the revision of the key's previous change, 0 when
	// none is known (a new key). Of a namespace-level event: 0 for
	// namespace_create and clear; for namespace_metadata and
	// namespace_delete, the revision of the namespace's last change of its
	// own (its namespace_create, or its latest namespace_metadata), which
	// a clear is not.
	PrevRevision int64
	// Version is the key's version after a put or a metadata change (0
	// otherwise).
	Version int64
	// At is when the change was made, by the store's clock (UTC).
	At time.Time
	// CreatedAt is when the key was created (the start of its current
	// life, as Entry.CreatedAt) and ExpiresAt its expiry (the zero time
	// when none), after a put or a metadata change; both are zero for
	// every other type. Changes logged before the schema had them (the
	// engine's migration 00012) report zero for both: unknown.
	CreatedAt, ExpiresAt time.Time
}

// Watcher is the optional ability of a Store to stream its changes. Test
// for it with a type assertion; the engine (sqlstore), the client and the
// security and observe wrappers have it (a wrapper over a store without it
// yields ErrUnsupported).
type Watcher interface {
	// Watch returns the changes of the store as they are committed, in
	// revision order, with no gap and no duplicate:
	//
	//	for ev, err := range w.Watch(ctx, storage.InNamespace("users")) {
	//		if err != nil { ... } // the last thing yielded
	//		last = ev.Revision
	//	}
	//
	// Options: InNamespace (without it, every namespace), Pattern (keys
	// matching the glob; namespace-level events pass), Where (puts whose
	// value matches; every other event passes), FromRevision (the events
	// after a revision; without it, the events committed after Watch was
	// called), OmitValues, OnStart.
	//
	// The iteration runs until ctx ends (then it stops without an error),
	// the loop breaks, or an error: the error is yielded once, with the
	// zero Event, and ends it. A resume with FromRevision older than what
	// the store retains is ErrCompacted (see *CompactedError); a consumer
	// that falls behind by more than the watch's buffer is cut off with
	// ErrWatchLagged (see *LaggedError) instead of making writers wait,
	// and resumes with FromRevision of the last revision it got.
	//
	// Expiry: an entry is invisible from its ExpiresAt on, but its expire
	// event comes when the sweeper removes it, later. A write over an
	// entry whose expiry passed and that the sweeper had not removed yet
	// (Set, SetMany, with any option, in a transaction or not) is the
	// key's creation: one put event with PrevRevision 0, Version 1 and
	// CreatedAt the write's time, and no expire event for the old entry,
	// then or later. An import (sqlstore's Restore) over such an entry
	// replaces it as it replaces a live one, a removal then a put: an
	// expire event (PrevRevision the old entry's revision), then the put
	// (PrevRevision 0). So a consumer that rebuilds the store from the
	// events, applying puts (a put replaces whatever it holds for the
	// key), deletes, expiries, clears and namespace deletes, and hides the
	// entries whose event's ExpiresAt has passed, holds what the store
	// holds.
	Watch(ctx context.Context, opts ...Option) iter.Seq2[Event, error]
}

// Historian is the optional ability of a Store to answer from its change
// log: a key's past revisions, and (with AtRevision on Get) its state at a
// past revision. The log keeps the changes of the store's retention window
// only: what compaction removed cannot be read (ErrCompacted).
type Historian interface {
	// History returns the changes of key (puts, metadata changes,
	// deletes, expiries; not the clears and namespace deletes that also
	// removed it, which Watch reports), oldest first, within the retained
	// window. Options: InNamespace, FromRevision (the changes after a
	// revision: page with the last revision of the previous page; older
	// than the window is ErrCompacted), Limit (at most that many; without
	// it DefaultHistoryLimit), OmitValues. A backend may end a page
	// before Limit to bound its size in bytes (sqlstore: once its values
	// and metadata reach 4 MiB, after at least one change): read on with
	// FromRevision(last revision of the page) until a page comes back
	// empty, not until one is shorter than Limit. Events carry no
	// CreateRevision: a put with PrevRevision 0 starts a life of the key
	// (its revision is the CreateRevision of that life's changes), and Get
	// with AtRevision(ev.Revision) reports it, 0 when compaction removed
	// that put and the live entry is of a later life.
	History(ctx context.Context, key string, opts ...Option) ([]Event, error)
}

// DefaultHistoryLimit is how many changes History returns at most when no
// Limit is given.
const DefaultHistoryLimit = 1000

// CompactedError is the error of a watch or a read that needs a revision
// the store no longer retains. It wraps ErrCompacted.
type CompactedError struct {
	// Requested is the revision that was asked for. A Get AtRevision
	// within the window (Requested >= Oldest) is ErrCompacted too when
	// the key's state at Requested was written by a change that
	// compaction removed (a put before the window, deleted after
	// Requested).
	Requested int64
	// Oldest is the oldest revision the change log still holds: a watch
	// can resume from Oldest-1 on (FromRevision(Oldest-1) delivers Oldest
	// onward), and a read at a past revision needs Oldest or later.
	Oldest int64
}

func (e *CompactedError) Error() string {
	if e.Requested >= e.Oldest {
		return fmt.Sprintf("%s: the key's state at revision %d was written before the oldest retained revision %d",
			ErrCompacted.Error(), e.Requested, e.Oldest)
	}
	return fmt.Sprintf("%s: revision %d is older than the oldest retained revision %d", ErrCompacted.Error(), e.Requested, e.Oldest)
}

func (e *CompactedError) Unwrap() error { return ErrCompacted }

// FutureRevisionError is the error of a Watch or History FromRevision,
// or a Get AtRevision, beyond the store's current revision. It wraps
// ErrInvalidOption, as it
// always did; errors.As tells it from the other invalid options, on the
// engine (SQLite and PostgreSQL alike), through the security wrapper and
// over the wire (invalid_option with error.revision the store's revision
// and error.requested the one asked for; client.Store's error unwraps to
// this type).
//
// A store gives a revision only to a committed change, so a consumer
// holds a revision beyond the current one only when it got it from
// another store: resuming against a store restored from an older backup,
// a different database behind the same address, a store rebuilt from an
// export (whose revisions start again). Its revisions name other changes
// than the consumer's, and waiting for the store to reach r (as etcd's
// watch does with a future start revision) would deliver, from there on,
// changes that do not follow what the consumer holds, and skip the ones
// in between without a word. So the watch is refused: the consumer
// rebuilds its state (a snapshot, then a watch FromRevision of the
// snapshot's revision) or takes Current as its new start knowingly.
type FutureRevisionError struct {
	// Requested is the revision that was asked for.
	Requested int64
	// Current is the store's current revision when it was refused.
	Current int64
	// At says the revision was asked with AtRevision (a Get), not
	// FromRevision; it only names the option in the message.
	At bool
}

func (e *FutureRevisionError) Error() string {
	name := "FromRevision"
	if e.At {
		name = "AtRevision"
	}
	return fmt.Sprintf("%s: %s(%d) is ahead of the store's revision %d (a revision of another store, or of this one before a restore?)",
		ErrInvalidOption.Error(), name, e.Requested, e.Current)
}

func (e *FutureRevisionError) Unwrap() error { return ErrInvalidOption }

// LaggedError is the error that cuts off a watch whose consumer fell behind
// by more than the watch's buffer. It wraps ErrWatchLagged.
type LaggedError struct {
	// Last is the revision of the last event the watch delivered (the
	// starting revision when it delivered none): resume with
	// FromRevision(Last).
	Last int64
}

func (e *LaggedError) Error() string {
	return fmt.Sprintf("%s: the consumer fell behind; resume from revision %d", ErrWatchLagged.Error(), e.Last)
}

func (e *LaggedError) Unwrap() error { return ErrWatchLagged }

// FromRevision makes Watch deliver the changes after revision r (r >= 0:
// 0 is every retained change), and History return the changes after r. A
// revision older than the store retains is ErrCompacted; one beyond the
// store's current revision is ErrInvalidOption, as a *FutureRevisionError
// (see there why it is refused rather than waited for).
func FromRevision(r int64) Option {
	return driver.RevisionOption(r, true)
}

// AtRevision makes Get return the key as it was at revision r (r >= 1),
// from the change log: ErrNotFound when it did not exist then (or its
// expiry had passed by then, by the time of the change at or before r,
// whether or not the sweeper had removed it),
// ErrCompacted when r, or the key's last change before it, is older than
// the store retains, and ErrInvalidOption, as a *FutureRevisionError, when
// r is beyond the store's current revision. The entry's Revision is that
// of its last change at or before r, and its CreateRevision that of the
// change that started the
// key's life then (its creation, a re-creation after a delete or an
// expiry, an import); 0 when that change is no longer retained and the
// live entry is of a later life (unknown).
func AtRevision(r int64) Option {
	return driver.RevisionOption(r, false)
}

// OnStart makes Watch call fn once it has started, before it yields any
// event, with the revision it delivers the changes after: FromRevision's
// (for FromRevision(0), the revision before the oldest retained change),
// or the store's revision when the watch began. A watch that fails to
// start (an invalid option, a denial, ErrCompacted) yields its error
// without calling fn. A layer that carries a watch elsewhere (the routes'
// storage://watch) tells its own consumer where the stream starts, so
// that it can resume before any event arrived. fn runs on the goroutine
// that iterates.
func OnStart(fn func(revision int64)) Option {
	return driver.NewOption(driver.KindOnStart, func(c *driver.CallOptions) error {
		if fn == nil {
			return invalid(ErrInvalidOption, "OnStart(nil)")
		}
		c.OnStart = fn
		return nil
	})
}

// OmitValues makes Watch and History leave out values and metadata
// (Event.Value and Event.Metadata stay nil), for consumers that only need
// to know what changed. Given to ListNamespaces, it leaves out every
// namespace's metadata (Namespace.Metadata stays nil).
func OmitValues() Option {
	return driver.FlagOption(driver.KindOmitValues)
}
