#!/usr/bin/env bash
# Every benchmark suite, one command each (each sized to finish in <= 20 minutes on a 2-core CPU), then the
# summary page benchmarks/README.md. Results: benchmarks/results/<suite>/{results.json,results.md,*.png}.
# Run from the project root:  bash benchmarks/run_all.sh  (or pick single lines)
set -euo pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
PY=${PY:-.venv/bin/python}
OUT=${OUT:-benchmarks/results}
for suite in cost scaling data compile ablation attention tokens windows frames explain; do
  /usr/bin/time -f "$suite: %e s" "$PY" -m benchmarks --suite "$suite" --out "$OUT"
done
"$PY" -m benchmarks --suite summary --out "$OUT"
