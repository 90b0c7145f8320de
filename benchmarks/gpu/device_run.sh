#!/usr/bin/env bash
# Runs ON the lent GPU machine (see benchmarks/gpu/README.md): installs the carried wheels into /tmp/site, then
# benchmarks/gpu/checks.py (Warp-on-CUDA parity with MuJoCo C, the issue-6 throughput table, a short training
# run), everything logged to $OUT. Each check has a time budget so the call ends inside the 10-minute limit.
set -uo pipefail
OUT=${OUT:-/tmp/mmbio-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# JAX preallocates 75 % of the GPU by default; MuJoCo Warp allocates its worlds beside it (8,192 MyoFullBody
# worlds: a few GB), so leave it half the card
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.5}
# a call's carry replaces the whole .whl folder on the device machine, so the earlier calls copied their part to
# /tmp/parts (kept while the machine stays warm); this call's part joins them there
mkdir -p /tmp/parts && cp .whl/part* /tmp/parts/ 2>/dev/null
if [ ! -d /tmp/site/warp ]; then
  mkdir -p /tmp/whlx
  cat /tmp/parts/part* | tar -C /tmp/whlx -xf - || { echo "the wheel parts are incomplete: $(ls /tmp/parts)"; exit 3; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /tmp/whlx/*.whl || exit 3
fi
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 benchmarks/gpu/checks.py --out "$OUT" --budget-s "${BUDGET_S:-540}" "$@" 2>&1 | tee "$OUT/log.txt"
# the training run's last checkpoint (≈ 43 MB with the optimiser state) comes back in 15 MB pieces (at most 16 MB
# per file, 8 files): join them with `cat ck.* > latest.pkl` and validate it on the dev machine
ck=/tmp/mmbio_gpu_train_run/latest.pkl
if [ -f "$ck" ]; then split -b 15M "$ck" "$OUT/ck."; fi
# the walk fine-tune's (issue 14 §3, with --student): `cat walk.* > latest.pkl`
wk=/tmp/mmbio_gpu_walk_run/latest.pkl
if [ -f "$wk" ]; then split -b 15M "$wk" "$OUT/walk."; fi
