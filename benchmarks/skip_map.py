"""What the `latent` variant's skip map and hyper-latent reuse buy: the same weights with and
without them, one run.

Both encoders share the I-frame codec, the temporal prior and the file format (without them
every block is coded, so the map is all zeros, and every P-frame sends its own hyper-latent);
the difference is the encoder's choice alone. Prints per quality the bits, Y-/RGB-PSNR, the
share of P-frame blocks copied, the share of P-frames that reuse the reference's
hyper-latent and the encode time, then the BD-rate against coding everything (Y-PSNR), and
checks that every file decodes to the encoder's reconstruction.

    python benchmarks/skip_map.py --clip cisco --frames 9 --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hyco.entropy.mask import decode_mask
from hyco.eval.bd import bd_rate
from hyco.video import coding
from hyco.video import weights as video_weights
from hyco.video.io import read_video
from hyco.video.latent import LatentInter

CLIPS = {"cisco": ("../shared/data/video/CiscoVT2people_320x192_12fps.yuv", (320, 192))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="cisco", help=f"one of {', '.join(CLIPS)} or a path")
    ap.add_argument("--size", help="WxH of a raw .yuv path")
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--qualities", type=float, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path, size = CLIPS.get(args.clip, (args.clip, None))
    if args.size:
        w, h = map(int, args.size.lower().split("x"))
        size = (w, h)
    info, frames = read_video(path, size, frames=args.frames)
    copied: list[float] = []
    reused: list[bool] = []

    def loader(skip: bool):
        def load(quality: str, weights: str | None, intra) -> LatentInter:
            codec = LatentInter(video_weights.load("latent", weights), intra, quality, skip)
            encode = codec.encode_inter

            def counted(x, ref):
                streams, rgb, y_f = encode(x, ref)
                copied.append(float(decode_mask(streams[1], tuple(y_f.y_f.shape[-2:])).mean()))
                reused.append(not streams[0])
                return streams, rgb, y_f
            codec.encode_inter = counted
            return codec
        return load

    coding.VARIANTS["latent-noskip"] = loader(False)  # this process only
    coding.VARIANTS["latent-skip"] = loader(True)
    pixels = info.width * info.height * len(frames)
    curves: dict[str, list[tuple[float, float]]] = {}
    print("| encoder | q | bpp | Y-PSNR | RGB-PSNR | P-blocks copied | hyper reused | encode s |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in ("latent-noskip", "latent-skip"):
        for q in args.qualities:
            copied.clear()
            reused.clear()
            recons: list[np.ndarray] = []
            t = time.perf_counter()
            data, stats = coding.compress_video(frames, info, variant, q, gop=0, recons=recons)
            seconds = time.perf_counter() - t
            _, _, decoded = coding.decompress_video(data)
            if not all(np.array_equal(d.rgb, r) for d, r in zip(decoded, recons, strict=True)):
                raise SystemExit(f"{variant} q{q}: decoding differs from the encoder")
            bpp = 8 * len(data) / pixels
            y = float(np.mean([s.y_psnr for s in stats]))
            rgb = float(np.mean([s.rgb_psnr for s in stats]))
            curves.setdefault(variant, []).append((bpp, y))
            print(f"| {variant} | {q:g} | {bpp:.4f} | {y:.2f} | {rgb:.2f} | "
                  f"{np.mean(copied):.2f} | {np.mean(reused):.2f} | {seconds:.1f} |", flush=True)
    a, b = curves["latent-noskip"], curves["latent-skip"]
    saving = bd_rate([p[0] for p in a], [p[1] for p in a], [p[0] for p in b], [p[1] for p in b])
    print(f"BD-rate of the skip map and reuse against coding everything (Y-PSNR): "
          f"{saving:+.1f} %")


if __name__ == "__main__":
    main()
