#!/usr/bin/env bash
# Starts PgBouncer in transaction pooling mode in front of the test
# PostgreSQL server (.ci/postgres.sh) and prints its DSN on stdout.
# Idempotent: a PgBouncer already answering on the port is reused. Installs
# PgBouncer from Debian's packages when it is missing. It runs as the
# postgres user (PgBouncer refuses root), listens on loopback only, and
# forwards every database name to the same name on the server, so a test
# gets a pool of its own by creating a database of its own.
#
#   export STORAGE_TEST_POSTGRES_DSN="$(bash .ci/postgres.sh)"
#   export STORAGE_TEST_PGBOUNCER_DSN="$(bash .ci/pgbouncer.sh)"
#   bash .ci/pgbouncer.sh stop
#
# Environment: STORAGE_TEST_PG_PORT (the server, default 55432),
# STORAGE_TEST_PGBOUNCER_PORT (default 55433), STORAGE_TEST_PGBOUNCER_DIR
# (default /tmp/storage-test-pgbouncer).
set -euo pipefail

PGPORT="${STORAGE_TEST_PG_PORT:-55432}"
PORT="${STORAGE_TEST_PGBOUNCER_PORT:-55433}"
DIR="${STORAGE_TEST_PGBOUNCER_DIR:-/tmp/storage-test-pgbouncer}"
DSN="postgres://postgres@127.0.0.1:${PORT}/postgres?sslmode=disable"

log() { echo "pgbouncer.sh: $*" >&2; }

RUNAS=postgres
id "$RUNAS" >/dev/null 2>&1 || RUNAS=nobody

if [ "${1:-}" = stop ]; then
	rm -f "$DIR/supervise"
	if [ -f "$DIR/supervisor.pid" ]; then
		kill "$(cat "$DIR/supervisor.pid")" 2>/dev/null || true
	fi
	if [ -s "$DIR/restarts.log" ]; then
		log "PgBouncer exited and was restarted during the run:"
		cat "$DIR/restarts.log" >&2
		grep -E 'FATAL|bad state' "$DIR/pgbouncer.log" >&2 || true
	fi
	if [ -f "$DIR/pgbouncer.pid" ]; then
		kill "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null || true
		for _ in $(seq 1 50); do
			[ -f "$DIR/pgbouncer.pid" ] || break
			sleep 0.1
		done
	fi
	rm -rf "$DIR"
	exit 0
fi

if ! command -v pgbouncer >/dev/null 2>&1; then
	log "installing PgBouncer from Debian's packages"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq pgbouncer >&2
fi

up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if up; then
	echo "$DSN"
	exit 0
fi

mkdir -p "$DIR"
# Trust, on loopback; a user not in auth_file is looked up through auth_user
# (the tests make a role per test).
printf '"postgres" ""\n' >"$DIR/userlist.txt"
cat >"$DIR/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
admin_users = postgres
auth_user = postgres
log_connections = 0
log_disconnections = 0
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 10
max_db_connections = 20
server_idle_timeout = 30
autodb_idle_timeout = 30
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
EOF
chown -R "$RUNAS" "$DIR"
# Supervised, as systemd's Restart= runs it in production: Debian 12's
# PgBouncer (1.18) exits on a FATAL assertion ("server in bad state")
# when a cancel request races a server connection's end, which the chaos
# tests provoke on purpose (pgbouncer/pgbouncer#822, #847; fixed in 1.21).
# The engine sees that exit as an outage (ErrUnavailable); the loop
# starts the pooler again so that the tests after it find it up, and
# `stop` prints each restart with the pooler's FATAL lines.
touch "$DIR/supervise"
setsid bash -c '
	while [ -e "$1/supervise" ]; do
		runuser -u "$2" -- pgbouncer "$1/pgbouncer.ini" >/dev/null 2>&1
		rc=$?
		[ -e "$1/supervise" ] || break
		echo "$(date -u +%FT%TZ) pgbouncer exited with status $rc; restarting" >>"$1/restarts.log"
		sleep 0.2
	done
' supervise "$DIR" "$RUNAS" </dev/null >/dev/null 2>&1 &
echo $! >"$DIR/supervisor.pid"
for _ in $(seq 1 50); do
	if up; then
		echo "$DSN"
		exit 0
	fi
	sleep 0.1
done
log "PgBouncer did not start; its log:"
cat "$DIR/pgbouncer.log" >&2 || true
exit 1
