#!/usr/bin/env bash
# HiFiC, small configuration (`--model hific`), low regime (target 0.14 bpp), in two stages on
# the Debian photo corpus (recipes/build_corpus.py), bf16 autocast, batch 8 of 256x256 crops:
#   1. stage rd:  E + hyperprior + G, rate-controlled k_M * MSE + k_P * (1 - MS-SSIM), no D;
#   2. stage gan: warm-started from stage 1's weights (--init), adds the conditional
#      multi-scale discriminator, the non-saturating GAN loss (beta = 0.15) and discriminator
#      feature matching in the perceptual term; alternating D/G updates.
# Both stages: Adam 1e-4, lr / 10 at half the stage's steps, rate target relaxed (x 0.20/0.14,
# lambdas halved) for the first 5 % of each stage (the paper's 50k of 1M steps).
# No LPIPS weights are downloaded: give LPIPS=/path/lpips_alex.safetensors to use them
# (format: src/hyco/train/perceptual.py), otherwise the weight-free substitute is used.
#
# Each stage resumes exactly from its run folder (checkpoint.pt); a finished stage is skipped.
# Stage 1's weights go to recipes/state/hific-REGIME-rd.safetensors (fp16, to commit): stage 2
# starts from exactly that file, so it can run in a later session; when the file exists and
# stage 1's run folder does not, stage 1 is taken as done.
#   bash recipes/hific.sh [RD_STEPS] [GAN_STEPS] [THREADS]
# CROP and LR (environment) override the paper-like 256x256 crops and Adam 1e-4 of a fresh
# stage (smaller crops train about 3.5x more steps an hour on a CPU; BENCHMARKS says what ran).
# Result: cache/hific-low.safetensors (fp16); to ship it: cp it to src/hyco/weights/.
set -euo pipefail
cd "$(dirname "$0")/.."
source recipes/lib.sh
RD_STEPS=${1:-20000}
GAN_STEPS=${2:-20000}
THREADS=${3:-2}
REGIME=${REGIME:-low}
RD=${RD_RUNDIR:-cache/runs/hific-$REGIME-rd}
GAN=${GAN_RUNDIR:-cache/runs/hific-$REGIME-gan}
STAGE1=recipes/state/hific-$REGIME-rd.safetensors
lpips=()
[[ -n "${LPIPS:-}" ]] && lpips=(--lpips "$LPIPS")
need_corpus
common=(--data cache/corpus --val cache/corpus_val --batch-size 8 --crop "${CROP:-256}"
        --lr "${LR:-1e-4}" --bf16
        --ckpt-every 250 --val-every 1000 --log-every 50 --seed 0 --threads "$THREADS")

run_stage() {  # run_stage RUNDIR STEPS ARGS...: fresh, resumed, or already done
  local dir=$1 steps=$2
  shift 2
  if [[ -f "$dir/checkpoint.pt" ]]; then
    hyco train --resume "$dir" --steps "$steps" --threads "$THREADS"
  else
    hyco train --model hific --quality "$REGIME" --out "$dir" --steps "$steps" "$@"
  fi
}

if [[ -f "$STAGE1" && ! -f "$RD/checkpoint.pt" ]]; then
  echo "stage 1: done in an earlier session ($STAGE1)"
else
  run_stage "$RD" "$RD_STEPS" --stage rd "${common[@]}" "${lpips[@]}"
  mkdir -p recipes/state
  hyco export "$RD" -o "$STAGE1" --half  # stage 2 starts from exactly these weights
fi
run_stage "$GAN" "$GAN_STEPS" --stage gan --init "$STAGE1" "${common[@]}" "${lpips[@]}"
hyco export "$GAN" -o "cache/hific-$REGIME.safetensors" --half
echo "stage 2 weights: cache/hific-$REGIME.safetensors (reconstructions: $GAN/val, $GAN/train_recons)"
