"""`hyco video compress|decompress|info`: thin argument handling over hyco.video.coding."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from hyco import zoo
from hyco.errors import HycoError
from hyco.files import write_atomic
from hyco.video import hinerv_cli
from hyco.video.coding import VARIANTS, FrameStats, compress_video, decompress_video, video_header
from hyco.video.color import MATRICES, ColorSpec
from hyco.video.io import parse_fps, parse_size, read_video, write_video


def _summary(stats: list[FrameStats]) -> str:
    n = len(stats)
    return (f"{n} frames: {sum(s.bpp for s in stats) / n:.4f} bpp, "
            f"Y-PSNR {sum(s.y_psnr for s in stats) / n:.2f} dB, "
            f"RGB-PSNR {sum(s.rgb_psnr for s in stats) / n:.2f} dB")


def cmd_compress(args: argparse.Namespace) -> int:
    out = Path(args.output) if args.output else Path(args.input).with_suffix(".hyco")
    if out.exists() and not args.force:
        raise HycoError(f"{out} exists (use --force to overwrite)")
    if args.codec != "hinerv" and hinerv_cli.misplaced(args):
        raise HycoError(f"{', '.join(hinerv_cli.misplaced(args))}: options of --codec hinerv")
    color = ColorSpec(args.matrix, args.full_range)
    size = parse_size(args.size) if args.size else None
    fps = parse_fps(args.fps) if args.fps else None
    info, frames = read_video(args.input, size, fps, color, args.start, args.frames)
    if args.codec == "hinerv":
        return hinerv_cli.compress(args, out, info, frames)
    bar = tqdm(total=len(frames), unit="frame", file=sys.stderr, desc="compress")

    def report(s: FrameStats) -> None:
        bar.update(1)
        tqdm.write(f"frame {s.index} {s.kind}: {s.bytes} bytes, {s.bpp:.4f} bpp, "
                   f"Y-PSNR {s.y_psnr:.2f} dB, RGB-PSNR {s.rgb_psnr:.2f} dB")

    data, stats = compress_video(frames, info, args.variant, args.quality or
                                 zoo.DEFAULT_QUALITY, args.gop, intra_weights=args.intra_weights,
                                 inter_weights=args.weights, on_frame=report)
    bar.close()
    write_atomic(out, data, force=args.force)
    print(f"{args.input} -> {out}: {len(data)} bytes, {_summary(stats)}")
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    src = Path(args.input)
    if not src.is_file():
        raise HycoError(f"{src}: no such file")
    out = Path(args.output) if args.output else src.with_name(src.name + ".y4m")
    vfile, info, frames = decompress_video(src.read_bytes(), args.start, args.intra_weights,
                                           args.weights)
    total = info.frames - args.start
    bar = tqdm(frames, total=total, unit="frame", file=sys.stderr, desc="decompress")
    n = write_video(out, (f.rgb for f in bar), info, force=args.force)
    print(f"{src} -> {out}: {n} frames {info.width}x{info.height}")
    if vfile.truncated:
        print(f"hyco: warning: {src} is cut short: decoded the {len(vfile.packets)} complete "
              f"frames of {vfile.header.frames}", file=sys.stderr)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    data = Path(args.input).read_bytes() if Path(args.input).is_file() else None
    if data is None:
        raise HycoError(f"{args.input}: no such file")
    vfile, info = video_header(data)
    h = vfile.header
    kinds = "".join(p.kind for p in vfile.packets)
    print(f"{args.input}: {h.codec} {h.variant} quality {h.quality} (I-frames: {h.intra}), "
          f"weights {h.digest}, {h.width}x{h.height}, {info.fps} fps, {h.frames} frames, "
          f"gop {h.gop}, {h.matrix} {'full' if h.full_range else 'limited'} range, "
          f"{len(data)} bytes, {8 * len(data) / (h.width * h.height * max(info.frames, 1)):.4f}"
          f" bpp; frames {kinds}" + (" (cut short)" if vfile.truncated else ""))
    if h.codec == "hinerv":
        from hyco.video.hinerv_codec import describe

        print(describe(vfile))
    return 0


def is_video_run(rundir: str) -> bool:
    """Whether a training run folder holds a HyCoVC run (its config names a variant)."""
    cfg = Path(rundir) / "config.json"
    try:
        return cfg.is_file() and "variant" in json.loads(cfg.read_text())
    except (OSError, ValueError):
        return False


def cmd_train(args: argparse.Namespace) -> int:
    """`hyco train --model hycovc --variant V ...` (see hyco.train.video)."""
    from hyco.train.video import VideoTrainConfig, train

    if args.resume:
        cfg = VideoTrainConfig(**json.loads((Path(args.resume) / "config.json").read_text()))
        cfg.out = args.resume
        for key in ("steps", "milestones", "export", "ckpt_every", "log_every"):
            if getattr(args, key) is not None:
                setattr(cfg, key, getattr(args, key))
        train(cfg, resume=True)
        return 0
    missing = [f"--{k}" for k in ("variant", "data", "out") if getattr(args, k) is None]
    if missing:
        raise HycoError(f"hyco train --model hycovc needs {', '.join(missing)}")
    if Path(args.out, "checkpoint.pt").exists() and not args.force:
        raise HycoError(f"{args.out} holds a run; --resume it or use --force to start over")
    if args.real_fraction is not None and not 0 <= args.real_fraction <= 1:
        raise HycoError("--real-fraction must be between 0 and 1")
    if args.frames < 2:
        raise HycoError("--frames must be at least 2 (an I-frame and a P-frame)")
    cfg = VideoTrainConfig(
        variant=args.variant, data=args.data, out=args.out, frames=args.frames, crop=args.crop,
        batch_size=args.batch_size, steps=args.steps or 10000, lr=args.lr, aux_lr=args.aux_lr,
        clip=args.clip, schedule=args.schedule, milestones=args.milestones or [],
        bf16=args.bf16,
        ckpt_every=args.ckpt_every or 250, log_every=args.log_every or 20, seed=args.seed,
        init=args.init, export=args.export, stage=args.stage or "rd",
        level_weights=args.level_weights or [], quantizer=args.quantizer,
        real_fraction=(VideoTrainConfig.real_fraction if args.real_fraction is None
                       else args.real_fraction))
    if cfg.stage == "gan" and not cfg.init:
        print("note: stage gan from random weights; warm-start it from an RD run "
              "(--init RD.safetensors)", file=sys.stderr)
    train(cfg)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hyco.train.video import export

    if getattr(args, "base", None):
        raise HycoError("--base is for an image prior over its base model, not a video run")
    cfg = json.loads((Path(args.rundir) / "config.json").read_text())
    out = args.output or str(Path(args.rundir) / f"hycovc-{cfg['variant']}.safetensors")
    print(f"{args.rundir} -> {export(args.rundir, out, half=args.half)}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The `hyco video` sub-commands."""
    video = sub.add_parser("video", help="video: compress, decompress, info")
    vsub = video.add_subparsers(dest="video_command", required=True)
    c = vsub.add_parser("compress", help="a video file -> .hyco")
    c.add_argument("input", help=".yuv (with --size), .y4m, or any video PyAV reads")
    c.add_argument("-o", "--output", help="default: INPUT.hyco")
    c.add_argument("--codec", default="hycovc", choices=["hycovc", "hinerv"],
                   help="hycovc: learned I/P-frame codec (default); hinerv: the video "
                   "becomes a network trained on it (slow to encode)")
    c.add_argument("--variant", default="baseline", choices=sorted(VARIANTS))
    c.add_argument("-q", "--quality", help=f"default {zoo.DEFAULT_QUALITY}")
    c.add_argument("--gop", type=int, default=12, help="I-frame period (0: first frame only)")
    c.add_argument("--frames", type=int, help="code at most N frames")
    c.add_argument("--start", type=int, default=0, help="skip the first N frames")
    c.add_argument("--size", help="WxH of a raw .yuv input")
    c.add_argument("--fps", help="frame rate (raw .yuv default 25; overrides the file's)")
    c.add_argument("--matrix", choices=sorted(MATRICES), default="bt709")
    c.add_argument("--full-range", action="store_true", help="Y'CbCr uses 0..255")
    c.add_argument("--weights", help="P-frame (hycovc) weights instead of the shipped ones")
    c.add_argument("--intra-weights", help="I-frame image codec weights (.safetensors)")
    c.add_argument("--force", action="store_true")
    hinerv_cli.add_arguments(c)
    c.set_defaults(func=cmd_compress)
    d = vsub.add_parser("decompress", help=".hyco -> .y4m, .yuv, .mp4 (lossless) or PNGs")
    d.add_argument("input")
    d.add_argument("-o", "--output", help="file by suffix, or a folder for PNG frames")
    d.add_argument("--start", type=int, default=0, help="first frame to output")
    d.add_argument("--weights", help="the P-frame weights the file was made with")
    d.add_argument("--intra-weights", help="the I-frame weights the file was made with")
    d.add_argument("--force", action="store_true")
    d.set_defaults(func=cmd_decompress)
    i = vsub.add_parser("info", help="describe a .hyco video file")
    i.add_argument("input")
    i.set_defaults(func=cmd_info)
