#!/usr/bin/env bash
# QARV at CPU size (`--model qarv`, 7 latent layers, 2.4 M parameters): one set of weights for
# every lambda in 16..2048 (lossy-vae's convention), a lambda drawn log-uniformly per image and
# step, on the Debian photo corpus (recipes/build_corpus.py), bf16 autocast.
# Resumable (recipes/lib.sh): the run folder's checkpoint, else the shipped
# src/hyco/weights/qarv.safetensors, else from scratch. At the end (or any time:
# `bash recipes/qarv.sh export`) the weights go to that file: commit it.
#   bash recipes/qarv.sh [STEPS_THIS_RUN] [THREADS]
# lossy-vae trains QARV with Adam 2e-4, 256x256 crops, gradient clipping; CROP, BATCH, LR and SEED
# (environment) override this recipe's CPU-sized defaults for a fresh run (a new SEED each
# round, so a round does not replay the last one's crops; rounds 1, 2 and 4 each began at 0).
set -euo pipefail
cd "$(dirname "$0")/.."
source recipes/lib.sh
RUNDIR=${RUNDIR:-cache/runs/qarv}
STATE=src/hyco/weights/qarv.safetensors  # shipped: what `--model qarv` loads
if [[ "${1:-}" == "export" ]]; then
  exec hyco export "$RUNDIR" -o "$STATE" --half
fi
need_corpus
train_resumable "$RUNDIR" "$STATE" "${1:-100000}" "${2:-2}" \
  --model qarv --quality 3 --data cache/corpus --val cache/corpus_val \
  --batch-size "${BATCH:-8}" --crop "${CROP:-256}" --lr "${LR:-2e-4}" --bf16 \
  --schedule constant --clip 1.0 --ckpt-every 250 --val-every 1000 --log-every 50 --seed "${SEED:-0}"
