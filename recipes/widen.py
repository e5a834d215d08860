"""Grow the default model's latent (hyco.image.widen): the start of a wider training run.

    python recipes/widen.py src/hyco/weights/mean-scale-vr.safetensors cache/wide.safetensors \
        --latent 320 [--sample cache/corpus_val] [--seed 0]
    INIT=cache/wide.safetensors RUNDIR=cache/runs/mean-scale-vr-wide bash recipes/mean-scale-vr.sh

The grown file reconstructs exactly as the narrow one and records its size and the steps
behind it, so the run that starts from it (and every round after, from the shipped file)
builds the wider model. Its priors (checkerboard-vr, channel-checkerboard-vr) then need a
fresh start (FRESH=1, no WARM: their shapes follow the latent). The video prior grows the
same way (its old channels keep their tables; LatentPrior.widened), then refits:

    python recipes/widen.py src/hyco/weights/hycovc-latent.safetensors \
        cache/wide-latent.safetensors --latent 320
    INIT=cache/wide-latent.safetensors bash recipes/hycovc-latent.sh 500
"""

from __future__ import annotations

import argparse

import torch

from hyco import zoo
from hyco.files import array_to_tensor, to_array
from hyco.image.widen import widen_latent
from hyco.train.data import list_images
from hyco.video import weights as video_weights

SAMPLE_SIDE = 256  # the centre crop of each sample picture that calibrates the new filters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", help="mean-scale-vr weights to grow")
    ap.add_argument("out", help="grown weights (safetensors)")
    ap.add_argument("--latent", type=int, default=320, help="latent channels M after growing")
    ap.add_argument("--sample", default="cache/corpus_val",
                    help="pictures that calibrate the new analysis filters (never Kodak)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    meta = zoo.weights_metadata(args.weights)
    if meta.get("model") == "hycovc" and meta.get("variant") == "latent":
        prior = video_weights.load("latent", args.weights).widened(args.latent)
        video_weights.save_weights(prior, args.out, {k: meta[k] for k in ("size", "steps")
                                                     if k in meta})
        print(f"{args.out}: the video prior, M {meta.get('m')} -> {prior.m}")
        return
    if meta.get("model") != "mean-scale-vr":
        raise SystemExit(f"{args.weights}: mean-scale-vr or hycovc-latent weights, "
                         f"not {meta.get('model')}")
    narrow = zoo.load("mean-scale-vr", 3, args.weights)
    crops = []
    for f in list_images(args.sample):
        x = array_to_tensor(to_array(f)[0])
        h, w = x.shape[-2:]
        s = min(SAMPLE_SIDE, h, w)
        crops.append(x[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s])
    side = min(min(c.shape[-2:]) for c in crops)
    sample = torch.cat([c[..., :side, :side] for c in crops])
    wide = widen_latent(narrow, args.latent, seed=args.seed, sample=sample)
    extra = {k: meta[k] for k in ("lmbda", "metric", "steps") if k in meta}
    zoo.save_weights(wide, args.out, 3, extra={**extra, "grown_from": meta["digest"],
                                               "grown_m": str(narrow.m)})
    print(f"{args.out}: M {narrow.m} -> {wide.m}, N {wide.n}, digest {wide.digest()}, "
          f"{meta.get('steps', '?')} steps behind it")


if __name__ == "__main__":
    main()
