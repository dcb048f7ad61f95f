#!/usr/bin/env bash
# Starts a hot standby of the test server (.ci/postgres.sh), streaming from
# it on loopback, and prints the standby's DSN on stdout. sqlstore's
# WithReplica tests (STORAGE_TEST_REPLICA_DSN) route read-only transactions
# to it. Idempotent: a standby already running on the port is reused.
#
#   export STORAGE_TEST_REPLICA_DSN="$(bash .ci/replica.sh)"
#   bash .ci/replica.sh stop
set -euo pipefail

PRIMARY_PORT="${STORAGE_TEST_PG_PORT:-55432}"
PORT="${STORAGE_TEST_REPLICA_PORT:-55434}"
DIR="${STORAGE_TEST_REPLICA_DIR:-/tmp/storage-test-pg-replica}"
DSN="postgres://postgres@127.0.0.1:${PORT}/postgres?sslmode=disable"

log() { echo "replica.sh: $*" >&2; }

BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$BIN" ]; then
	log "no PostgreSQL: run .ci/postgres.sh first"
	exit 1
fi
RUNAS=postgres
id "$RUNAS" >/dev/null 2>&1 || RUNAS=nobody

if [ "${1:-}" = "stop" ]; then
	if [ -f "$DIR/postmaster.pid" ]; then
		runuser -u "$RUNAS" -- "$BIN/pg_ctl" -D "$DIR" -w -t 30 stop -m fast >&2 || true
	fi
	rm -rf "$DIR"
	exit 0
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
	echo "$DSN"
	exit 0
fi
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PRIMARY_PORT"; then
	log "no primary answers on port $PRIMARY_PORT: run .ci/postgres.sh first"
	exit 1
fi

rm -rf "$DIR"
mkdir -p "$DIR"
chown "$RUNAS" "$DIR"
chmod 700 "$DIR"
# max_connections must be at least the primary's (300, .ci/postgres.sh).
# -R writes standby.signal and primary_conninfo; -X stream copies the WAL
# the backup needs. The primary's pg_hba.conf (initdb --auth=trust) lets
# replication connections in from 127.0.0.1.
runuser -u "$RUNAS" -- "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres \
	-D "$DIR" -R -X stream -c fast >&2
runuser -u "$RUNAS" -- "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
	-o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c hot_standby=on -c hot_standby_feedback=on" \
	start >&2
echo "$DSN"
