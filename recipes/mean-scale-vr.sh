#!/usr/bin/env bash
# The default image model's training: variable-rate mean-scale hyperprior (one model, every
# quality), on the Debian photo corpus (recipes/build_corpus.py).
# Resumable (recipes/lib.sh): the run folder's checkpoint, else the shipped weights
# src/hyco/weights/mean-scale-vr.safetensors (what `hyco compress` uses by default), else from
# scratch. At the end (or any time: `bash recipes/mean-scale-vr.sh export`) the weights go to
# that file: commit it, and the next round continues from it.
#   bash recipes/mean-scale-vr.sh [STEPS_THIS_RUN] [THREADS]
# CROP, CANDIDATES, BATCH, QUANTIZER (noise, ste), LR, SCHEDULE, MILESTONES, GAMMA, LEVEL_WEIGHTS and SEED (environment)
# set a fresh run's crops (each the most detailed of CANDIDATES random ones), the odds of each
# rate level (LEVEL_WEIGHTS="w1 ... w8", default uniform), learning-rate schedule and
# data order (use a new SEED each round, so a round does not replay the last one's crops);
# each round's values are recorded in BENCHMARKS.md. --bf16 only takes
# effect where the CPU has native bf16 (hyco.train.precision).
set -euo pipefail
cd "$(dirname "$0")/.."
source recipes/lib.sh
RUNDIR=${RUNDIR:-cache/runs/mean-scale-vr}
# STATE=FILE: another file to continue from and export to than the shipped default's weights
# (a next round kept in recipes/state until its priors are retrained and it ships)
STATE=${STATE:-src/hyco/weights/mean-scale-vr.safetensors}
if [[ "${1:-}" == "export" ]]; then
  exec hyco export "$RUNDIR" -o "$STATE" --half
fi
need_corpus
train_resumable "$RUNDIR" "$STATE" "${1:-100000}" "${2:-2}" \
  --model mean-scale-vr --quality 3 --data cache/corpus --val cache/corpus_val \
  --batch-size "${BATCH:-4}" --crop "${CROP:-256}" \
  --crop-candidates "${CANDIDATES:-2}" ${LEVEL_WEIGHTS:+--level-weights $LEVEL_WEIGHTS} ${QUANTIZER:+--quantizer $QUANTIZER} --lr "${LR:-3e-4}" --bf16 \
  --schedule "${SCHEDULE:-constant}" ${MILESTONES:+--milestones $MILESTONES} \
  --gamma "${GAMMA:-0.1}" --ckpt-every 250 --val-every 1000 --log-every 50 --seed "${SEED:-0}"
