#!/usr/bin/env bash
# checkerboard-vr: a checkerboard spatial prior (hyco.image.checkerboard_vr) learned on top of
# the shipped default model's frozen transforms, rate only, from cached corpus latents
# (hyco.train.latent_prior). A fresh run starts from src/hyco/weights/mean-scale-vr.safetensors
# (its transforms; the prior starts at zero, i.e. at the base model's rate); a later one from
# the shipped checkerboard-vr weights. When the default model is retrained, run it afresh
# (FRESH=1, no RUNDIR): the prior belongs to one set of transforms. The exported file holds only
# the prior and the digest of the mean-scale-vr weights it was trained on (`hyco export --base`),
# so a retrained default model without a retrained prior fails loudly instead of decoding badly.
# MODEL=channel-checkerboard-vr trains the space-channel prior the same way
# (recipes/channel-checkerboard-vr.sh). WARM=FILE (with FRESH=1) starts the prior from the
# last round's prior file instead of zero (`hyco train --warm-prior`), on the new transforms.
#   bash recipes/checkerboard-vr.sh [STEPS_THIS_RUN] [THREADS]     bash recipes/checkerboard-vr.sh export
set -euo pipefail
cd "$(dirname "$0")/.."
source recipes/lib.sh
MODEL=${MODEL:-checkerboard-vr}
RUNDIR=${RUNDIR:-cache/runs/$MODEL}
STATE=src/hyco/weights/$MODEL.safetensors
BASE=src/hyco/weights/mean-scale-vr.safetensors
if [[ "${1:-}" == "export" ]]; then
  exec hyco export "$RUNDIR" -o "$STATE" --half --base "$BASE"
fi
export EXPORT_ARGS="--base $BASE"
need_corpus
init=()
if [[ ! -f "$RUNDIR/checkpoint.pt" ]] && [[ "${FRESH:-0}" == 1 || ! -f "$STATE" ]]; then
  init=(--init "$BASE")
fi
warm=()  # WARM=FILE: the prior of the last round (trained on the last transforms) as the start
[[ -n ${WARM:-} ]] && warm=(--warm-prior "$WARM")
train_resumable "$RUNDIR" "$STATE" "${1:-3000}" "${2:-1}" \
  --model "$MODEL" --data cache/corpus --val cache/corpus_val \
  --batch-size "${BATCH:-16}" --lr "${LR:-1e-3}" --schedule multistep \
  --milestones "${MILESTONES:-2500}" --gamma 0.1 --clip 1.0 \
  --ckpt-every 250 --val-every 1000 --log-every 50 --seed "${SEED:-0}" "${init[@]}" "${warm[@]}"
