# Benchmarks of the engine against hand-written SQL (see bench/README.md).
# PostgreSQL runs when STORAGE_TEST_POSTGRES_DSN is set.

.PHONY: bench bench-full bench-test

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
