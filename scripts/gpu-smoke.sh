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
#      `kiln exec`: nvidia-smi and a PyTorch matmul on the leased GPU
#      (CUDA_VISIBLE_DEVICES), the telemetry footer naming that GPU, and a CUDA
#      process the job leaves behind, which the runner's scrub must kill before the
#      lease is released (all GPUs free, none quarantined, afterwards);
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
bin=$(cd "$bin" && pwd) # absolute: step 4 runs kiln from another directory
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

# 4. a CUDA job through kiln exec (shell executor): the lease, telemetry and scrub as
#    a job sees them. The job leaves a CUDA process behind (setsid, out of the step's
#    process group); the runner's scrub must kill it before releasing the GPU.
if [ -x "$bin/kiln" ] && "$bin/kiln" exec --help >/dev/null 2>&1; then
	repo=$(mktemp -d)
	cat >"$repo/.gitlab-ci.yml" <<-'YAML'
	gpu-smoke:
	  tags: [saas-linux-medium-amd64-gpu-standard]
	  script:
	    - echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"
	    - nvidia-smi
	    - python3 -c "import torch; a=torch.randn(4096,4096,device='cuda'); [a@a for _ in range(100)]; torch.cuda.synchronize(); print('matmul', (a@a).sum().item())"
	    - setsid python3 -c "import torch,time; x=torch.ones(1<<28,device='cuda'); time.sleep(900)" </dev/null >/dev/null 2>&1 &
	    - leftover=$!; echo "leftover pid $leftover"
	    - for i in $(seq 120); do nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -qw "$leftover" && break; sleep 0.5; done
	YAML
	(cd "$repo" && git init -q && git add . && git -c user.name=smoke -c user.email=smoke@example.invalid commit -qm smoke)
	(cd "$repo" && KILN_GPU_STATE_DIR="$out/state" "$bin/kiln" exec --executor shell gpu-smoke) >"$out/exec.log" 2>&1
	status=$?
	# (The log also echoes each command: match the output's shapes, not the commands'.)
	leased=$(grep -m1 -o 'CUDA_VISIBLE_DEVICES=\(GPU\|MIG\)-[^ ",]*' "$out/exec.log" | cut -d= -f2)
	if [ "$status" = 0 ] && grep -Eq 'matmul -?[0-9]' "$out/exec.log" && [ -n "$leased" ]; then
		record kiln-exec ok "job ran on $leased (nvidia-smi and a PyTorch matmul)"
	else
		record kiln-exec FAIL "exit $status, CUDA_VISIBLE_DEVICES=$leased; see $out/exec.log"
	fi
	# Telemetry: the footer names the leased GPU with its samples.
	samples=$(grep -m1 -o 'GPU telemetry ([0-9]* samples' "$out/exec.log" | grep -o '[0-9][0-9]*')
	if [ -n "$leased" ] && [ "${samples:-0}" -ge 1 ] && grep -q "$leased .*[0-9] W" "$out/exec.log"; then
		record telemetry ok "$samples sample(s): $(grep -m1 "$leased .*[0-9] W" "$out/exec.log" | sed "s/.*$leased *//" | tr -s ' ')"
	else
		record telemetry FAIL "no telemetry footer for ${leased:-the GPU} in $out/exec.log"
	fi
	# Scrub: the leftover process was killed by the runner and the GPU is free again.
	pid=$(grep -m1 -o 'leftover pid [0-9][0-9]*' "$out/exec.log" | grep -o '[0-9][0-9]*$')
	if [ -n "$pid" ] && grep -q "killed 1 process(es) the job left running (pid $pid)" "$out/exec.log" &&
		! kill -0 "$pid" 2>/dev/null && ! nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -qw "$pid"; then
		record scrub ok "leftover CUDA process $pid killed before the lease was released"
	else
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
		record scrub FAIL "leftover process ${pid:-?} not reported killed, or still running; see $out/exec.log"
	fi
	if "$bin/kiln" gpu list --json --state-dir "$out/state" >"$out/gpu-list-after.json" 2>&1 &&
		"$python" -c 'import json,sys; l=json.load(open(sys.argv[1])); sys.exit(0 if l["free"] == len(l["gpus"]) and not l["quarantined"] else 1)' "$out/gpu-list-after.json"; then
		record release ok "every GPU free and none quarantined after the job"
	else
		record release FAIL "see $out/gpu-list-after.json"
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
