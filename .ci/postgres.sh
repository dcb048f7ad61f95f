#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests and prints its DSN on
# stdout. Idempotent: a server already running on the port is reused.
# Installs PostgreSQL from Debian's packages when it is missing.
#
#   export STORAGE_TEST_POSTGRES_DSN="$(bash .ci/postgres.sh)"
set -euo pipefail

PORT="${STORAGE_TEST_PG_PORT:-55432}"
DIR="${STORAGE_TEST_PG_DIR:-/tmp/storage-test-pg}"
DSN="postgres://postgres@127.0.0.1:${PORT}/postgres?sslmode=disable"

log() { echo "postgres.sh: $*" >&2; }

bindir() {
	local d
	d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
	echo "$d"
}

BIN="$(bindir)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
	log "installing PostgreSQL from Debian's packages"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq postgresql >&2
	BIN="$(bindir)"
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
	echo "$DSN"
	exit 0
fi

# The server refuses to run as root: run it as the postgres user (created by
# the Debian package) or, failing that, as nobody.
RUNAS=postgres
id "$RUNAS" >/dev/null 2>&1 || RUNAS=nobody

if [ ! -f "$DIR/PG_VERSION" ]; then
	rm -rf "$DIR"
	mkdir -p "$DIR"
	chown "$RUNAS" "$DIR"
	runuser -u "$RUNAS" -- "$BIN/initdb" -D "$DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
chown -R "$RUNAS" "$DIR"
runuser -u "$RUNAS" -- "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
	-o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c full_page_writes=off" \
	start >&2
echo "$DSN"
