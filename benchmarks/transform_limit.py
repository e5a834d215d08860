"""Where a hyperprior model loses fidelity: in the transforms, or in the quantiser?

For every quality, the mean PSNR of ``g_s(g_a(x))`` with the latent passed through unrounded
(the autoencoder's own limit: no rate spent can do better), rounded as the codec does, and the
forward pass's estimated bpp (and, for two or more weights files, each one's BD-rate on these
rounded points against the first: a quick read of a training change before a Kodak run). When
the unrounded PSNR is barely above the rounded one at the high qualities, extra rate cannot buy
fidelity: the transforms are what needs training.

    python benchmarks/transform_limit.py cache/corpus_val --weights A.safetensors B.safetensors
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from hyco import zoo
from hyco.eval.bd import bd_rate
from hyco.eval.metrics import psnr
from hyco.files import to_array
from hyco.train.data import list_images
from hyco.train.losses import bits_per_pixel


@torch.no_grad()
def measure(weights: str | None, images: list[np.ndarray], qualities: list[int]) -> list[dict]:
    model = zoo.load("mean-scale-vr", 3, weights)
    rows = []
    for q in qualities:
        model.quality = q
        sums = {"bpp": 0.0, "unrounded": 0.0, "rounded": 0.0}
        for arr in images:
            x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255
            h, w = x.shape[2:]
            xp = model.pad(x)
            y = model.analysis(xp)
            for key, latent in (("unrounded", y), ("rounded", torch.round(y))):
                sums[key] += psnr(model.synthesis(latent)[..., :h, :w].clamp(0, 1), x, peak=1.0)
            sums["bpp"] += float(bits_per_pixel(model(xp)["likelihoods"], h * w))
        rows.append({"quality": q, **{k: v / len(images) for k, v in sums.items()}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="images (e.g. the validation photos)")
    ap.add_argument("--weights", nargs="*", default=[None],
                    help="mean-scale-vr weights files (default: the shipped ones)")
    ap.add_argument("--qualities", type=int, nargs="*", default=[1, 3, 5, 8])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    images = [to_array(f)[0] for f in list_images(args.folder)]
    print("| weights | quality | est. bpp | PSNR rounded | PSNR unrounded |")
    print("|---|---|---|---|---|")
    curves = []
    for weights in args.weights:
        curves.append(measure(weights, images, args.qualities))
        for r in curves[-1]:
            print(f"| {weights or 'shipped'} | {r['quality']} | {r['bpp']:.3f} "
                  f"| {r['rounded']:.2f} | {r['unrounded']:.2f} |")
    def points(rows: list[dict]) -> tuple[list[float], list[float]]:
        return [r["bpp"] for r in rows], [r["rounded"] for r in rows]

    for weights, rows in zip(args.weights[1:], curves[1:], strict=True):
        rate = bd_rate(*points(curves[0]), *points(rows))
        print(f"BD-rate (est. bpp, rounded PSNR) of {weights} against {args.weights[0]}: "
              f"{rate:+.1f} %")


if __name__ == "__main__":
    main()
