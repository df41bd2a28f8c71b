#!/usr/bin/env bash
# The whole GPU check of ember in ONE `device` call (10 minutes a command), from the repository root:
#
#     run(command="bash bench/gpu_session.sh", timeout_s=600)
#
# Installs ember with the [cuda] extra from what the machine has (it cannot download), builds the C++
# and C++/CUDA extensions, reports the GPU and versions, runs the GPU tests (`pytest -m cuda` and the
# extension's tests), `ember bench --device cuda --quick`, `--models` and `--ops --quick`, and the Numba
# simulator tests. Each step has a time budget and a failing step does not stop the next; the budgets
# are cut so that the script ends before DEADLINE seconds. Into $OUT (at most 8 files come back):
# summary.txt (also printed last), logs.tar.gz (one log per step) and results/ (the bench's JSON and PNG,
# to commit under bench/results/).
set -x
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-/tmp/ember-gpu-session}
PY=${PYTHON:-python3}               # the device image's python3 is the one with torch, CuPy and numba-cuda
DEADLINE=${DEADLINE:-560}           # seconds: the command's 600 s limit, less time to pack the logs
UNMARKED_GPU_TESTS="tests/test_cuda_extension.py"   # GPU tests not (yet) marked `cuda`
SIMULATOR_TESTS=$(ls tests/test_numba*.py 2>/dev/null)
LOGS=$(mktemp -d)
SUMMARY=$LOGS/summary.txt
mkdir -p "$OUT/results"
export PY PYTHONUNBUFFERED=1

# step NAME BUDGET COMMAND...: run COMMAND with a timeout, its output in $LOGS/NAME.log, one summary line
step() {
    local name=$1 budget=$2
    shift 2
    local left=$((DEADLINE - SECONDS))
    ((budget > left)) && budget=$left
    if ((budget < 15)); then
        echo "$name: SKIPPED (no time left)" >>"$SUMMARY"
        return
    fi
    local start=$SECONDS
    timeout -k 10 "$budget" "$@" >"$LOGS/$name.log" 2>&1
    local rc=$?
    local status="ok"
    ((rc == 124 || rc == 137)) && status="TIMED OUT after $budget s" || { ((rc)) && status="FAILED (exit $rc)"; }
    echo "$name: $status in $((SECONDS - start)) s" >>"$SUMMARY"
}

environment() {
    date -u +"date %Y-%m-%dT%H:%M:%SZ"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    nvcc --version | tail -n 2
    "$PY" - <<'EOF'
import importlib.metadata as metadata
for name in ("torch", "cupy-cuda13x", "numba", "numba-cuda", "numpy", "ember"):
    try:
        print(name, metadata.version(name))
    except metadata.PackageNotFoundError:
        print(name, "not installed")
import torch
print("torch CUDA", torch.version.cuda, "available:", torch.cuda.is_available())
import ember
print("ember cuda available:", ember.cuda.is_available(), ember.cuda.get_device_name() if ember.cuda.is_available() else "")
states = {}
for op, devices in ember.kernels.available().items():
    for name, state in devices.get("cuda", {}).get("implementations", {}).items():
        states.setdefault(f"{name}: {state}", []).append(op)
for state, ops in sorted(states.items()):
    print(f"cuda {state} ({len(ops)} ops: {', '.join(ops)})")
EOF
}
export -f environment   # for `timeout`, which runs programs, not functions

# pytest's workers share the GPU; xdist and pytest-timeout are in the device image, maybe not elsewhere
PYTEST=("$PY" -m pytest -q -p no:cacheprovider)
"$PY" -c "import xdist" 2>/dev/null && PYTEST+=(-n 8)
"$PY" -c "import pytest_timeout" 2>/dev/null && PYTEST+=(--timeout 120)
BENCH=("$PY" -m ember bench --device cuda --output-dir "$OUT/results")

# offline: pip may only check the [cuda] extra against what is installed; failing that, no dependencies
step install 240 bash -c "$PY -m pip install --no-index --no-build-isolation -e '.[cuda]' ||
                          $PY -m pip install --no-index --no-build-isolation --no-deps -e ."
step environment 60 bash -c environment
step gpu-tests 200 "${PYTEST[@]}" -m cuda tests/
step gpu-unmarked-tests 60 "${PYTEST[@]}" $UNMARKED_GPU_TESTS
step bench-kernels 150 "${BENCH[@]}" --quick
step bench-models 150 "${BENCH[@]}" --models   # eager and CUDA-graph ("graphed") steps against PyTorch
if [ -n "$SIMULATOR_TESTS" ]; then
    step simulator-tests 90 env NUMBA_ENABLE_CUDASIM=1 "${PYTEST[@]}" $SIMULATOR_TESTS
else
    echo "simulator-tests: SKIPPED (no tests/test_numba*.py)" >>"$SUMMARY"
fi
step bench-ops 90 "${BENCH[@]}" --ops --quick

set +x
{
    echo
    echo "==== environment"
    cat "$LOGS/environment.log"
    for name in gpu-tests gpu-unmarked-tests simulator-tests; do
        [ -f "$LOGS/$name.log" ] || continue
        echo "==== $name"
        grep -E "^(FAILED|ERROR)" "$LOGS/$name.log" | head -n 40
        grep -E "^SKIPPED" "$LOGS/$name.log" | head -n 15
        grep -E "[0-9]+ (passed|failed|skipped|errors?)" "$LOGS/$name.log" | tail -n 1
    done
    for name in bench-kernels bench-models bench-ops; do
        [ -f "$LOGS/$name.log" ] || continue
        echo "==== $name"
        grep -E "copy_gbps|^FAILED|Error|wrote|^(mlp|lenet|cifar-cnn|char-lstm) " "$LOGS/$name.log" | tail -n 20
    done
} >>"$SUMMARY"
cp "$SUMMARY" "$OUT/summary.txt"
tar -czf "$OUT/logs.tar.gz" -C "$LOGS" .
echo "==== summary ($SECONDS s; logs in \$OUT/logs.tar.gz, bench results in \$OUT/results/)"
cat "$SUMMARY"
