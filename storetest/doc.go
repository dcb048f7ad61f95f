// Package storetest is the conformance suite of the Storage Contract: the
// tests every implementation of storage.Store, and every configuration of
// one, must pass. SQLite and PostgreSQL give the same answers to the same
// calls because both pass the same suite.
//
// A backend runs the suite from a test of its own, with a Harness that opens
// a fresh, empty store for each test and declares the optional abilities the
// backend has:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			Name: "sqlite",
//			New: func(t *testing.T, cfg storetest.Config) storage.Store {
//				opts := []sqlstore.Option{sqlstore.WithCapacity(cfg.Capacity)}
//				if cfg.MaxValueSize > 0 {
//					opts = append(opts, sqlstore.WithMaxValueSize(cfg.MaxValueSize))
//				}
//				dsn := "sqlite:" + filepath.Join(t.TempDir(), "test.db")
//				s, err := sqlstore.Open(t.Context(), dsn, opts...)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s // the suite closes it
//			},
//			Supports: storetest.Supports{Capacity: true, MaxValueSize: true},
//			Check: func(t *testing.T, s storage.Store) {
//				// optional: verify the backend's own invariants
//			},
//		})
//	}
//
// Run's subtests are named "Group/Test": Keys, Namespaces, NamespaceOps,
// Values, Set, Get, Has, Delete, Metadata, GetMany, SetMany, DeleteMany,
// Options, Clear, Status, Capacity, Closed, Context, List, Query and Count.
// One group or test runs with, for example,
// go test -run 'TestConformance/SetMany/Atomic'.
// Groups run one after another and the tests of a group in parallel, each
// with its own store; the cases of a table-driven test share their test's
// store and run in order. A test of an ability the harness does not declare
// in Supports is skipped with a message saying so.
//
// # What the suite asserts
//
// Errors are compared only with errors.Is against the sentinels of package
// storage (and context.Canceled, context.DeadlineExceeded). Every error must
// also read "storage: …" and wrap at most one sentinel.
//
// Values are compared by meaning with JSONEqual: a database may reorder
// object members, drop whitespace and respell numbers (PostgreSQL writes
// 1e300 as a 1 followed by 300 zeros), but never change a value.
// Timestamps are compared with time.Time methods, so any location and any
// precision down to a microsecond will do; they must lie within an hour of
// the test machine's clock.
//
// "Nothing written" is checked through the interface: Status().Size, the
// list of namespaces, and the values, metadata and versions of the keys
// involved are what they were before the refused call.
//
// Where the contract leaves a choice open, the suite fixes it, so that every
// backend makes the same one:
//
//   - An expected-version write (IfVersion) on a missing key is
//     ErrConflict for Set (which would create the key), but ErrNotFound for
//     Delete and SetMetadata, which report a missing key so in any case.
//   - A batch call reports per-key failures in its BatchResult; the call's
//     own error is then nil, or wraps one of those failures. Invalid
//     options or namespaces, a closed store and a done context fail the call
//     itself.
//   - A key given more than once to SetMany or DeleteMany has one
//     KeyResult, at its first position; for SetMany its last occurrence wins
//     whole (value and Metadata, a nil Metadata included) and is written
//     once, so a new key gets version 1.
//   - When an atomic batch fails, each failing key carries its own error;
//     the other keys may carry an error too, and their Version is 0.
//   - A SetMany whose new keys would take the store past its capacity
//     writes nothing, atomic or not, and every key that had no error of its
//     own fails with ErrCapacityExceeded. Capacity counts entries in all
//     namespaces.
//   - A failed write, including one refused for capacity, does not create
//     the namespace it names; neither does any read.
//   - The size limit (Config.MaxValueSize) applies to the JSON encoding of a
//     value as given, and equally to metadata; a value of exactly the limit
//     is accepted.
//   - Close on a closed store returns nil; every other operation on it,
//     Status and ListNamespaces included, returns ErrClosed.
//   - Deleting the default namespace is allowed; the next write to it
//     recreates it.
package storetest
