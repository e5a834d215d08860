# Shared by the training recipes (sourced, not run): one resume logic for every model, so a
# recipe states only its model and its hyper-parameters.

need_corpus() {  # the photo corpus of ../shared/DATA.md, built once
  [[ -d cache/corpus ]] || python recipes/build_corpus.py --out cache/corpus
}

need_video_corpus() {  # the photos (synthetic camera motion) + the real training videos
  need_corpus           # (CiscoVT2people is held out for evaluation), as links, built once
  [[ -d cache/video_corpus ]] && return
  mkdir -p cache/video_corpus
  for f in cache/corpus/*; do ln -sf "$(readlink -f "$f")" cache/video_corpus/; done
  for v in vtest Megamind tree; do
    ln -sf "$(readlink -f "../shared/data/video/$v.avi")" cache/video_corpus/
  done
}

# train_resumable RUNDIR STATE STEPS THREADS HYCO_TRAIN_ARGS...
# Resumable at three levels:
#   - within a session: RUNDIR/checkpoint.pt exists -> `hyco train --resume` (exact);
#   - across sessions: STATE (committed, fp16) exists -> a fresh run with --init STATE, whose
#     metadata carries the steps already done (FRESH=1: not from STATE, for a model that must
#     restart, e.g. a prior whose base transforms were retrained);
#   - from scratch otherwise (HYCO_TRAIN_ARGS: model, data and hyper-parameters of a fresh run).
# The weights then go to STATE, so the next session continues from them (EXPORT_ARGS: more
# `hyco export` options, e.g. checkerboard-vr's --base).
train_resumable() {
  local rundir=$1 state=$2 steps=$3 threads=$4
  shift 4
  if [[ "${FRESH:-0}" == 1 && -f "$rundir/checkpoint.pt" ]]; then
    # resuming would quietly continue the old run (a prior of older transforms, whose export
    # then fails): a fresh start needs an empty run folder
    echo "FRESH=1, but $rundir already holds a run: move it away first" >&2
    return 1
  fi
  if [[ -f "$rundir/checkpoint.pt" ]]; then
    hyco train --resume "$rundir" --steps "$steps" --threads "$threads"
  else
    local init=()
    [[ -f "$state" && "${FRESH:-0}" != 1 ]] && init=(--init "$state")
    # INIT=FILE: another start than STATE (e.g. the grown transforms of recipes/widen.py)
    [[ -n "${INIT:-}" ]] && init=(--init "$INIT")
    hyco train "$@" --out "$rundir" --steps "$steps" --threads "$threads" "${init[@]}"
  fi
  mkdir -p "$(dirname "$state")"
  hyco export "$rundir" -o "$state" --half ${EXPORT_ARGS:-}
}
