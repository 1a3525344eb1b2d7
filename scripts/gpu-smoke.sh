#!/usr/bin/env bash
# Kiln's GPU smoke check, for a machine with an NVIDIA GPU, its driver, nvidia-smi,
# python3 with PyTorch, and no Docker. It:
#
#   1. builds kiln and the GPU package's test binary (with Go, when Go is here; else it
#      uses prebuilt ones from $KILN_BIN_DIR, default bin/);
#   2. checks discovery: `kiln gpu list --json` through the real NVML lists as many
#      GPUs as `nvidia-smi -L`;
#   3. runs the gpu tier (TestRealGPULeaseTelemetryAndScrub): a lease whose
#      CUDA_VISIBLE_DEVICES lets a PyTorch matmul see exactly one GPU, telemetry
#      sampled while it runs, and a scrub that kills the process it left behind;
#   4. runs a CUDA job through `kiln exec` with the shell executor, when this kiln has
#      `kiln exec` (nvidia-smi and the matmul, checking CUDA_VISIBLE_DEVICES);
#
# then prints a short table and exits non-zero if any check failed.
#
# Usage: scripts/gpu-smoke.sh        (output files go to $OUT, else a temporary dir)
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-$(mktemp -d)}
bin=${KILN_BIN_DIR:-bin}
python=${KILN_GPU_SMOKE_PYTHON:-python3}
mkdir -p "$out" "$bin"
declare -a rows
failed=0

record() { # record CHECK RESULT DETAIL
	rows+=("$(printf '%-12s %-5s %s' "$1" "$2" "$3")")
	[ "$2" = FAIL ] && failed=1
	echo "gpu-smoke: $1: $2 $3" >&2
}

# 1. build
if command -v go >/dev/null 2>&1; then
	if go build -o "$bin/kiln" ./cmd/kiln >"$out/build.log" 2>&1 &&
		go test -c -o "$bin/gpu.test" ./internal/gpu >>"$out/build.log" 2>&1; then
		record build ok "$(go version | awk '{print $3}')"
	else
		record build FAIL "see $out/build.log"
	fi
elif [ -x "$bin/kiln" ] && [ -x "$bin/gpu.test" ]; then
	record build ok "prebuilt $bin/kiln, $bin/gpu.test (no Go here)"
else
	record build FAIL "no Go and no prebuilt $bin/kiln and $bin/gpu.test"
fi

# 2. discovery
smi_count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
if [ -x "$bin/kiln" ] && "$bin/kiln" gpu list --json --state-dir "$out/state" >"$out/gpu-list.json" 2>"$out/gpu-list.err"; then
	read -r source count <<<"$("$python" -c 'import json,sys; l=json.load(open(sys.argv[1])); print(l["source"], len(l["gpus"]))' "$out/gpu-list.json" 2>/dev/null || echo "? ?")"
	if [ "$source" = nvml ] && [ "$count" = "$smi_count" ] && [ "$count" -gt 0 ] 2>/dev/null; then
		record discovery ok "$count GPU(s) through NVML, as nvidia-smi -L"
	else
		record discovery FAIL "kiln: $count GPU(s) via $source; nvidia-smi -L: $smi_count"
	fi
	"$bin/kiln" gpu list --state-dir "$out/state" >"$out/gpu-list.txt" 2>&1 || true
else
	record discovery FAIL "kiln gpu list failed: $(head -c 300 "$out/gpu-list.err" 2>/dev/null)"
fi

# 3. lease, telemetry, scrub
if [ -x "$bin/gpu.test" ]; then
	if KILN_TEST_REQUIRE=gpu KILN_GPU_SMOKE_PYTHON="$python" KILN_GPU_SMOKE_TABLE="$out/gpu-tier.txt" \
		"$bin/gpu.test" -test.run '^TestRealGPU' -test.v -test.count=1 >"$out/gpu-tier.log" 2>&1; then
		record gpu-tier ok "lease, telemetry and scrub (details below)"
	else
		record gpu-tier FAIL "see $out/gpu-tier.log: $(grep -m1 -E 'realgpu_test.go:[0-9]+: ' "$out/gpu-tier.log" | sed 's/^ *//' | head -c 300)"
	fi
else
	record gpu-tier FAIL "no test binary"
fi

# 4. a CUDA job through kiln exec (shell executor)
if [ -x "$bin/kiln" ] && "$bin/kiln" exec --help >/dev/null 2>&1; then
	repo=$(mktemp -d)
	cat >"$repo/.gitlab-ci.yml" <<-'YAML'
	gpu-smoke:
	  tags: [saas-linux-medium-amd64-gpu-standard]
	  script:
	    - echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"
	    - nvidia-smi
	    - python3 -c "import torch; a=torch.randn(4096,4096,device='cuda'); print('matmul', (a@a).sum().item())"
	YAML
	(cd "$repo" && git init -q && git add . && git -c user.name=smoke -c user.email=smoke@example.invalid commit -qm smoke)
	if (cd "$repo" && KILN_GPU_STATE_DIR="$out/state" "$OLDPWD/$bin/kiln" exec --executor shell gpu-smoke) >"$out/exec.log" 2>&1 &&
		grep -q 'CUDA_VISIBLE_DEVICES=GPU-\|CUDA_VISIBLE_DEVICES=MIG-' "$out/exec.log" && grep -q '^matmul' "$out/exec.log"; then
		record kiln-exec ok "job ran on $(grep -m1 -o 'CUDA_VISIBLE_DEVICES=[^ ]*' "$out/exec.log")"
	else
		record kiln-exec FAIL "see $out/exec.log"
	fi
else
	record kiln-exec skip "this kiln has no 'kiln exec' yet"
fi

echo
echo "Kiln GPU smoke check ($(hostname), $(date -u +%Y-%m-%dT%H:%M:%SZ))"
printf '%-12s %-5s %s\n' CHECK RESULT DETAIL
printf '%s\n' "${rows[@]}"
if [ -s "$out/gpu-tier.txt" ]; then
	echo
	sed 's/^/  /' "$out/gpu-tier.txt"
fi
echo
echo "files: $out"
exit "$failed"
