# Benchmarks of the engine against hand-written SQL (see bench/README.md).
# PostgreSQL runs when STORAGE_TEST_POSTGRES_DSN is set.

.PHONY: bench bench-full bench-test bench-peers bench-peers-full

# The short run: 10k entries of 256 B on SQLite and PostgreSQL, under 5 minutes.
bench:
	go run ./cmd/storebench -short

# The full matrix: 10k, 100k and 1M entries of 256 B and 4 KB, 30 s mixed
# runs (several hours on a small machine).
bench-full:
	go run ./cmd/storebench -full

# The benchmark program's own test: every workload once at a tiny size.
bench-test:
	go test -count=1 -run 'TestRunTiny|TestValueSize' ./bench/

# The engine beside bbolt, mattn/go-sqlite3 and hand-written modernc and pgx
# code (bench/peers, a module of its own): 10k and 100k entries, under 5 minutes.
bench-peers:
	cd bench/peers && go run . -short

# The same at 10k, 100k and 1M entries.
bench-peers-full:
	cd bench/peers && go run . -full
