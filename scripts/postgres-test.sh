#!/usr/bin/env bash
# postgres-test.sh start|stop|dsn — a throwaway PostgreSQL 15 cluster for the store's
# tests (internal/store/postgres) and benchmarks.
#
#   start  initialise (once) and start the cluster, create the test database, and print
#          the line to eval:  export KILN_TEST_POSTGRES_DSN=postgres://...
#          Running it again while the cluster runs only prints the line.
#   stop   stop the cluster and delete its directory.
#   dsn    print the export line if the cluster runs (exit 1 otherwise).
#
#   eval "$(scripts/postgres-test.sh start)" && go test ./internal/store/...
#
# Settings (environment): KILN_PG_DIR (default /tmp/kiln-postgres), KILN_PG_PORT
# (default 5433), KILN_PG_BIN (default /usr/lib/postgresql/15/bin), KILN_PG_DB
# (default kiln_test). The cluster listens on 127.0.0.1 and a socket in KILN_PG_DIR,
# with trust authentication: it is for tests only. As root, it runs as the postgres
# user.
set -euo pipefail

dir=${KILN_PG_DIR:-/tmp/kiln-postgres}
port=${KILN_PG_PORT:-5433}
bin=${KILN_PG_BIN:-/usr/lib/postgresql/15/bin}
db=${KILN_PG_DB:-kiln_test}
data=$dir/data
dsn="postgres://postgres@127.0.0.1:$port/$db?sslmode=disable"

die() { echo "postgres-test.sh: $*" >&2; exit 1; }

# as runs a command as the cluster's owner.
as() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

running() { [ -f "$data/PG_VERSION" ] && as "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

print_dsn() { echo "export KILN_TEST_POSTGRES_DSN='$dsn'"; }

start() {
	[ -x "$bin/initdb" ] || die "no PostgreSQL binaries in $bin (apt-get install postgresql-15, or set KILN_PG_BIN)"
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$dir"
	fi
	if [ ! -f "$data/PG_VERSION" ]; then
		as "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			die "initdb failed; see $dir/initdb.log"
	fi
	if ! running; then
		as "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 30 \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null ||
			die "the server did not start; see $dir/postgres.log"
	fi
	if ! as "$bin/psql" -h "$dir" -p "$port" -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'" postgres | grep -q 1; then
		as "$bin/createdb" -h "$dir" -p "$port" -U postgres "$db" || die "creating database $db failed"
	fi
	print_dsn
}

stop() {
	if running; then
		as "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
	fi
	rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
dsn) running || die "no cluster runs in $dir; run: $0 start"; print_dsn ;;
*) die "usage: $0 start|stop|dsn" ;;
esac
