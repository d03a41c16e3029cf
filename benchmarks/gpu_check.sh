#!/usr/bin/env bash
# On a machine with a CUDA GPU: build for its architecture, run the op tests (the CUDA cases
# compare native CUDA kernels with the float64 CPU reference, gradients included, in float64,
# float32, float16 and bfloat16), then the op benchmarks on the GPU. Prints a short table;
# paste it into benchmarks/RESULTS.md. Meant to finish in under 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export FASTGAN_CUDA=1 FASTGAN_CUDA_ARCHS="${FASTGAN_CUDA_ARCHS:-native}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
make build
.venv/bin/python -m pytest tests/ops -q -x -p no:cacheprovider
for bench in benchmarks/bench_*.py; do
  name=$(basename "$bench" .py)
  .venv/bin/python -m "benchmarks.$name" --device cuda --min-run-time 0.3
done
