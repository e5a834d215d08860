#!/usr/bin/env bash
# QARV at CPU size (`--model qarv`, 7 latent layers, 2.4 M parameters): one set of weights for
# every lambda in 16..2048 (lossy-vae's convention), a lambda drawn log-uniformly per image and
# step, on the Debian photo corpus (recipes/build_corpus.py), bf16 autocast.
#
# Resumable like recipes/mean-scale-vr.sh:
#   - within a session: RUNDIR/checkpoint.pt exists -> `hyco train --resume` (exact);
#   - across sessions: recipes/state/qarv.safetensors (fp16) -> --init, its metadata carries
#     the steps already done;
#   - from scratch otherwise.
# At the end (or any time: `bash recipes/qarv.sh export`) the weights go to recipes/state/.
#   bash recipes/qarv.sh [STEPS_THIS_RUN] [THREADS]
# lossy-vae trains QARV with Adam 2e-4, 256x256 crops, gradient clipping; CROP, BATCH and LR
# (environment) override this recipe's CPU-sized defaults for a fresh run.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNDIR=${RUNDIR:-cache/runs/qarv}
STATE=recipes/state/qarv.safetensors
if [[ "${1:-}" == "export" ]]; then
  exec hyco export "$RUNDIR" -o "$STATE" --half
fi
STEPS=${1:-100000}
THREADS=${2:-2}
CROP=${CROP:-256}
BATCH=${BATCH:-8}
LR=${LR:-2e-4}
[[ -d cache/corpus ]] || python recipes/build_corpus.py --out cache/corpus
if [[ -f "$RUNDIR/checkpoint.pt" ]]; then
  hyco train --resume "$RUNDIR" --steps "$STEPS" --threads "$THREADS"
else
  init=()
  [[ -f "$STATE" ]] && init=(--init "$STATE")
  hyco train --model qarv --quality 3 --data cache/corpus --val cache/corpus_val \
    --out "$RUNDIR" --steps "$STEPS" --batch-size "$BATCH" --crop "$CROP" --lr "$LR" --bf16 \
    --schedule constant --clip 1.0 --ckpt-every 250 --val-every 1000 --log-every 50 --seed 0 \
    --threads "$THREADS" "${init[@]}"
fi
hyco export "$RUNDIR" -o "$STATE" --half
