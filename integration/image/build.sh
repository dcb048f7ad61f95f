#!/usr/bin/env bash
# Builds the PostgreSQL image that the integration tests run, without a
# container registry: a minimal Debian root filesystem made with debootstrap,
# PostgreSQL installed from Debian's packages (not started), an entrypoint
# that behaves like the official postgres image's, and `docker import`.
#
#   bash integration/image/build.sh            # build if missing
#   STORAGE_TEST_PG_IMAGE=postgres:16 ...      # another name (an existing
#                                              # image is used as is)
#   FORCE=1 bash integration/image/build.sh    # rebuild
#
# Idempotent: when the image exists (docker image inspect) it returns at once.
# Needs root (debootstrap, chroot); installs debootstrap with apt when it is
# missing. The Debian mirror is the one apt uses on this machine
# (/etc/apt/sources.list*), or STORAGE_TEST_PG_MIRROR.
#
# What the image does (docker-entrypoint.sh, written below):
#   - env POSTGRES_USER (default postgres), POSTGRES_PASSWORD, POSTGRES_DB
#     (default $POSTGRES_USER), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD,
#     PGDATA (default /var/lib/postgresql/data), as the official image;
#   - on an empty PGDATA: initdb -E UTF8 --locale=C.UTF-8, a temporary server
#     on the Unix socket only, CREATE DATABASE, /docker-entrypoint-initdb.d/
#     scripts (*.sh, *.sql, *.sql.gz), then the temporary server stops;
#   - then the real server runs as the postgres user, listening on all
#     addresses, with fsync on unless the arguments say otherwise: extra
#     arguments are passed to postgres (CMD ["postgres"]; `postgres -c
#     fsync=off` or just `-c fsync=off` work as with the official image).
#   - "database system is ready to accept connections" is logged twice on the
#     first start (temporary server, then the real one) and once on a restart
#     with existing data, exactly like the official image, so testcontainers'
#     postgres module and its default wait strategy work unchanged.
#   - docker stop sends SIGTERM; the entrypoint turns it into SIGINT (a fast
#     shutdown), which the official image gets from STOPSIGNAL (docker import
#     cannot set STOPSIGNAL).
set -euo pipefail

IMAGE="${STORAGE_TEST_PG_IMAGE:-mycelia-storage/postgres:15-local}"
SUITE="${STORAGE_TEST_PG_SUITE:-bookworm}"
PGMAJOR="${STORAGE_TEST_PG_MAJOR:-15}"

log() { printf 'build.sh: %s\n' "$*" >&2; }

if [ "${FORCE:-}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
	log "image $IMAGE exists"
	exit 0
fi

start=$(date +%s)
if [ "$(id -u)" != 0 ]; then
	log "must run as root (debootstrap and chroot)"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! command -v debootstrap >/dev/null 2>&1; then
	log "installing debootstrap"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The mirror apt uses here: the first Debian archive URI (not -security) in
# one-line or deb822 sources.
mirror() {
	if [ -n "${STORAGE_TEST_PG_MIRROR:-}" ]; then
		echo "$STORAGE_TEST_PG_MIRROR"
		return
	fi
	local m
	m="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		sed -nE 's/^[[:space:]]*URIs:[[:space:]]*//p; s/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' |
		tr ' ' '\n' | grep -E '^(https?|file)://.*/debian/?$' | head -1 || true)"
	echo "${m:-http://deb.debian.org/debian}"
}
MIRROR="$(mirror)"

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/storage-pg-image.XXXXXX")"
ROOT="$WORK/rootfs"
cleanup() {
	umount "$ROOT/proc" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

log "debootstrap $SUITE from $MIRROR into $ROOT"
# Two stages, so that dpkg in the target is told, before it unpacks
# anything, to skip fsync (force-unsafe-io: nothing here must survive a power
# cut, docker import reads the files) and the documentation.
debootstrap --foreign --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
	tail -50 "$WORK/debootstrap.log" >&2
	exit 1
}
mkdir -p "$ROOT/etc/dpkg/dpkg.cfg.d"
echo force-unsafe-io >"$ROOT/etc/dpkg/dpkg.cfg.d/00-build-unsafe-io"
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/01-lean" <<'CFG'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
CFG
chroot "$ROOT" /debootstrap/debootstrap --second-stage >>"$WORK/debootstrap.log" 2>&1 || {
	tail -50 "$WORK/debootstrap.log" >&2
	exit 1
}
log "debootstrap done after $(($(date +%s) - start))s"

# Install PostgreSQL without starting it and without Debian's default cluster.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
mkdir -p "$ROOT/etc/postgresql-common/createcluster.d"
echo "create_main_cluster = false" >"$ROOT/etc/postgresql-common/createcluster.d/00-no-main-cluster.conf"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc" 2>/dev/null || log "could not mount /proc in the chroot; going on without it"
chroot "$ROOT" /bin/sh -ec "
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends postgresql-$PGMAJOR >/dev/null
	apt-get clean
