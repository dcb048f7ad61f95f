package observe

import (
	"context"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// The operation names an Event carries: the same spelling as the Op of the
// *storage.OpError the engine returns for the operation.
const (
	OpGet             = "get"
	OpSet             = "set"
	OpDelete          = "delete"
	OpHas             = "has"
	OpGetMany         = "getMany"
	OpSetMany         = "setMany"
	OpDeleteMany      = "deleteMany"
	OpGetMetadata     = "getMetadata"
	OpSetMetadata     = "setMetadata"
	OpClear           = "clear"
	OpList            = "list"
	OpQuery           = "query"
	OpCount           = "count"
	OpCreateNamespace = "createNamespace"
	OpDeleteNamespace = "deleteNamespace"
	OpListNamespaces  = "listNamespaces"
	OpCreateIndex     = "createIndex"
	OpDropIndex       = "dropIndex"
	OpBegin           = "begin"
	OpCommit          = "commit"
	OpRollback        = "rollback"
	OpStatus          = "status"
	OpWatch           = "watch"
	OpHistory         = "history"
)

// Ops lists every operation name an Event can carry.
func Ops() []string {
	return []string{
		OpGet, OpSet, OpDelete, OpHas, OpGetMany, OpSetMany, OpDeleteMany,
		OpGetMetadata, OpSetMetadata, OpClear, OpList, OpQuery, OpCount,
		OpCreateNamespace, OpDeleteNamespace, OpListNamespaces, OpCreateIndex, OpDropIndex,
		OpBegin, OpCommit, OpRollback, OpStatus, OpWatch, OpHistory,
	}
}

// Event describes one operation. Hook.Start sees the fields known before
// the call (Op, Key, Keys, TxID, Start, and Namespace); Hook.End sees them
// all.
type Event struct {
	// Op is the operation, one of the Op constants.
	Op string
	// Key is the key of a single-key operation (get, set, delete, has,
	// getMetadata, setMetadata); "" otherwise.
	Key string
	// Keys is the batch size of getMany, setMany and deleteMany: the number
	// of keys or items passed, duplicates included; 0 otherwise.
	Keys int
	// TxID is the ID of the transaction the operation runs in; "" outside
	// one. For begin it is set once the transaction exists (in End).
	TxID string
	// Start is when the operation started (wall clock with a monotonic
	// reading).
	Start time.Time
	// Duration runs from Start to the wrapped store's return: the store's
	// time plus that of the hooks' Start, not of their End.
	Duration time.Duration
	// Rows is how many rows the operation touched (see the package
	// documentation for each operation); -1 means unknown.
	Rows int64
	// Err is the error the operation returned, unchanged (nil on success).
	// A batch's per-key failures are not in Err: they are the batch keys
	// not counted in Rows.
	Err error

	// ns is the namespace when opts has no InNamespace; opts are the
	// operation's options, resolved by Namespace only when asked.
	ns   string
	opts []storage.Option
}

// Namespace returns the namespace the operation addresses, as the store
// resolves it: storage.DefaultNamespace when no InNamespace was given. For
// createNamespace and deleteNamespace it is the name passed. It is "" for
// Clear and Watch without InNamespace (every namespace), for the store-wide
// operations (listNamespaces, begin, commit, rollback, status), and when
// the namespace given is invalid (the store then refuses the call, and Err
// says why).
//
// Resolving InNamespace validates the name again, which costs about half
// a microsecond, so it is done only when a hook asks: a hook that needs
// the namespace more than once should keep it. A hook that keeps the Event
// past End should call Namespace before, as the options belong to the
// caller.
func (ev Event) Namespace() string {
	for i := range ev.opts {
		if ev.opts[i].Kind() == driver.KindNamespace {
			c, err := driver.ResolveOptions(ev.Op, driver.KindNamespace, ev.opts[i:i+1])
			if err != nil {
				return ""
			}
			return c.Namespace.Name
		}
	}
	return ev.ns
}

// Hook observes operations. Start is called before the wrapped store runs
// the operation and returns the context the store is called with (a tracer
// starts its span there, so the store's own work nests under it); End is
// called once the store returned, with the context Start returned and the
// completed event. Both are called on the caller's goroutine; a Hook must be
// safe for concurrent use, as calls on one store may run concurrently. The
// Event is passed by value: a hook may keep it.
//
// A panic in the wrapped store propagates without End being called.
type Hook interface {
	Start(ctx context.Context, ev Event) context.Context
	End(ctx context.Context, ev Event)
}

// EndFunc is a Hook that only looks at completed operations: Start returns
// ctx unchanged and End calls the function.
type EndFunc func(ctx context.Context, ev Event)

// Start implements Hook.
func (EndFunc) Start(ctx context.Context, _ Event) context.Context { return ctx }

// End implements Hook.
func (f EndFunc) End(ctx context.Context, ev Event) { f(ctx, ev) }

// Hooks combines hooks into one: Start runs them in order, each given the
// context the previous returned; End runs them in reverse order, all given
// the context the last Start returned (a hook that needs its own state at
// End stores it in the context under a key of its own). Nil hooks are
// dropped; Hooks of no hook is nil, and of one hook is that hook.
func Hooks(hs ...Hook) Hook {
	var out multi
	for _, h := range hs {
		if h != nil {
			out = append(out, h)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

type multi []Hook

func (m multi) Start(ctx context.Context, ev Event) context.Context {
	for _, h := range m {
		ctx = h.Start(ctx, ev)
	}
	return ctx
}

func (m multi) End(ctx context.Context, ev Event) {
	for i := len(m) - 1; i >= 0; i-- {
		m[i].End(ctx, ev)
	}
}

// Wrap returns a store that reports every operation on s, and on the
// transactions begun or looked up through it, to h. It changes nothing
// else: results and errors pass through untouched. With a nil h, Wrap
// returns s itself, so an unobserved store costs nothing.
func Wrap(s storage.Store, h Hook) storage.Store {
	if h == nil {
		return s
	}
	return &Store{ops: ops{inner: s, hook: h}, inner: s}
}
