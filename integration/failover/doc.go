// Package failover drives a bounded write load through the engine and
// through the HTTP server (httpapi, what cmd/storeserver serves) against a
// pg_auto_failover formation on loopback (.ci/autofailover.sh), fails the
// primary over, and checks that nothing acknowledged is lost.
//
//	export STORAGE_TEST_FAILOVER_DSN="$(bash .ci/autofailover.sh start)"
//	cd integration && go test -count=1 -run TestFailover -v ./failover
//
// Without STORAGE_TEST_FAILOVER_DSN the test is skipped, or fails when
// CI=true.
//
// What it asserts, per fault (pg_autoctl perform failover; SIGKILL of the
// primary node's pg_autoctl and postmaster, which fails over, where killing
// the postmaster alone only restarts it in place): the monitor promotes the
// other node; every acknowledged write (single Sets, atomic SetMany batches,
// RunInTx transfers) is on the new primary; the accounts' total is
// conserved; every write that failed is wholly applied or wholly absent,
// and one applied said it might be (ErrCommitUnknown, or its own deadline's
// end for a single write or batch); every failure, through the engine and
// over HTTP, is a storage sentinel (ErrUnavailable, ErrTxConflict,
// ErrCommitUnknown) or the caller's deadline, never a driver or internal
// error; the same pool writes again by itself. It logs the time from the
// fault to steady writes. STORAGE_TEST_FAILOVER_RUNS (default 1) repeats
// each fault, for the median recovery time. The script's environment
// (STORAGE_TEST_AUTOFAILOVER_DIR, STORAGE_TEST_AUTOFAILOVER_PORT) must be
// the one the formation was started with.
package failover
