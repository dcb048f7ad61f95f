#!/usr/bin/env bash
# A pg_auto_failover formation on loopback for the failover test: a monitor,
# then two data nodes (a primary and a synchronous secondary), each a
# `pg_autoctl … --run` in the background, run as the postgres user
# (pg_autoctl refuses root) with XDG directories of its own under DIR, so
# nothing is left in /tmp/pg_autoctl. Installs postgresql-15-auto-failover
# from Debian's packages when pg_autoctl is missing.
#
#   bash .ci/autofailover.sh start      # prints the clients' multi-host DSN
#   bash .ci/autofailover.sh state      # pg_autoctl show state
#   bash .ci/autofailover.sh primary    # the primary's node name (node1 or node2)
#   bash .ci/autofailover.sh failover   # pg_autoctl perform failover
#   bash .ci/autofailover.sh kill NODE  # SIGKILL the node's pg_autoctl and postmaster
#   bash .ci/autofailover.sh revive NODE  # run the killed node again
#   bash .ci/autofailover.sh wait       # until one primary and one secondary
#   bash .ci/autofailover.sh heal [SECS]  # wait; a node that did not rejoin is made afresh
#   bash .ci/autofailover.sh stop       # stops everything, removes DIR
#
# Environment: STORAGE_TEST_AUTOFAILOVER_DIR (default
# /tmp/storage-test-autofailover) and STORAGE_TEST_AUTOFAILOVER_PORT, the
# monitor's port (default 55441); the data nodes take the next two.
set -euo pipefail

DIR="${STORAGE_TEST_AUTOFAILOVER_DIR:-/tmp/storage-test-autofailover}"
MPORT="${STORAGE_TEST_AUTOFAILOVER_PORT:-55441}"
P1=$((MPORT + 1))
P2=$((MPORT + 2))
MONITOR="postgres://autoctl_node@127.0.0.1:${MPORT}/pg_auto_failover?sslmode=disable"
DSN="postgres://postgres@127.0.0.1:${P1},127.0.0.1:${P2}/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=2"
RUNAS=postgres

log() { echo "autofailover.sh: $*" >&2; }

# as runs a command as the postgres user with the formation's XDG dirs.
as() {
	runuser -u "$RUNAS" -- env -u PGDATA XDG_RUNTIME_DIR="$DIR/xdg/run" XDG_CONFIG_HOME="$DIR/xdg/config" \
		XDG_DATA_HOME="$DIR/xdg/data" PATH="$PATH" "$@"
}

port_of() { case "$1" in monitor) echo "$MPORT" ;; node1) echo "$P1" ;; node2) echo "$P2" ;; esac; }

# start_node starts `pg_autoctl run` (or create … --run) for a node in the
# background, its output in DIR/NODE.log, from / (Postgres fails to start
# when its working directory has been removed).
start_node() {
	local node="$1"
	shift
	as bash -c 'cd / || exit 1; nohup "$@" >>"'"$DIR/$node.log"'" 2>&1 &' _ "$@"
}

state() { as pg_autoctl show state --pgdata "$DIR/monitor" 2>/dev/null; }

# primary prints the name of the node in state primary (or wait_primary).
primary() { state | awk -F'|' '$6 ~ /^ *(single|primary|wait_primary) *$/ && $7 ~ /^ *(single|primary|wait_primary) *$/ {gsub(/ /, "", $1); print $1}'; }

wait_for() {
	local what="$1" secs="$2"
	local deadline=$((SECONDS + secs))
	while ((SECONDS < deadline)); do
		if eval "$what"; then return 0; fi
		sleep 0.5
	done
	log "timed out after ${secs}s waiting for: $what"
	state >&2 || true
	return 1
}

healthy() {
	local s
	s="$(state)" || return 1
	[ "$(grep -cE '\| *primary *\| *primary *$' <<<"$s")" = 1 ] &&
		[ "$(grep -cE '\| *secondary *\| *secondary *$' <<<"$s")" = 1 ]
}

install() {
	if ! command -v pg_autoctl >/dev/null 2>&1; then
		log "installing pg_auto_failover from Debian's packages"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq postgresql-15-auto-failover >&2
	fi
	PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
}

create_node() {
	local node="$1" port
	port="$(port_of "$node")"
	start_node "$node" pg_autoctl create postgres --pgdata "$DIR/$node" --pgport "$port" --pgctl "$PGBIN/pg_ctl" \
		--name "$node" --hostname 127.0.0.1 --listen 127.0.0.1 --auth trust --no-ssl \
		--monitor "$MONITOR" --run
}

cmd_start() {
	install
	if [ -f "$DIR/dsn" ] && healthy; then
		cat "$DIR/dsn"
		return 0
	fi
	rm -rf "$DIR"
	mkdir -p "$DIR/xdg/run" "$DIR/xdg/config" "$DIR/xdg/data"
	chmod 700 "$DIR/xdg/run"
	chown -R "$RUNAS" "$DIR"
	start_node monitor pg_autoctl create monitor --pgdata "$DIR/monitor" --pgport "$MPORT" --pgctl "$PGBIN/pg_ctl" \
		--hostname 127.0.0.1 --listen 127.0.0.1 --auth trust --no-ssl --run
	wait_for "$PGBIN/pg_isready -q -h 127.0.0.1 -p $MPORT -d pg_auto_failover && as psql -qAt -h 127.0.0.1 -p $MPORT -d pg_auto_failover -c 'select 1 from pgautofailover.formation' >/dev/null 2>&1" 60
	# Lowered health-check timeouts, and a lowered wait for a primary that
	# no longer reports to demote itself: a dead primary fails over in
	# seconds instead of about 50.
	as psql -q -h 127.0.0.1 -p "$MPORT" -d pg_auto_failover >/dev/null <<-'SQL'
		ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
		ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
		ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
		ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
		ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 4000;
		ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 5000;
		SELECT pg_reload_conf();
	SQL
	create_node node1
	wait_for "primary | grep -q node1" 90
	create_node node2
	wait_for healthy 120
	echo "$DSN" >"$DIR/dsn"
	echo "$DSN"
}

