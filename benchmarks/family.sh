#!/usr/bin/env bash
# Short training of every image codec at equal steps on the corpus, then Kodak RD of each:
# shows the family's order (factorized > hyperprior > mean-scale > context models in rate at
# equal quality). Results: cache/runs/family/*, cache/eval/family (JSON, CSV, plot, BD table).
#   bash benchmarks/family.sh [STEPS] [THREADS]
# LR (default 1e-4, constant) and SCHEDULE (constant or multistep: x0.1 at 80 % and 95 % of the
# steps) and MODELS (space-separated) come from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1500}
THREADS=${2:-1}
LR=${LR:-1e-4}
SCHEDULE=${SCHEDULE:-constant}
MODELS=${MODELS:-factorized hyperprior mean-scale checkerboard joint-ar}
OUT=cache/runs/family
mkdir -p "$OUT"
codecs=()
for m in $MODELS; do
  w="$OUT/$m-q3-${STEPS}.safetensors"
  if [[ ! -f "$w" ]]; then
    hyco train --model "$m" --quality 3 --data cache/corpus --out "$OUT/$m-$STEPS" --force \
      --steps "$STEPS" --crop 128 --batch-size 8 --lr "$LR" --bf16 --schedule "$SCHEDULE" \
      --ckpt-every 500 --log-every 50 --seed 0 --threads "$THREADS" --export "$w"
  fi
  codecs+=(--codec "hyco:$w")
done
hyco eval ../shared/data/kodak "${codecs[@]}" --anchor "hyco:mean-scale-q3-${STEPS}" \
  --out "cache/eval/family-$STEPS" --threads "$THREADS"
