#!/usr/bin/env bash
# Kiln's one-command demo (the README's): builds kiln into bin/, builds the images the
# examples use when a Docker daemon answers (scripts/test-images.sh; no registry is
# needed), then runs `kiln up --demo`: the coordinator and a runner in one process,
# one project per directory of examples/, each pipeline followed to its end, and a
# summary. On a host without a GPU the seed's GPU job (examples/gpu-seed) fails at
# once, saying that no GPU of its machine type is available.
#
# State is kept in .kiln/demo (KILN_DEMO_DATA), so a second run makes new pipelines on
# the same server. Extra arguments go to kiln up, e.g. --keep to go on serving, or
# --listen 127.0.0.1:9090 when port 8080 is taken.
#
# Usage: scripts/demo.sh [kiln up flags]
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

say "go build -o bin/kiln ./cmd/kiln"
go build -o bin/kiln ./cmd/kiln

args=(--demo --data "${KILN_DEMO_DATA:-.kiln/demo}" --examples examples)
if docker version >/dev/null 2>&1; then
	cuda=nvcr.io/nvidia/cuda:12.1.1-base-ubuntu22.04
	had_cuda=0
	docker image inspect "$cuda" >/dev/null 2>&1 && had_cuda=1
	say "docker: building the examples' images (skipped when present)"
	scripts/test-images.sh >/dev/null
	if nvidia-smi -L >/dev/null 2>&1 && [ "$had_cuda" = 0 ]; then
		# With a GPU the seed's job really runs: let it pull NVIDIA's image rather than
		# use the tests' stand-in (Debian with the CUDA image's tag and environment).
		docker image rm "$cuda" >/dev/null
	fi
	args+=(--executor docker --docker-image kiln-test/debian:bookworm)
else
	say "no Docker daemon answers: jobs run with the shell executor, on this host"
	args+=(--executor shell)
fi

say "bin/kiln up ${args[*]} $*"
exec bin/kiln up "${args[@]}" "$@"
