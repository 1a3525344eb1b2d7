#!/usr/bin/env bash
# Kiln's test command (the README's). It prepares every test tier this machine can
# offer, then runs go vet and the whole suite under the race detector:
#
#   unit         always
#   docker       when a Docker daemon answers: builds the test images first
#                (scripts/test-images.sh; no registry is needed)
#   postgres     when PostgreSQL 15 is installed: starts a throwaway cluster
#                (scripts/postgres-test.sh) and runs the store suite on it too
#   conformance  when ../shared/conformance is beside the repository
#
# A tier whose component is missing skips with a message, unless KILN_TEST_REQUIRE names
# it (CI sets KILN_TEST_REQUIRE=all): then it fails. Extra arguments go to `go test`,
# e.g. scripts/test.sh -run TestExec ./internal/localrun/
#
# Usage: scripts/test.sh [--ci] [go test flags and packages]
set -euo pipefail
cd "$(dirname "$0")/.."

ci=0
if [ "${1:-}" = "--ci" ]; then
	ci=1
	shift
fi
require=",${KILN_TEST_REQUIRE:-},"
required() { [ "$ci" = 1 ] || [[ $require == *",all,"* ]] || [[ $require == *",$1,"* ]]; }
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Docker tier: the images the executor and end-to-end tests run.
if docker version >/dev/null 2>&1; then
	say "docker: building test images (skipped when present)"
	scripts/test-images.sh
elif required docker; then
	echo "test.sh: the docker tier is required but no Docker daemon answers" >&2
	exit 1
fi

# PostgreSQL tier: a throwaway cluster, stopped again on exit. A cluster that already
# runs in KILN_PG_DIR (someone's `scripts/postgres-test.sh start`) is used and left
# running: stop deletes its directory.
if [ -z "${KILN_TEST_POSTGRES_DSN:-}" ]; then
	if dsn=$(scripts/postgres-test.sh dsn 2>/dev/null); then
		say "postgres: using the cluster that runs in ${KILN_PG_DIR:-/tmp/kiln-postgres}"
		eval "$dsn"
	elif [ -x "${KILN_PG_BIN:-/usr/lib/postgresql/15/bin}/initdb" ]; then
		say "postgres: starting a throwaway cluster"
		eval "$(scripts/postgres-test.sh start)"
		trap 'scripts/postgres-test.sh stop >/dev/null 2>&1 || true' EXIT
	elif required postgres; then
		echo "test.sh: the postgres tier is required but PostgreSQL 15 is not installed (apt-get install postgresql-15)" >&2
		exit 1
	fi
fi
export KILN_TEST_POSTGRES_DSN="${KILN_TEST_POSTGRES_DSN:-}"

say "go vet"
go vet ./...

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)
say "go test -race ${pkgs[*]}"
go test -race -count=1 -timeout 30m "${pkgs[@]}"
