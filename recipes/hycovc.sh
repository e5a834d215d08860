#!/usr/bin/env bash
# HyCoVC (video P-frame codec) training, one variant per run: context | flow | full.
# Data: cache/video_corpus = the image corpus (synthetic camera motion with exact flow) plus the
# OpenCV sample videos vtest, Megamind, tree (real motion); CiscoVT2people is held out for
# evaluation. Clips of FRAMES frames (1 reference + unrolled P-frames), crops of CROP px,
# a rate level per step (gain units), bf16 autocast; QUANTIZER=ste: the syntheses train on the
# rounded latents (`hyco train --quantizer ste`).
# Resumable (recipes/lib.sh): RUNDIR checkpoint -> --resume; else the shipped weights
# src/hyco/weights/hycovc-VARIANT.safetensors (what `hyco video compress --variant VARIANT`
# loads) -> --init; exported there (fp16) at the end, or any time with `... VARIANT export`.
#   bash recipes/hycovc.sh VARIANT [STEPS] [THREADS]
# To lengthen a run in its session: stop it after a checkpoint, then
#   hyco train --resume cache/runs/hycovc-VARIANT --steps N --milestones M1 M2 --threads T
set -euo pipefail
cd "$(dirname "$0")/.."
source recipes/lib.sh
VARIANT=${1:?context, flow or full}
STEPS=${2:-20000}
THREADS=${3:-2}
FRAMES=${FRAMES:-3}
CROP=${CROP:-128}
BATCH=${BATCH:-4}
LR=${LR:-2e-4}
RUNDIR=${RUNDIR:-cache/runs/hycovc-$VARIANT}
STATE=src/hyco/weights/hycovc-$VARIANT.safetensors  # shipped
if [[ "${2:-}" == "export" ]]; then
  exec hyco export "$RUNDIR" -o "$STATE" --half
fi
need_video_corpus
train_resumable "$RUNDIR" "$STATE" "$STEPS" "$THREADS" \
  --model hycovc --variant "$VARIANT" --data cache/video_corpus --frames "$FRAMES" \
  --crop "$CROP" --batch-size "$BATCH" --lr "$LR" ${QUANTIZER:+--quantizer $QUANTIZER} --bf16 \
  --ckpt-every 250 --log-every 20 --seed 0
