#!/usr/bin/env bash
# Train (or continue training) the mean-scale hyperprior at quality 3 on the Debian corpus.
# Resumable: run it again and it continues from RUNDIR's checkpoint, exactly.
#   bash recipes/mean-scale-q3.sh [STEPS]        (default: 200000 total steps)
# Needs the corpus: python recipes/build_corpus.py --out cache/corpus
set -euo pipefail
cd "$(dirname "$0")/.."
RUNDIR=${RUNDIR:-cache/runs/mean-scale-q3}
STEPS=${1:-200000}
if [[ -f "$RUNDIR/checkpoint.pt" ]]; then
  exec hyco train --resume "$RUNDIR" --steps "$STEPS"
fi
exec hyco train --model mean-scale --quality 3 --data cache/corpus --val cache/corpus_val \
  --out "$RUNDIR" --steps "$STEPS" --batch-size 8 --crop 256 --lr 1e-4 --bf16 \
  --milestones 150000 190000 --ckpt-every 250 --val-every 1000 --log-every 50 --seed 0
