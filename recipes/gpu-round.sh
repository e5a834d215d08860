#!/usr/bin/env bash
# A round of the shipped image models on a lent GPU, in a wall-clock budget
# (recipes/timed_train.py measures the throughput and sets the steps): mean-scale-vr continued
# from the shipped weights at 256x256 crops (the CPU rounds use 128), then the two priors on
# its frozen transforms afresh (channel-checkerboard-vr, the default, and checkerboard-vr),
# each exported into src/hyco/weights (commit them together: a prior records its base's digest).
# The corpus is cache/corpus (recipes/build_corpus.py, or recipes/pack_corpus.py unpack where
# the packages cannot be fetched). No validation runs on the GPU: validate by real coding after.
#   bash recipes/gpu-round.sh [BASE_SECONDS] [PRIOR_SECONDS] [CHECKERBOARD_SECONDS]
# BATCH, CROP, LR, SEED (environment) override the base model's batch, crop, learning rate
# and data order; PROBE the steps measured before the budget is set; PYTHON the interpreter
# (default python3); COPY_TO a folder that gets each exported file and the run logs as soon as
# they are written (a lease can end mid-round).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
W=src/hyco/weights
BASE=$W/mean-scale-vr.safetensors
RUNS=${RUNS:-cache/runs}
keep() {  # keep FILE RUNDIR: copy a stage's export and logs out at once (COPY_TO)
  [[ -n ${COPY_TO:-} ]] || return 0
  cp "$1" "$COPY_TO/"
  tar czf "$COPY_TO/$(basename "$2").tgz" -C "$(dirname "$2")" \
    "$(basename "$2")/train.csv" "$(basename "$2")/config.json"
}
$PY recipes/timed_train.py "${1:-300}" --probe "${PROBE:-300}" --milestones 0.8 --export "$BASE" --half -- \
  --model mean-scale-vr --quality 3 --data cache/corpus --batch-size "${BATCH:-16}" \
  --crop "${CROP:-256}" --crop-candidates 2 --level-weights 1 1 1 1 2 2 3 3 \
  --lr "${LR:-1e-4}" --schedule multistep --gamma 0.3 --ckpt-every 1000 --log-every 100 \
  --seed "${SEED:-13}" --init "$BASE" --out "$RUNS/mean-scale-vr-gpu"
keep "$BASE" "$RUNS/mean-scale-vr-gpu"
for m in channel-checkerboard-vr checkerboard-vr; do
  seconds=${2:-100}
  [[ $m == checkerboard-vr ]] && seconds=${3:-70}
  $PY recipes/timed_train.py "$seconds" --probe "${PROBE:-200}" --milestones 0.83 \
    --export "$W/$m.safetensors" --half --base "$BASE" -- \
    --model "$m" --data cache/corpus --batch-size 32 --lr 1e-3 --schedule multistep \
    --gamma 0.1 --clip 1.0 --ckpt-every 1000 --log-every 100 --seed 0 --init "$BASE" \
    --out "$RUNS/$m-gpu"
  keep "$W/$m.safetensors" "$RUNS/$m-gpu"
done
