#!/usr/bin/env bash
# HyCoVC `latent`: the temporal prior over the shipped image codec's latent (hyco.video.latent).
# Only the prior trains (rate only: the pictures are the frozen image codec's), so a step is
# mostly the image codec's analysis of the clip's frames. Data as recipes/hycovc.sh
# (cache/video_corpus; CiscoVT2people held out); REAL (default 0.7) of the clips come from the
# real videos, the rest are synthetic pans over the photos.
# The prior belongs to one set of image-codec weights: after a new default-model round, run it
# again (it starts from the shipped prior, --init) for a few hundred steps.
# Resumable (recipes/lib.sh): RUNDIR checkpoint -> --resume; else the shipped prior
# src/hyco/weights/hycovc-latent.safetensors -> --init; exported there at the end.
#   bash recipes/hycovc-latent.sh [STEPS] [THREADS]     |     bash recipes/hycovc-latent.sh export
set -euo pipefail
cd "$(dirname "$0")/.."
source recipes/lib.sh
RUNDIR=${RUNDIR:-cache/runs/hycovc-latent}
STATE=src/hyco/weights/hycovc-latent.safetensors  # shipped
if [[ "${1:-}" == "export" ]]; then
  exec hyco export "$RUNDIR" -o "$STATE" --half
fi
need_video_corpus
STEPS=${1:-1500}
train_resumable "$RUNDIR" "$STATE" "$STEPS" "${2:-1}" \
  --model hycovc --variant latent --data cache/video_corpus --frames 3 --crop "${CROP:-192}" \
  --batch-size "${BATCH:-6}" --lr "${LR:-1e-3}" --real-fraction "${REAL:-0.7}" \
  ${MILESTONES:+--milestones $MILESTONES} --ckpt-every 250 --log-every 20 --seed "${SEED:-1}"
