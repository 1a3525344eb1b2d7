#!/usr/bin/env bash
# Kiln's GPU smoke check, for a machine with an NVIDIA GPU, its driver, nvidia-smi,
# git, python3 (with PyTorch for the CUDA workload) and no Docker. It:
#
#   1. builds kiln and the GPU package's test binary with Go; where Go is missing or
#      cannot build (no module cache and no network), it uses prebuilt ones from
#      $KILN_BIN_DIR (default bin/), made elsewhere with
#        go build -ldflags='-s -w' -o bin/kiln ./cmd/kiln &&
#          go test -c -ldflags='-s -w' -o bin/gpu.test ./internal/gpu
#      (cgo on: NVML is loaded at run time through it; stripped, both are ~42 MB);
#   2. checks discovery: `kiln gpu list --json` through the real NVML lists as many
#      units as `nvidia-smi -L` (a GPU, or each MIG slice of a GPU in MIG mode);
#   3. runs the gpu tier (TestRealGPULeaseTelemetryAndScrub): a lease whose
#      CUDA_VISIBLE_DEVICES lets a PyTorch matmul see exactly one GPU, telemetry
#      sampled while it runs, and a scrub that kills the process it left behind;
#   4. runs a CUDA job through `kiln exec` with the shell executor: nvidia-smi and a
#      PyTorch matmul on the leased GPU (CUDA_VISIBLE_DEVICES, one device visible),
#      the telemetry footer naming that GPU, and a CUDA process the job leaves behind,
#      which the runner's scrub must kill before the lease is released (all GPUs free,
#      none quarantined, afterwards).
#
# Without PyTorch in the python3 used ($KILN_GPU_SMOKE_PYTHON, default python3 on
# PATH), the PyTorch parts are skipped and say so: step 3, the matmul and the scrub of
# a leftover CUDA process; the job still checks the lease, nvidia-smi, telemetry and
# the release. It then prints a short table (ok, FAIL or skip per check) and exits
# non-zero if any check failed.
#
# Usage: scripts/gpu-smoke.sh        (output files go to $OUT, else a temporary dir)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

out=${OUT:-$(mktemp -d)}
bin=${KILN_BIN_DIR:-bin}
python=${KILN_GPU_SMOKE_PYTHON:-python3}
mkdir -p "$out" "$bin"
# The job runs this python3 by its path (the job's PATH may differ from this shell's).
python=$(command -v "$python" || echo "$python")
bin=$(cd "$bin" && pwd) # absolute: step 4 runs kiln from another directory
declare -a rows
failed=0

record() { # record CHECK RESULT DETAIL
	rows+=("$(printf '%-12s %-5s %s' "$1" "$2" "$3")")
	[ "$2" = FAIL ] && failed=1
	echo "gpu-smoke: $1: $2 $3" >&2
}

# 1. build (into a temporary directory, so that a failed build leaves prebuilt
#    binaries whole)
prebuilt() { [ -x "$bin/kiln" ] && [ -x "$bin/gpu.test" ]; }
if ! command -v go >/dev/null 2>&1; then
	why="no Go here"
elif mkdir -p "$out/build" && go build -o "$out/build/kiln" ./cmd/kiln >"$out/build.log" 2>&1 &&
	go test -c -o "$out/build/gpu.test" ./internal/gpu >>"$out/build.log" 2>&1 &&
	mv -f "$out/build/kiln" "$out/build/gpu.test" "$bin/"; then
	why=""
	record build ok "$(go version | awk '{print $3}')"
else
	why="go build failed: $(tail -n1 "$out/build.log" | head -c 200)"
fi
if [ -n "$why" ]; then
	if prebuilt; then
		record build ok "prebuilt $bin/kiln, $bin/gpu.test ($why)"
	else
		record build FAIL "$why; and no prebuilt $bin/kiln and $bin/gpu.test"
	fi
fi

# PyTorch in the python3 used? Its absence skips the PyTorch parts, saying so.
if torch=$("$python" -c 'import torch; print(torch.__version__)' 2>"$out/torch.err"); then
	record pytorch ok "$python: torch $torch, CUDA available: $("$python" -c 'import torch; print(torch.cuda.is_available())' 2>&1 | tail -n1)"
