"""`hyco video compress --codec hinerv`: the options and the command (thin, over hinerv_codec)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from hyco.files import write_atomic
from hyco.train.hinerv_fit import HiNeRVSettings
from hyco.video.color import YUVFrame
from hyco.video.hinerv_config import DEFAULT_SIZE, SIZE_EXPONENT, SIZES
from hyco.video.io import VideoInfo

OPTIONS = ("model_size", "epochs", "bits", "prune", "run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("--codec hinerv (the video becomes a trained network)")
    sizes = ", ".join(f"{k} {v // 1000}k" for k, v in SIZES.items())
    g.add_argument("--model-size", help=f"network size, i.e. the rate: a preset ({sizes} "
                   f"parameters at a million pixel-frames, x (pixel-frames / 1e6)**"
                   f"{SIZE_EXPONENT}) or a parameter count such as 20k (default "
                   f"{DEFAULT_SIZE}; --size is the frame size of a raw .yuv)")
    g.add_argument("--epochs", type=int, help="training epochs (default 300; pruning and "
                   "quantisation-aware training add a fifth and a tenth)")
    g.add_argument("--bits", type=int, help="bits per weight (default 6)")
    g.add_argument("--prune", type=float, help="fraction of the weights pruned (default 0.15)")
    g.add_argument("--run", help="checkpoint folder, kept; an interrupted run resumes there "
                   "(default OUTPUT.run, removed when the file is written)")


def misplaced(args: argparse.Namespace) -> list[str]:
    """hinerv options given with another codec."""
    return [f"--{k.replace('_', '-')}" for k in OPTIONS if getattr(args, k, None) is not None]


def compress(args: argparse.Namespace, out: Path, info: VideoInfo,
             frames: list[YUVFrame]) -> int:
    from hyco.video.hinerv_codec import compress_hinerv

    defaults = HiNeRVSettings()
    settings = HiNeRVSettings(
        size=args.model_size or DEFAULT_SIZE,
        epochs=args.epochs if args.epochs is not None else defaults.epochs,
        bits=args.bits if args.bits is not None else defaults.bits,
        prune=args.prune if args.prune is not None else defaults.prune)
    run = Path(args.run) if args.run else out.with_name(out.name + ".run")
    print(f"hinerv: training on {len(frames)} frames, checkpoints in {run}", file=sys.stderr)
    data, stats = compress_hinerv(frames, info, settings, str(run), progress=True)
    write_atomic(out, data, force=args.force)
    if not args.run:
        shutil.rmtree(run, ignore_errors=True)
    n = len(stats)
    for s in stats:
        tqdm.write(f"frame {s.index}: Y-PSNR {s.y_psnr:.2f} dB, RGB-PSNR {s.rgb_psnr:.2f} dB")
    print(f"{args.input} -> {out}: {len(data)} bytes, {n} frames: "
          f"{8 * len(data) / (info.width * info.height * n):.4f} bpp, "
          f"Y-PSNR {sum(s.y_psnr for s in stats) / n:.2f} dB, "
          f"RGB-PSNR {sum(s.rgb_psnr for s in stats) / n:.2f} dB")
    return 0

