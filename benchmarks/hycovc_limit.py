"""Where a HyCoVC P-frame codec loses fidelity: in its transforms, or in the quantiser?

The video twin of ``transform_limit.py``. For each pair of consecutive frames of a clip, the
reference is the previous frame as the I-frame codec decodes it at the same quality (what a
P-frame after an I-frame sees), and per quality it reports the mean of:

- the bytes of the coded P-frame and its PSNR (the integer coding path, what a file holds);
- the PSNR with the latents passed unrounded (the codec's own limit: no rate can do better);
- the PSNR of copying the reference (what zero bits give).

When the unrounded PSNR is barely above the coded one at the high qualities, or the coded
rate grows with the quality while the PSNR does not, the transforms need training, not rate.

    python benchmarks/hycovc_limit.py --variant context --weights A.safetensors B.safetensors
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from hinerv_rd import CLIPS
from video_rd import DATA

from hyco import zoo
from hyco.eval.metrics import psnr
from hyco.files import array_to_tensor
from hyco.video import weights as video_weights
from hyco.video.color import yuv420_to_rgb
from hyco.video.io import read_video


def _unrounded(y: torch.Tensor, means: torch.Tensor, noise: bool = True) -> torch.Tensor:
    return y


@torch.no_grad()
def measure(variant: str, weights: str | None, frames: list[np.ndarray],
            qualities: list[float]) -> list[dict]:
    model = video_weights.load(variant, weights)
    rows = []
    for q in qualities:
        model.quality = q
        intra = zoo.load(zoo.DEFAULT_MODEL, q)
        sums = {"bytes": 0.0, "coded": 0.0, "unrounded": 0.0, "copy": 0.0}
        for prev, cur in zip(frames[:-1], frames[1:], strict=True):
            x = array_to_tensor(cur)
            ref = torch.round(intra(array_to_tensor(prev))["x_hat"].clamp(0, 1) * 255)
            model.eval()
            streams, rec = model.encode(x, ref.to(torch.int64))
            sums["bytes"] += sum(len(s) for s in streams)
            sums["coded"] += psnr(rec.float() / 255, x, peak=1.0)
            model.train()  # the float path with a pass-through quantiser
            model.gaussian.quantize = _unrounded
            try:
                x_hat = model(x, ref / 255)["x_hat"].clamp(0, 1)
            finally:
                del model.gaussian.quantize
            sums["unrounded"] += psnr(x_hat, x, peak=1.0)
            sums["copy"] += psnr(ref / 255, x, peak=1.0)
        model.eval()
        rows.append({"quality": q, **{k: v / (len(frames) - 1) for k, v in sums.items()}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default="context", choices=["context", "flow", "full"])
    ap.add_argument("--weights", nargs="*", default=[None],
                    help="hycovc weights files (default: the shipped ones)")
    ap.add_argument("--clip", default="cisco", choices=sorted(CLIPS))
    ap.add_argument("--frames", type=int, default=5, help="frames read (frames - 1 pairs)")
    ap.add_argument("--qualities", type=float, nargs="*", default=[1, 4, 8])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    file, size, fps = CLIPS[args.clip]
    info, yuv = read_video(DATA / file, size=size, fps=fps, frames=args.frames)
    frames = [yuv420_to_rgb(f, info.color) for f in yuv]
    print(f"{args.clip}: {len(frames) - 1} frame pairs at {info.width}x{info.height}, "
          f"references I-frame-coded at each quality")
    print("| weights | quality | P-frame bytes | PSNR coded | PSNR unrounded | PSNR copy |")
    print("|---|---|---|---|---|---|")
    for weights in args.weights:
        for r in measure(args.variant, weights, frames, args.qualities):
            print(f"| {weights or 'shipped'} | {r['quality']:g} | {r['bytes']:.0f} "
                  f"| {r['coded']:.2f} | {r['unrounded']:.2f} | {r['copy']:.2f} |")


if __name__ == "__main__":
    main()
