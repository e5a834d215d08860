#!/usr/bin/env bash
# Short training of every image codec at equal steps on the corpus, then Kodak RD of each:
# shows the family's order (factorized > hyperprior > mean-scale > context models in rate at
# equal quality). Results: cache/runs/family/*, cache/eval/family (JSON, CSV, plot, BD table).
#   bash benchmarks/family.sh [STEPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1500}
THREADS=${2:-1}
OUT=cache/runs/family
mkdir -p "$OUT"
codecs=()
for m in factorized hyperprior mean-scale checkerboard joint-ar; do
  w="$OUT/$m-q3-${STEPS}.safetensors"
  if [[ ! -f "$w" ]]; then
    hyco train --model "$m" --quality 3 --data cache/corpus --out "$OUT/$m" --force \
      --steps "$STEPS" --crop 128 --batch-size 8 --lr 1e-4 --bf16 --schedule constant \
      --ckpt-every 500 --log-every 50 --seed 0 --threads "$THREADS" --export "$w"
  fi
  codecs+=(--codec "hyco:$w")
done
hyco eval ../shared/data/kodak "${codecs[@]}" --anchor "hyco:mean-scale-q3-${STEPS}" \
  --out cache/eval/family --threads "$THREADS"
