// Package security adds principal-based access control to any
// storage.Store.
//
// A principal is identified by its PKR, a public-key record; its canonical
// form is the public key, exactly as it appears in principal://{pkr}. A
// Profile maps scopes to permissions (r, w, rw) in the seed's shape; a
// Policy holds what the profiles applied to each principal grant. The
// scopes are
//
//	storage://namespace/{name}          storage://namespace/*
//	principal://{pkr}                   principal://{pkr}/namespace/{name}
//	principal://{pkr}/namespace/*       principal://{pkr}/data/*
//	principal://{pkr}/*                 principal://*
//	storage://transactions
//
// NewStore wraps a store so that every call is checked against the policy
// for the principal the call's context carries (WithPrincipal, which also
// names it as the actor recorded in the created-by and updated-by audit
// fields).
//
//	pol := security.NewPolicy()
//	alice, _ := security.NewPKR("alice-pk", nil)
//	_ = pol.Apply(alice, security.Profile{Name: "users-rw",
//		Scopes: map[string]string{"storage://namespace/users": "rw"}})
//	st := security.NewStore(inner, pol)
//	ctx = security.WithPrincipal(ctx, alice)
//	err := st.Set(ctx, "u1", user, storage.InNamespace("users"))
//
// # Rules
//
//   - No principal in the context is storage.ErrUnauthenticated, unless the
//     store was built with AllowAnonymous: then the call runs as the
//     anonymous principal, with what Policy.ApplyAnonymous granted.
//   - The unit of permission is the namespace. Reads (Get, Has, GetMany,
//     GetMetadata, List, Query, Count) need read on it; writes (Set,
//     Delete, SetMany, DeleteMany, SetMetadata, Clear) and CreateNamespace
//     and DeleteNamespace need write on it. Read and write are independent:
//     w does not imply r. A principal with write only can still learn
//     whether a key exists from a write's outcome (ErrNotFound,
//     ErrAlreadyExists, ErrConflict).
//   - A principal owns principal://{pkr} and principal://{pkr}/namespace/…
//     (rw), and the keys principal://{pkr}/data/… in any namespace.
//     storage://namespace/* never reaches them. They are shared only by an
//     explicit principal-scoped grant (principal://{pkr}/…, or
//     principal://* for administrators): that is the one way to share.
//   - A key principal://{pkr}/data/… needs both the permission on its
//     namespace and ownership of (or a grant on) {pkr}'s data: ownership
//     restricts access inside a namespace, it never widens it.
//   - A key that starts with the principal scheme in any letter case must
//     be canonical: "principal://", a valid {pkr}, "/data/", then non-empty
//     segments that are not "." or "..", with no "\" and no percent-encoded
//     "/" or "\". That is storage.KeyOwner, the one rule every path uses:
//     the engine refuses any other such key (another case, an empty or
//     look-alike {pkr}, "..", "%2F", a trailing slash, "//") with
//     storage.ErrInvalidKey, for everyone, administrators included, so no
//     store holds one; this layer denies it before that to everyone but
//     holders of principal://*. Because every stored key in the scheme is
//     canonical, the key ranges that List, Query and Count add are exact.
//     Keys are opaque and compared byte-wise, so a look-alike that does not
//     start with the scheme ("рrincipal://…" with a Cyrillic "р") is an
//     ordinary key of its namespace and reaches nobody's data.
//   - A denial is storage.ErrPermissionDenied, decided before the wrapped
//     store is called, whether or not the key or namespace exists; nothing
//     is written. Invalid options and namespace names are refused with the
//     usual validation errors, which reveal nothing either.
//   - Batches check every key: denied keys get a per-key
//     ErrPermissionDenied and the permitted ones go ahead under the batch's
//     normal rules. With Atomic, one denied key writes nothing and the
//     others get ErrAborted.
//   - List, Query and Count show only what the caller may read: they pass
//     the wrapped store storage.InKeyRanges with the key ranges the caller
//     may see (the keys outside the principal scheme and the data keys of
//     each owner it may read; a caller's own InKeyRanges is intersected
//     with them), so filtering, paging, cursors and counts happen in the
//     database, never reveal hidden rows, and a page costs about what the
//     visible keys on it cost however many hidden keys lie between them
//     (sqlstore reads each range as its own span of the primary key). The
//     wrapped store must therefore accept InKeyRanges on List, Query and
//     Count, as sqlstore does; the HTTP client does not (it refuses the
//     option), so this layer belongs on the server, in front of the
//     engine. ListNamespaces returns the namespaces the caller may read;
//     the store reads only those when it takes the hint
//     (driver.WithNamespaceScope, as sqlstore does), so one principal's
//     many namespaces do not slow another's listing. Its pages (Limit,
//     After, OmitValues) are the store's, filtered and then filled: when
//     the store's page held namespaces the caller may not read, the rest
//     is read on after the store's last name, so that a page shorter
//     than Limit is still the last one.
//   - A principal owns at most MaxNamespacesPerPrincipal namespaces
//     (principal://{pkr} and the names under principal://{pkr}/namespace/;
//     DefaultMaxNamespacesPerPrincipal, 10,000, unless set), whoever
//     creates them: a CreateNamespace beyond is storage.ErrCapacityExceeded
//     and creates nothing, and so is a Set or SetMany into a missing
//     namespace of the owner's (a write creates its namespace), so that
//     one principal cannot fill the disk, an operator's listing and
//     Status's count. The namespaces are counted before each create
//     (driver.NamespaceCounter: sqlstore counts them on its name index
//     without reading them), and before a write into a namespace this
//     Store does not know to exist (it remembers the names its writes
//     found or created, outside transactions, and forgets the ones deleted
//     through it); one owner's creates take turns, so the bound is exact for one Store; Stores sharing a
//     database (several servers) see each other's creates once committed,
//     so k of them racing on one owner can pass it by at most k-1.
//     Callers with write on principal://* (operators) are not bound. Plain
//     namespaces are not counted: write on storage://namespace/*, which
//     creates any number of them, is an operator's grant.
//   - With MaxEntriesPerPrincipal (opt-in; storeserver
//     --max-entries-per-principal) the namespaces a principal owns hold at
//     most that many entries together, whoever writes them: a Set or
//     SetMany that could pass it is storage.ErrCapacityExceeded and writes
//     nothing, so that one principal cannot fill a store of a capacity or
//     the disk for every other. Each item counts as a new entry unless the
//     write has MustExist; a write the quota would refuse is checked again
//     without its keys that exist, so overwrites at the quota go on. The
//     owner's count (driver.EntryCounter: sqlstore sums its namespaces'
//     stored counts) is read when the Store's running count would reach
//     the quota or every 1,024 entries, not at each write. A transaction's
//     writes count until it ends. Operators are not bound.
//   - Clear with a namespace needs write on it, and is denied while the
//     namespace holds data keys the caller may not write. On a store that
//     is a driver.ProtectedClearer (sqlstore, under observe's wrapper or
//     not), the store checks for those keys inside its own clear: on
//     PostgreSQL one EXISTS per key range after the revision lock, which
//     every write takes before its snapshot, on SQLite under the single
//     writer. A key written concurrently is then either seen (denied) or
//     written after the clear (kept), and writers to the namespace do not
//     make the clear fail (before, the guard's own serializable
//     transaction failed with ErrTxConflict in 24 clears of 40 while
//     another principal wrote to the namespace). In a transaction, the
//     check and the clear run in it; on another store (the HTTP client)
//     they run in one serializable transaction of the guard's own when the
//     store has transactions, tried again on ErrTxConflict. Clear without
//     a namespace empties every namespace, principals' included, so it
//     needs write on both storage://namespace/* and principal://*. A
//     recursive DeleteNamespace follows Clear's rule: on a
//     driver.ProtectedClearer the store checks inside its delete; on
//     another store the guard empties the namespace as Clear does, then
//     deletes it only if it is still empty, so a key written in between
//     makes it fail with ErrNamespaceNotEmpty rather than disappear with
//     it.
//   - Watch shows the events the caller may read: with InNamespace it
//     needs read on the namespace (else ErrPermissionDenied before
//     anything is watched); a key-level event needs what Get of its key
//     needs, so other principals' data keys stay hidden; a
//     namespace-level event (clear, namespace create, delete) needs read
//     on its namespace. Grants are read again at every event. Without
//     InNamespace the wrapped store is passed the namespaces the caller
//     may read (driver.WatchScopeOption, asked again at each of its reads
//     of the change log), so that sqlstore reads only their changes rather
//     than every tenant's for this layer to drop, and wakes the watch only
//     for writes to them (sqlstore asks the scope again at each scan of
//     its log, every WithWatchPollInterval while it grows, so a grant that
//     no write announces still reaches a sleeping watch): a namespace
//     granted while the watch runs shows its changes committed after the
//     grant;
//     a store that ignores the hint (the HTTP client) is filtered here as
//     before. Event
//     revisions, and the revision a watch starts at (storage.OnStart),
//     are shown to every watcher: Status hides the store's revision from
//     principals that may not read everything, but the gaps between the
//     revisions a watcher sees tell the same. History and Get with
//     AtRevision need read on the key, as Get.
//   - Status is open to any authenticated principal, but Size and
//     Namespaces are reported as 0 unless the caller may read everything
//     (read on storage://namespace/* and principal://*), since they count
//     what it may not see. Capabilities and Close need no principal.
//   - Beginning a transaction needs a grant of its own, on the scope
//     storage://transactions: r to begin a read-only transaction, w a
//     read-write one (holders of r or w on everything, storage://namespace/*
//     and principal://* together, have it). A transaction holds a database
//     connection for as long as it is open. On SQLite a read-write one
//     holds the only writer from its beginning, and on PostgreSQL one that
//     has written holds the store's revision lock: every other write, any
//     principal's, waits until it ends (by its idle timeout or its
//     lifetime at the latest) or its own deadline passes. So it is a
//     resource an operator hands out rather than a right every principal
//     has. Engines add their own bounds: sqlstore caps the transactions of
//     one principal (WithMaxTxPerActor, keyed on the actor this store
//     sets), their number below the connection pool's size, and their
//     lifetime (WithTxMaxLifetime) whatever their activity.
//   - A transaction is bound to the principal that began it. LookupTx finds
//     only transactions begun through this store, and every call on one,
//     Commit and Rollback included, from another principal is denied; a
//     server reporting a transaction's isolation or read-only flag asks
//     Tx.Authorize first (routes' lookupTransaction does). Inside
//     a transaction the same rules hold, and a denial is decided before any
//     SQL runs, so it never aborts the transaction (on PostgreSQL too).
//
// A Policy is safe for concurrent use and may change while stores use it.
package security
