#!/usr/bin/env bash
# The default image model's training: variable-rate mean-scale hyperprior (one model, every
# quality), on the Debian photo corpus (recipes/build_corpus.py), bf16 autocast.
#
# Resumable at three levels:
#   - within a session: RUNDIR/checkpoint.pt exists -> `hyco train --resume` (exact);
#   - across sessions: recipes/state/mean-scale-vr.safetensors (committed, fp16) -> --init,
#     its metadata carries the steps already done;
#   - from scratch otherwise.
# At the end (or any time: `bash recipes/mean-scale-vr.sh export`) the weights go to
# recipes/state/ so the next session continues from them.
#   bash recipes/mean-scale-vr.sh [STEPS_THIS_RUN] [THREADS]
# CROP, BATCH and LR (environment) set a fresh run's crops and learning rate; each round's
# values are recorded in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNDIR=${RUNDIR:-cache/runs/mean-scale-vr}
STATE=recipes/state/mean-scale-vr.safetensors
if [[ "${1:-}" == "export" ]]; then
  exec hyco export "$RUNDIR" -o "$STATE" --half
fi
STEPS=${1:-100000}
THREADS=${2:-2}
CROP=${CROP:-192}
BATCH=${BATCH:-8}
LR=${LR:-3e-4}
[[ -d cache/corpus ]] || python recipes/build_corpus.py --out cache/corpus
if [[ -f "$RUNDIR/checkpoint.pt" ]]; then
  hyco train --resume "$RUNDIR" --steps "$STEPS" --threads "$THREADS"
else
  init=()
  [[ -f "$STATE" ]] && init=(--init "$STATE")
  hyco train --model mean-scale-vr --quality 3 --data cache/corpus --val cache/corpus_val \
    --out "$RUNDIR" --steps "$STEPS" --batch-size "$BATCH" --crop "$CROP" --lr "$LR" --bf16 \
    --schedule constant --ckpt-every 250 --val-every 1000 --log-every 50 --seed 0 \
    --threads "$THREADS" "${init[@]}"
fi
hyco export "$RUNDIR" -o "$STATE" --half
