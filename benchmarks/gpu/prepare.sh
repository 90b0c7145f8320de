#!/usr/bin/env bash
# Prepare, on a development machine, the Python 3.12 wheels that the lent GPU machine (H200 image: Python 3.12,
# JAX 0.11 with CUDA, no MuJoCo, no Warp, no network) lacks, split into parts that each fit one device call
# (64 MiB per call with the ~6 MB working tree). Writes .whl/part00, part01, ... (ignored by git via
# .git/info/exclude) and prints the calls to make. See benchmarks/gpu/README.md.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
grep -qxF '/.whl/' .git/info/exclude || echo '/.whl/' >>.git/info/exclude
rm -rf .whl && mkdir -p .whl/dl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl/dl \
  mujoco==4.0.1 mujoco-core==4.0.1 mujoco-warp==4.0.0 warp-lang==1.19.0 musclemimic-models==1.0.6
tar -C .whl/dl -cf .whl/wheels.tar .
rm -rf .whl/dl
split -b 54M -d .whl/wheels.tar .whl/part
rm .whl/wheels.tar
ls -l .whl
n=$(ls .whl/part* | wc -l)
echo "device calls, back to back (a warm machine is given back after 30 s idle):"
i=0
for p in .whl/part*; do
  i=$((i + 1))
  if [ "$i" -lt "$n" ]; then
    echo "  run(carry=[\"$p\"], command=\"mkdir -p /tmp/parts && cp .whl/part* /tmp/parts/ && ls -l /tmp/parts\", timeout_s=60)"
  else
    echo "  run(carry=[\"$p\"], command=\"bash benchmarks/gpu/device_run.sh\", timeout_s=590)"
  fi
done
