#!/usr/bin/env bash
# What needs a GPU, checked in one go on one GPU in a few minutes, printing what it measured
# (BENCHMARKS.md keeps the output of each run):
#   1. the quickstart on cuda: device, bf16 weights, peak GPU memory in the records;
#   2. three LoRA variants and a QLoRA one packed onto the one GPU by their memory estimates,
#      overlapping in time, each record's peak beside its estimate; QLoRA with paged AdamW;
#   3. full fine-tuning of a randomly initialised 0.47B Llama (a config, no download) in bf16
#      through the harness's training loop, with the MFU it reached.
# Run from the repository root after `make install`:  bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-$(mktemp -d /tmp/gpu-check.XXXX)}

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'bf16', torch.cuda.is_bf16_supported())"

echo "== 1. quickstart on cuda"
$PY -m harness.cli run suites/quickstart.yaml --results "$OUT/results" --leaderboard "$OUT/quickstart.html" || true
$PY benchmarks/records_summary.py "$OUT/results/quickstart"

echo "== 2. LoRA x3 + QLoRA packed onto one GPU"
$PY -m harness.cli run benchmarks/gpu-pack.yaml --results "$OUT/results" --leaderboard "$OUT/pack.html" || true
$PY benchmarks/records_summary.py "$OUT/results/gpu-pack"

echo "== 3. full fine-tuning, 0.47B Llama from a config, bf16: MFU"
$PY benchmarks/mfu.py 2>&1 | grep -v "^train:"

echo "== results in $OUT"
