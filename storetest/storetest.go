package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// Config is how the suite wants a store opened. The zero value is a store
// without a capacity and with the default maximum value size.
type Config struct {
	// Capacity is the maximum number of entries the store may hold; 0 means
	// none. The suite sets it only when Supports.Capacity is declared.
	Capacity int64
	// MaxValueSize is the maximum size in bytes of a value's (and
	// metadata's) JSON encoding; 0 means the store's default,
	// storage.DefaultMaxValueSize. The suite sets it only when
	// Supports.MaxValueSize is declared.
	MaxValueSize int
	// Clock, when not nil, is the clock the store must use for everything
	// it dates: created and updated times, expiry times from a TTL, and
	// what has expired. The suite sets it only when Supports.Expiry is
	// declared, and moves it forward to make entries expire.
	Clock func() time.Time
}

// Supports declares the optional abilities of a backend. The suite runs the
// tests of an ability only when it is declared, and skips them (with a
// reason) otherwise.
type Supports struct {
	// Capacity: the store honors Config.Capacity.
	Capacity bool
	// MaxValueSize: the store honors Config.MaxValueSize.
	MaxValueSize bool
	// Transactions: Begin returns working transactions, and LookupTx finds
	// the open ones (the Transactions group).
	Transactions bool
	// Expiry: the store keeps expiry times (storage.WithTTL, ExpiresAt,
	// KeepTTL, Item.TTL ...) and honors Config.Clock. The "Expiry" tests run
	// only when it is declared.
	Expiry bool
	// Revisions: the store keeps store-wide revisions (Entry.Revision,
	// KeyResult.Revision, Status.Revision) and honors IfRevision,
	// MustExist and Written. The "Revisions" tests run only when it is
	// declared.
	Revisions bool
}

// Harness connects the suite to one backend and configuration.
type Harness struct {
	// Name names the backend in skip and failure messages, e.g. "sqlite".
	Name string

	// New returns a fresh, empty store opened with cfg: no entries, and only
	// the "default" namespace. Each call must return a store that shares no
	// data with any other. New reports its own failures with t.Fatal. The
	// suite closes the store when the test ends; New may register cleanups
	// of its own with t.Cleanup (they run after the suite's Close).
	New func(t *testing.T, cfg Config) storage.Store

	// Supports declares optional abilities.
	Supports Supports

	// Check, if set, is run in t.Cleanup on every store the suite made,
	// before Close, to verify the backend's invariants (for example that a
	// cached entry count matches the rows). It is not run on a store the
	// test has closed itself. It must not use t.Context, which is already
	// cancelled when cleanups run.
	Check func(t *testing.T, s storage.Store)
}

// suite is the state shared by the tests of one Run.
type suite struct {
	h Harness
}

// test is one named conformance test.
type test struct {
	name string
	fn   func(t *testing.T, s *suite)
}

// group is a named set of tests, run as Run's first level of subtests.
type group struct {
	name  string
	tests []test
}

// Run runs the conformance suite against the backend h describes, as
// subtests of t named "Group/Test" (for example "Keys/Empty",
// "Values/NaN", "Set/NoOverwrite"). Groups run one after another; the tests
// of a group run in parallel, each against its own store from h.New.
// Table-driven tests run their cases as further, sequential subtests that
// share the test's store.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	s := &suite{h: h}
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, s)
				})
			}
		})
	}
}

// groups lists every test of the suite.
func groups() []group {
	return []group{
		{"Keys", keyTests},
		{"Namespaces", namespaceTests},
		{"NamespaceOps", namespaceOpTests},
		{"NamespacePages", nsPageTests},
		{"Values", valueTests},
		{"Set", setTests},
		{"Get", getTests},
		{"Has", hasTests},
		{"Delete", deleteTests},
		{"Metadata", metadataTests},
		{"GetMany", getManyTests},
		{"SetMany", setManyTests},
		{"DeleteMany", deleteManyTests},
		{"Options", optionTests},
		{"Clear", clearTests},
		{"Status", statusTests},
		{"Capacity", capacityTests},
		{"Closed", closedTests},
		{"Context", contextTests},
		{"List", listTests},
		{"Query", queryTests},
		{"Count", countTests},
		{"Transactions", txTests},
		{"Expiry", expiryTests},
		{"Indexes", indexTests},
		{"Limits", limitTests},
		{"Revisions", revisionTests},
	}
}

// handle is one store the suite made, with what its cleanup needs to know.
type handle struct {
	storage.Store
	closedByTest bool
}

// open makes a store with cfg and registers its cleanup: h.Check (unless
// the test closed the store itself), then Close.
func (s *suite) open(t *testing.T, cfg Config) *handle {
	t.Helper()
	st := s.h.New(t, cfg)
	if st == nil {
		t.Fatalf("storetest: %s: Harness.New returned a nil store", s.name())
	}
	hd := &handle{Store: st}
	t.Cleanup(func() {
		if !hd.closedByTest && s.h.Check != nil {
			s.h.Check(t, st)
		}
		if err := st.Close(); err != nil && (!hd.closedByTest || !errors.Is(err, storage.ErrClosed)) {
			t.Errorf("Close: %v", err)
		}
	})
	return hd
}

// newStore makes a store with the zero Config.
func (s *suite) newStore(t *testing.T) storage.Store {
	t.Helper()
	return s.open(t, Config{}).Store
}

// name is the harness's name for messages.
func (s *suite) name() string {
	if s.h.Name == "" {
		return "backend"
	}
	return s.h.Name
}

// needCapacity skips t unless the harness declares Supports.Capacity.
func (s *suite) needCapacity(t *testing.T) {
	t.Helper()
	if !s.h.Supports.Capacity {
		t.Skipf("%s does not declare Supports.Capacity", s.name())
	}
}

// needExpiry skips t unless the harness declares Supports.Expiry.
func (s *suite) needExpiry(t *testing.T) {
	t.Helper()
	if !s.h.Supports.Expiry {
		t.Skipf("%s does not declare Supports.Expiry", s.name())
	}
}

// needMaxValueSize skips t unless the harness declares Supports.MaxValueSize.
func (s *suite) needMaxValueSize(t *testing.T) {
	t.Helper()
	if !s.h.Supports.MaxValueSize {
		t.Skipf("%s does not declare Supports.MaxValueSize", s.name())
	}
}