" >"$WORK/apt.log" 2>&1 || {
	tail -50 "$WORK/apt.log" >&2
	exit 1
}
umount "$ROOT/proc" 2>/dev/null || true
log "postgresql-$PGMAJOR installed after $(($(date +%s) - start))s"

# JIT is the only user of LLVM (and LLVM of z3): without llvmjit.so the
# server runs with JIT unavailable (as jit=off), and the image is ~130 MB
# smaller.
rm -rf "$ROOT"/usr/lib/postgresql/*/lib/llvmjit*.so "$ROOT"/usr/lib/postgresql/*/lib/bitcode \
	"$ROOT"/usr/lib/*-linux-gnu/libLLVM-*.so* "$ROOT"/usr/lib/*-linux-gnu/libz3.so*
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/log/*.log \
	"$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/* \
	"$ROOT/usr/sbin/policy-rc.d" "$ROOT/etc/dpkg/dpkg.cfg.d/00-build-unsafe-io"
: >"$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/docker-entrypoint-initdb.d" "$ROOT/var/lib/postgresql/data" "$ROOT/var/run/postgresql"
chroot "$ROOT" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
chmod 700 "$ROOT/var/lib/postgresql/data"
chmod 2777 "$ROOT/var/run/postgresql"

cat >"$ROOT/usr/local/bin/docker-entrypoint.sh" <<'ENTRY'
#!/bin/sh
# The entrypoint of the integration tests' PostgreSQL image: see
# integration/image/build.sh.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_PASSWORD:=}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_INITDB_ARGS:=}"
: "${POSTGRES_HOST_AUTH_METHOD:=}"
export PGDATA

# Like the official image: "postgres -c x" and "-c x" both start the server.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi
shift

as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	else
		"$@"
	fi
}

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	auth="$POSTGRES_HOST_AUTH_METHOD"
	if [ -z "$auth" ]; then
		if [ -n "$POSTGRES_PASSWORD" ]; then
			auth=scram-sha-256
		else
			echo "entrypoint: POSTGRES_PASSWORD is empty: host connections are trusted" >&2
			auth=trust
		fi
	fi
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	chown postgres "$pwfile"
	pwopt=""
	[ -n "$POSTGRES_PASSWORD" ] && pwopt="--pwfile=$pwfile"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list
	as_postgres initdb -D "$PGDATA" --username="$POSTGRES_USER" $pwopt \
		-E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host="$auth" $POSTGRES_INITDB_ARGS
	rm -f "$pwfile"
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

	# A temporary server on the Unix socket only, for the setup.
	as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
	export PGUSER="$POSTGRES_USER" PGHOST=/var/run/postgresql PGPORT=5432
	if [ "$POSTGRES_DB" != postgres ]; then
		as_postgres psql -v ON_ERROR_STOP=1 -q --dbname=postgres \
			-c "CREATE DATABASE \"$POSTGRES_DB\""
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh) echo "entrypoint: running $f"; . "$f" ;;
		*.sql) echo "entrypoint: running $f"; as_postgres psql -v ON_ERROR_STOP=1 -q --dbname="$POSTGRES_DB" -f "$f" ;;
		*.sql.gz) echo "entrypoint: running $f"; gunzip -c "$f" | as_postgres psql -v ON_ERROR_STOP=1 -q --dbname="$POSTGRES_DB" ;;
		*) ;;
		esac
	done
	as_postgres pg_ctl -D "$PGDATA" -m fast -w stop
	unset PGUSER PGHOST PGPORT
	echo
	echo "PostgreSQL init process complete; ready for start up."
	echo
fi

# The real server. It runs as a child so that docker stop's SIGTERM can be
# turned into SIGINT, a fast shutdown (postgres' SIGTERM waits for clients).
# (Not through as_postgres: a function run in the background is a subshell,
# and $! would name it instead of the server.)
if [ "$(id -u)" = 0 ]; then
	setpriv --reuid=postgres --regid=postgres --init-groups -- \
		postgres -D "$PGDATA" -c listen_addresses='*' "$@" &
else
	postgres -D "$PGDATA" -c listen_addresses='*' "$@" &
fi
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' TERM INT
trap 'kill -QUIT "$pid" 2>/dev/null || true' QUIT
status=0
while kill -0 "$pid" 2>/dev/null; do
	wait "$pid" && status=0 || status=$?
done
exit "$status"
ENTRY
chmod 755 "$ROOT/usr/local/bin/docker-entrypoint.sh"

log "importing $IMAGE"
tar --numeric-owner -C "$ROOT" -c . | docker import \
	--change "ENV PATH=/usr/lib/postgresql/$PGMAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	--change "ENV PGDATA=/var/lib/postgresql/data" \
	--change "ENV LANG=C.UTF-8" \
	--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change 'EXPOSE 5432' \
	--change 'VOLUME /var/lib/postgresql/data' \
	- "$IMAGE" >/dev/null
log "built $IMAGE in $(($(date +%s) - start))s ($(docker image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'))"
