// Package integration holds the storage engine's tests against containerized
// PostgreSQL (testcontainers-go) and its fault tests. It is a module of its
// own, so that testcontainers and the Docker client never enter the root
// module's dependencies; its go.mod replaces the root module with "../".
//
// Run from this directory:
//
//	bash image/build.sh   # once: builds the PostgreSQL image, no registry needed
//	go test -count=1 ./...
//
// The image is STORAGE_TEST_PG_IMAGE (default mycelia-storage/postgres:15-local,
// built by image/build.sh from Debian's packages); on a machine that can pull,
// the official image works too (STORAGE_TEST_PG_IMAGE=postgres:16-alpine).
// The reaper (ryuk) is disabled (TESTCONTAINERS_RYUK_DISABLED=true, set by
// the tests unless already set) and every container is removed in
// t.Cleanup. Without a Docker engine, or without the image, the tests skip
// with a message saying so; with CI=true they fail instead.
//
// What runs:
//
//   - TestConformance: the storetest suite on sqlstore against the container,
//     a fresh schema per test.
//   - TestMigrateCLI: the built migrate binary's up, down, redo and reset; the
//     schema after redo (pg_dump --schema-only) equals the schema before, and
//     data written after up survives later ups.
//   - TestMigrateConcurrentUp: four migrate up processes at once apply each
//     migration exactly once.
//   - TestRestartDuringWrites, TestKillDuringWrites: a write workload through
//     one store while the container is restarted (docker restart), or killed
//     (docker kill) and started again, with fsync on; the pool recovers and
//     every acknowledged write is there afterwards.
//   - TestSQLiteKillDurability: a child process writes to a SQLite store
//     (synchronous=full) and logs each acknowledged write; it is killed with
//     SIGKILL at random points, again and again; after each kill every
//     acknowledged write is present and PRAGMA integrity_check says ok.
//   - failover.TestFailover (package failover, no Docker): a pg_auto_failover
//     formation on loopback started by ../.ci/autofailover.sh; see that
//     package's documentation. `go test ./...` needs its DSN
//     (STORAGE_TEST_FAILOVER_DSN) or skips it (fails it with CI=true).
package integration