# parent_of prints the pid of the node's running `pg_autoctl run` (or
# create … --run), if any.
parent_of() {
	local pid
	for pid in $(ours); do
		if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qE -- "^pg_autoctl .*--pgdata $DIR/$1 "; then
			echo "$pid"
		fi
	done
}

# pids_of prints the node's pg_autoctl, its children, and its postmaster.
pids_of() {
	local node="$1" parent
	for parent in $(parent_of "$node"); do
		echo "$parent"
		ps -o pid= --ppid "$parent" || true
	done
	if [ -f "$DIR/$node/postmaster.pid" ]; then head -1 "$DIR/$node/postmaster.pid"; fi
}

cmd_kill() {
	local node="$1" pids
	pids="$(pids_of "$node" | sort -u | tr '\n' ' ')"
	log "SIGKILL $node: $pids"
	# shellcheck disable=SC2086
	if [ -n "${pids// /}" ]; then kill -9 $pids 2>/dev/null || true; fi
	# the postmaster's children exit on their own once it is gone
}

# ours prints every process started for this formation (they carry its
# XDG_RUNTIME_DIR), including children whose parent was killed.
ours() {
	local f
	for f in /proc/[0-9]*/environ; do
		if { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qx "XDG_RUNTIME_DIR=$DIR/xdg/run"; then
			f="${f#/proc/}"
			echo "${f%/environ}"
		fi
	done
}

# checkpoint_primary runs CHECKPOINT on the current primary. A freshly
# promoted primary writes its new timeline to its control file only at its
# next checkpoint, which is lazy: pg_rewind of the old primary before it
# reads the old timeline there, finds "no rewind required", and the old
# primary, diverged, cannot start as a standby (it stays demoted).
checkpoint_primary() {
	local p
	p="$(primary)"
	[ -n "$p" ] || return 0
	as psql -qAt -h 127.0.0.1 -p "$(port_of "$p")" -d postgres -c CHECKPOINT >/dev/null 2>&1 ||
		log "CHECKPOINT on $p failed"
}

cmd_revive() {
	local node="$1"
	if [ -n "$(parent_of "$node")" ]; then
		log "$node runs already"
		return 0
	fi
	checkpoint_primary
	rm -f "$DIR/$node/postmaster.pid"
	start_node "$node" pg_autoctl run --pgdata "$DIR/$node"
}

# cmd_heal waits for the formation to be healthy; a data node that has not
# rejoined by then (pg_auto_failover could not rewind it) is dropped from
# the monitor, destroyed and created again as a fresh secondary, once.
cmd_heal() {
	local secs="${1:-120}" s node
	if wait_for healthy "$secs"; then return 0; fi
	s="$(state)" || s=""
	for node in node1 node2; do
		if grep -qE "^ *$node *\|.*\| *(primary|secondary|wait_primary) *\| *(primary|secondary|wait_primary) *$" <<<"$s"; then
			continue
		fi
		log "$node did not rejoin; the end of its log:"
		tail -n 40 "$DIR/$node.log" >&2 || true
		log "making $node afresh"
		cmd_kill "$node"
		as pg_autoctl drop node --monitor "$MONITOR" --formation default --name "$node" --force >&2 || true
		rm -rf "$DIR/$node" "$DIR/xdg/config/pg_autoctl$DIR/$node" "$DIR/xdg/data/pg_autoctl$DIR/$node" \
			"$DIR/xdg/run/pg_autoctl$DIR/$node"
		create_node "$node"
		echo "$node made afresh: it had not rejoined in ${secs}s"
	done
	wait_for healthy "$secs"
}

cmd_stop() {
	for node in node2 node1 monitor; do
		[ -d "$DIR/$node" ] || continue
		as timeout 20 pg_autoctl stop --pgdata "$DIR/$node" >/dev/null 2>&1 || true
	done
	sleep 1
	for node in node2 node1 monitor; do
		cmd_kill "$node" 2>/dev/null
	done
	local left
	left="$(ours | tr '\n' ' ')"
	# shellcheck disable=SC2086
	if [ -n "${left// /}" ]; then kill -9 $left 2>/dev/null || true; fi
	rm -rf "$DIR"
}

case "${1:-start}" in
start) cmd_start ;;
state) state ;;
primary) primary ;;
failover) as pg_autoctl perform failover --pgdata "$DIR/monitor" --formation default --group 0 >&2 ;;
kill) cmd_kill "$2" ;;
revive) cmd_revive "$2" ;;
wait) install && wait_for healthy "${2:-120}" ;;
heal) install && cmd_heal "${2:-120}" ;;
stop) cmd_stop ;;
*)
	log "unknown command $1"
	exit 2
	;;
esac