else
	torch=""
	record pytorch skip "no PyTorch in $python ($(tail -n1 "$out/torch.err" | head -c 120)): PyTorch checks are skipped"
fi

# 2. discovery: a GPU counts once, or once per MIG slice when it has slices.
smi_count=$(nvidia-smi -L 2>/dev/null | awk '
	/^GPU /      { if (gpu && !mig) n++; gpu = 1; mig = 0 }
	/^ +MIG /    { n++; mig = 1 }
	END          { if (gpu && !mig) n++; print n + 0 }')
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
if [ -z "$torch" ]; then
	record gpu-tier skip "its workload is PyTorch, and $python has none"
elif [ -x "$bin/gpu.test" ]; then
	if KILN_TEST_REQUIRE=gpu KILN_GPU_SMOKE_PYTHON="$python" KILN_GPU_SMOKE_TABLE="$out/gpu-tier.txt" \
		"$bin/gpu.test" -test.run '^TestRealGPU' -test.v -test.count=1 -test.timeout=4m >"$out/gpu-tier.log" 2>&1; then
		record gpu-tier ok "lease, telemetry and scrub (details below)"
	else
		# The first error, not one of the test's own logs.
		why=$(grep -E 'realgpu_test.go:[0-9]+: |^panic: ' "$out/gpu-tier.log" |
			grep -vE ': (workload output|footer|summary|the left-behind process wrote):$' | head -n1 | sed 's/^ *//' | head -c 300)
		record gpu-tier FAIL "see $out/gpu-tier.log: $why"
	fi
else
	record gpu-tier FAIL "no test binary"
fi

# 4. a CUDA job through kiln exec (shell executor): the lease, telemetry and scrub as
#    a job sees them. The job leaves a CUDA process behind (setsid, out of the step's
#    process group); the runner's scrub must kill it before releasing the GPU.
if [ -x "$bin/kiln" ]; then
	repo=$(mktemp -d)
	cat >"$repo/.gitlab-ci.yml" <<-'YAML'
	gpu-smoke:
	  tags: [saas-linux-medium-amd64-gpu-standard]
	  script:
	    - echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"
	    - nvidia-smi
	YAML
	if [ -n "$torch" ]; then
		cat >>"$repo/.gitlab-ci.yml" <<-'YAML'
		    - '"$SMOKE_PYTHON" -c "import torch; a=torch.randn(4096,4096,device=\"cuda\"); [a@a for _ in range(100)]; torch.cuda.synchronize(); print(\"matmul\", (a@a).sum().item(), \"devices\", torch.cuda.device_count())"'
		    - 'setsid "$SMOKE_PYTHON" -c "import torch,time; x=torch.ones(1<<28,device=\"cuda\"); time.sleep(900)" </dev/null >/dev/null 2>&1 &'
		    - 'leftover=$!; echo "leftover pid $leftover"'
		    - 'seen=no; for i in $(seq 120); do if nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -qw "$leftover"; then seen=yes; break; fi; sleep 0.5; done; echo "leftover seen by nvidia-smi: $seen"'
		YAML
	else
		# Without PyTorch no CUDA work: the job holds the lease a few seconds, for telemetry.
		echo '    - sleep 3' >>"$repo/.gitlab-ci.yml"
	fi
	(cd "$repo" && git init -q && git add . && git -c user.name=smoke -c user.email=smoke@example.invalid commit -qm smoke)
	(cd "$repo" && KILN_GPU_STATE_DIR="$out/state" timeout 300 "$bin/kiln" exec --executor shell \
		--state-dir "$out/exec-state" --variable "SMOKE_PYTHON=$python" gpu-smoke) >"$out/exec.log" 2>&1
	status=$?
	# (The log also echoes each command: match the output's shapes, not the commands'.)
	lease=$(grep -m1 -o 'Leased GPUs: .*' "$out/exec.log" | cut -d' ' -f3-)
	leased=$(grep -m1 -o 'CUDA_VISIBLE_DEVICES=\(GPU\|MIG\)-[^ ",]*' "$out/exec.log" | cut -d= -f2)
	if [ "$status" != 0 ] || [ -z "$leased" ] || [ "$leased" != "$lease" ]; then
		record kiln-exec FAIL "exit $status, leased '$lease', CUDA_VISIBLE_DEVICES '$leased'; see $out/exec.log"
	elif [ -z "$torch" ]; then
		record kiln-exec ok "job ran nvidia-smi on $leased (CUDA_VISIBLE_DEVICES as leased; no PyTorch: no matmul)"
	elif grep -Eq '^gpu-smoke \| matmul -?[0-9].* devices 1$' "$out/exec.log"; then
		record kiln-exec ok "job ran on $leased (CUDA_VISIBLE_DEVICES as leased; nvidia-smi and a PyTorch matmul seeing 1 device)"
	else
		record kiln-exec FAIL "no PyTorch matmul seeing exactly 1 device: $(grep -m1 -E '^gpu-smoke \| (matmul|.*Error)' "$out/exec.log" | head -c 200); see $out/exec.log"
	fi
	# Telemetry: the footer names the leased GPU with its samples, and the job report
	# gpu-telemetry.json was uploaded (to kiln exec's own coordinator).
	samples=$(grep -m1 -o 'GPU telemetry ([0-9]* samples' "$out/exec.log" | grep -o '[0-9][0-9]*')
	if [ -n "$leased" ] && [ "${samples:-0}" -ge 1 ] && grep -q "$leased .*[0-9] W" "$out/exec.log" &&
		grep -q 'Uploading gpu-telemetry.json .* 201 Created' "$out/exec.log"; then
		record telemetry ok "$samples sample(s): $(grep -m1 "$leased .*[0-9] W" "$out/exec.log" | sed "s/.*$leased *//" | tr -s ' '); gpu-telemetry.json uploaded"
	else
		record telemetry FAIL "no telemetry footer for ${leased:-the GPU}, or gpu-telemetry.json not uploaded; see $out/exec.log"
	fi
	# Scrub: the leftover process was killed by the runner and the GPU is free again.
	pid=$(grep -m1 -o '^gpu-smoke | leftover pid [0-9][0-9]*' "$out/exec.log" | grep -o '[0-9][0-9]*$')
	if [ -z "$torch" ]; then
		record scrub skip "no PyTorch to leave a CUDA process behind"
	elif [ -n "$pid" ] && grep -q "killed 1 process(es) the job left running (pid $pid)" "$out/exec.log" &&
		! kill -0 "$pid" 2>/dev/null && ! nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -qw "$pid"; then
		record scrub ok "leftover CUDA process $pid killed before the lease was released"
	else
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
		record scrub FAIL "leftover process ${pid:-?} not reported killed, or still running ($(grep -m1 -o 'leftover seen by nvidia-smi: [a-z]*' "$out/exec.log")); see $out/exec.log"
	fi
	if "$bin/kiln" gpu list --json --state-dir "$out/state" >"$out/gpu-list-after.json" 2>&1 &&
		"$python" -c 'import json,sys; l=json.load(open(sys.argv[1])); sys.exit(0 if l["gpus"] and l["free"] == len(l["gpus"]) and not l["quarantined"] else 1)' "$out/gpu-list-after.json"; then
		record release ok "every GPU free and none quarantined after the job"
	else
		record release FAIL "see $out/gpu-list-after.json"
	fi
else
	record kiln-exec FAIL "no kiln binary"
fi

echo
echo "Kiln GPU smoke check ($(uname -n), $(date -u +%Y-%m-%dT%H:%M:%SZ))"
printf '%-12s %-5s %s\n' CHECK RESULT DETAIL
printf '%s\n' "${rows[@]}"
if [ -s "$out/gpu-tier.txt" ]; then
	echo
	sed 's/^/  /' "$out/gpu-tier.txt"
fi
echo
echo "files: $out"
exit "$failed"
