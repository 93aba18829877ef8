#!/usr/bin/env bash
# The GPU figures in one command (<= 8 minutes on one CUDA GPU): training clips/s and peak memory of the paper
# preset (RGB + pose) vs TimeSformer-base at equal batch in bf16, eager vs torch.compile, and batch-1 inference
# latency -> benchmarks/results/gpu/results.{json,md} (and the summary page). Extra arguments go to the suite,
# e.g. `bash benchmarks/gpu.sh --batch 16`; `--dry-run` runs it on the CPU with tiny models (what the tests do).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1
timeout 470 "$PYTHON" -m benchmarks.suites.gpu "$@"
