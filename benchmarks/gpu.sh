#!/usr/bin/env bash
# GPU checks of the Triton backend, under 5 minutes on an H100/H200:
#   1. the CUDA tests (pytest -m "cuda or triton": compiled kernels against the reference loop,
#      and the interpreter cases beside them),
#   2. benchmarks/gpu.py: feed-forward LIF 10^7 x 10^3 (GB/s against the card's bandwidth),
#      Izhikevich 20 x 4000 (us per step), spike events, `simctl run simulation.device=cuda`,
#      Brunel E/I networks of 12 500 and 10^5 neurons on the device engine against the CPU's
#      network loop (spikes compared), then a summary table.
# Each step has its own time limit (150 s + 140 s): the whole script stays under 5 minutes.
# Needs a CUDA build of torch and triton in the Python it runs (`pip install -e ".[test,gpu]"`);
# PYTHON=... picks the interpreter. Results also go to $OUT (default: a fresh temporary folder).
#
#   benchmarks/gpu.sh              # on the GPU machine
#   benchmarks/gpu.sh --cpu-check  # without a GPU: checks this script (tiny sizes, CPU tensors,
#                                  # Triton's interpreter); its figures mean nothing
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

py="${PYTHON:-python}"
mode="gpu"
if [[ "${1:-}" == "--cpu-check" ]]; then
    mode="cpu"
elif [[ $# -gt 0 ]]; then
    echo "usage: benchmarks/gpu.sh [--cpu-check]" >&2
    exit 2
fi
out="${OUT:-$(mktemp -d -t simctl-gpu.XXXXXX)}"
mkdir -p "$out"
export MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1
start=$(date +%s)

if ! "$py" -c "import torch, triton" 2>/dev/null; then
    echo "gpu.sh: torch and triton must be importable by $py (pip install -e \".[test,gpu]\")" >&2
    exit 2
fi

if [[ "$mode" == "gpu" ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv \
        | tee "$out/nvidia-smi.csv" || true
    "$py" - <<'PY' | tee "$out/versions.txt"
import torch, triton
print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__)
print("device", torch.cuda.get_device_name() if torch.cuda.is_available() else "NONE")
if not torch.cuda.is_available():
    raise SystemExit("gpu.sh: torch sees no CUDA device")
PY
    echo "== 1/2 CUDA tests (pytest -m \"cuda or triton\")"
    status=0
    # an unrelated module that cannot be imported (a missing test extra) must not stop the CUDA
    # tests from running; it still fails the script
    timeout 150 "$py" -m pytest -m "cuda or triton" -q -p no:cacheprovider -W error \
        --continue-on-collection-errors \
        --junitxml="$out/pytest.xml" tests 2>&1 | tee "$out/pytest.txt" || status=$?
    echo "== 2/2 benchmarks"
    timeout 140 "$py" benchmarks/gpu.py --json "$out/gpu.json" 2>&1 | tee "$out/benchmarks.txt" \
        || status=$?
else
    echo "== 1/2 the test selection (collected only: no GPU here)"
    status=0
    "$py" -m pytest -m "cuda or triton" -q -p no:cacheprovider --collect-only tests 2>&1 \
        | tail -n 1 | tee "$out/pytest.txt" || status=$?
    echo "== 2/2 benchmarks (--cpu-check: tiny sizes under Triton's interpreter)"
    timeout 140 "$py" benchmarks/gpu.py --cpu-check --json "$out/gpu.json" 2>&1 \
        | tee "$out/benchmarks.txt" || status=$?
fi
echo "gpu.sh: $(($(date +%s) - start)) s, exit $status; results in $out/"
exit "$status"
