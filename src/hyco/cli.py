"""`hyco` command line: parses arguments and calls :mod:`hyco.api`; nothing else lives here."""

from __future__ import annotations

import argparse
import glob
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from tqdm import tqdm

from hyco import __version__, api, zoo
from hyco.errors import HycoError
from hyco.eval.metrics import psnr
from hyco.files import IMAGE_SUFFIXES, image_bytes, to_array, write_atomic


def _expand(items: Iterable[str], suffixes: set[str]) -> list[Path]:
    """Files as given; folders searched recursively for ``suffixes``; globs expanded."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
            if not found:
                raise HycoError(f"{p}: no {'/'.join(sorted(suffixes))} files in this folder")
            out += found
        elif p.exists():
            out.append(p)
        elif any(c in item for c in "*?["):
            found = sorted(Path(f) for f in glob.glob(item, recursive=True) if Path(f).is_file())
            if not found:
                raise HycoError(f"{item}: matches no files")
            out += found
        else:
            raise HycoError(f"{item}: no such file")
    return out


def _targets(inputs: list[Path], out: str | None, default: Callable[[Path], Path]) -> list[Path]:
    """Where each input's output goes: beside it, to the file ``out``, or into folder ``out``."""
    if out is None:
        return [default(p) for p in inputs]
    o = Path(out)
    if len(inputs) == 1 and not o.is_dir() and not out.endswith(("/", "\\")):
        return [o]
    o.mkdir(parents=True, exist_ok=True)
    names = [default(p).name for p in inputs]
    if len(set(names)) != len(names):
        raise HycoError("inputs share file names; give them separate output folders")
    return [o / n for n in names]


def _run_batch(pairs: list[tuple[Path, Path]], work: Callable[[Path, Path], str]) -> int:
    failures = 0
    bar = tqdm(pairs, unit="file", disable=len(pairs) < 2, file=sys.stderr)
    for src, dst in bar:
        try:
            tqdm.write(work(src, dst))
        except HycoError as exc:
            failures += 1
            tqdm.write(f"hyco: error: {exc}", file=sys.stderr)
    return 1 if failures else 0


def cmd_compress(args: argparse.Namespace) -> int:
    inputs = _expand(args.inputs, IMAGE_SUFFIXES)
    targets = _targets(inputs, args.output, lambda p: p.with_suffix(".hyco"))
    meta = zoo.weights_metadata(args.weights) if args.weights else {}
    model = zoo.spec(args.model or meta.get("model", zoo.DEFAULT_MODEL)).name
    rate_options = [o for o, v in [("--quality", args.quality), ("--lmbda", args.lmbda),
                                   ("--target-bpp", args.target_bpp)] if v is not None]
    if len(rate_options) > 1:
        raise HycoError(f"{' and '.join(rate_options)} both set the rate; give one")
    if args.lmbda is not None:
        zoo.lmbda_quality(model, args.lmbda)
    if args.target_bpp is not None:
        from hyco.rate_search import check_target

        check_target(model, args.target_bpp)
    args.quality = args.quality or meta.get("quality", zoo.spec(model).default_quality)
    zoo.parse_quality(model, args.quality)
    if args.refine or args.search_hyper:
        from hyco.image.latent_search import check_searches

        check_searches(zoo.spec(model).cls, args.refine or 0, args.search_hyper or 0)

    def work(src: Path, dst: Path) -> str:
        if dst.exists() and not args.force:
            raise HycoError(f"{dst} exists (use --force to overwrite)")
        arr, channels = to_array(src)
        data = api.compress_array(arr, channels, model, args.quality, args.weights,
                                  lmbda=args.lmbda, target_bpp=args.target_bpp,
                                  refine=args.refine or 0,
                                  search_hyper=args.search_hyper or 0)
        write_atomic(dst, data, force=args.force)
        h, w = arr.shape[:2]
        line = f"{src} -> {dst}: {len(data)} bytes, {8 * len(data) / (h * w):.4f} bpp"
        if args.target_bpp is not None:
            line += f" (at {api.info(data)['quality']})"
        if args.psnr:
            decoded = api.decode(data, args.weights)
            line += f", PSNR {psnr(decoded.array, arr):.2f} dB"
        return line

    return _run_batch(list(zip(inputs, targets, strict=True)), work)


def cmd_decompress(args: argparse.Namespace) -> int:
    inputs = _expand(args.inputs, {".hyco"})
    targets = _targets(inputs, args.output, lambda p: p.with_name(p.name + ".png"))

    def work(src: Path, dst: Path) -> str:
        if dst.exists() and not args.force:
            raise HycoError(f"{dst} exists (use --force to overwrite)")
        image = api.decompress(src.read_bytes(), args.weights, layers=args.layers)
        write_atomic(dst, image_bytes(image, dst), force=args.force)
        return f"{src} -> {dst}: {image.width}x{image.height} {image.mode}"

    return _run_batch(list(zip(inputs, targets, strict=True)), work)


def cmd_info(args: argparse.Namespace) -> int:
    status = 0
    for path in _expand(args.inputs, {".hyco"}):
        try:
            i = api.info(path.read_bytes())
        except HycoError as exc:
            print(f"hyco: error: {path}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}:")
        print(f"  codec    {i['codec']} (quality {i['quality']})")
        print(f"  weights  {i['weights']}")
        print(f"  image    {i['width']}x{i['height']} {i['channels']}")
        print(f"  streams  {len(i['streams'])}: " + ", ".join(f"{n} B" for n in i["streams"]))
        print(f"  size     {i['bytes']} bytes ({i['header_bytes']} header+crc), "
              f"{i['bpp']:.4f} bpp")
    return status


def cmd_models(args: argparse.Namespace) -> int:
    print(f"{'model':<14} {'quality':<8} {'N':>4} {'M':>4} {'lambda':>8}  weights")
    for name, s in zoo.MODELS.items():
        if s.variable_rate:  # one set of weights, any quality in the range
            # the size the shipped weights were trained at (a grown model: hyco.image.widen)
            n, m = (zoo.weights_size(zoo.shipped_weights(name, s.qualities[0]))
                    or s.sizes[s.qualities[0]])
            rate = f"{s.lmbda_range[0]:g}-{s.lmbda_range[1]:g}" if s.lmbda_range else "ladder"
            default = ", default" if name == zoo.DEFAULT_MODEL else ""
            span = "{:.1f}-{:.1f}".format(*s.quality_range)
            print(f"{name:<14} {span:<8} {n:>4} {m:>4} {rate:>8}  {zoo.weights_note(name, 1)}"
                  f"  [variable rate: one model, fractional qualities{default}]")
            continue
        if s.named:  # regimes of one architecture, each trained to its own rate target
            for q in s.qualities:
                n, m = s.sizes[q]
                target = zoo.REGIMES.get(q)  # the rate training steers the regime to
                rate = f"{target:.2f}bpp" if target is not None else "regime"
                print(f"{name:<14} {q:<8} {n:>4} {m:>4} {rate:>8}  {zoo.weights_note(name, q)}")
            continue
        for q in s.qualities:
            n, m = s.sizes[q]
            lmbda = (s.lambdas or zoo.LAMBDAS)[q]
            print(f"{name:<14} {q:<8} {n:>4} {m:>4} {lmbda:>8.4f}  {zoo.weights_note(name, q)}")
    from hyco.video import weights as video_weights
    from hyco.video.hycovc import CONFIGS
    from hyco.video.latent import LatentPrior

    c = CONFIGS["small"]
    sizes = {v: (c.n, c.m) for v in ("context", "flow", "full")}
    sizes["latent"] = (LatentPrior.WIDTH, LatentPrior.M)  # a prior on the I-frame latent
    for variant, (n, m) in sizes.items():  # P-frame codecs of `hyco video compress`
        path = video_weights.shipped(variant)
        if path is not None and "m" in (meta := video_weights.weights_metadata(path)):
            m = int(meta["m"])  # a prior grown with its I-frame model (hyco.image.widen)
        note = zoo.path_note(path)
        print(f"{'hycovc-' + variant:<14} {'1.0-8.0':<8} {n:>4} {m:>4} {'ladder':>8}  {note}"
              f"  [video P-frames: hyco video compress --variant {variant}]")
    return 0


def config_from_args(args: argparse.Namespace):
    """A fresh run's TrainConfig from `hyco train` arguments (also what
    recipes/timed_train.py builds its run from, so both accept the same options)."""
    from hyco.train import TrainConfig

    missing = [f"--{k}" for k in ("model", "data", "out") if getattr(args, k) is None]
    if missing:
        raise HycoError(f"hyco train needs {', '.join(missing)} (or --resume RUNDIR)")
    model_spec = zoo.spec(args.model)
    quality = zoo.parse_quality(args.model, args.quality if args.quality is not None
                                else model_spec.default_quality)
    stage = args.stage or (model_spec.stages[0] if model_spec.stages else None)
    if stage is not None and stage not in model_spec.stages:
        raise HycoError(f"{args.model} trains in one stage; --stage is for "
                        + ", ".join(n for n, s in zoo.MODELS.items() if s.stages))
    if Path(args.out, "checkpoint.pt").exists() and not args.force:
        raise HycoError(f"{args.out} holds a run; --resume it or use --force to start over")
    cfg = TrainConfig(
        model=args.model, quality=quality, data=args.data, out=args.out, lmbda=args.lmbda,
        metric=args.metric, val=args.val, steps=args.steps, epochs=args.epochs,
        batch_size=args.batch_size, crop=args.crop, crop_candidates=args.crop_candidates,
        level_weights=args.level_weights or [],
        lr=args.lr, aux_lr=args.aux_lr, clip=args.clip, schedule=args.schedule,
        milestones=args.milestones or [],
        gamma=args.gamma, patience=args.patience, bf16=args.bf16,
        channels_last=args.channels_last, ckpt_every=args.ckpt_every or 1000,
        val_every=args.val_every or 1000, log_every=args.log_every or 20,
        seed=args.seed, init=args.init, warm_prior=args.warm_prior, export=args.export,
        grown_only=args.grown_only, quantizer=args.quantizer,
        stage=stage, lpips=args.lpips)
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from hyco.train import TrainConfig, train

    if args.threads:
        torch.set_num_threads(args.threads)
    from hyco.video import cli as video_cli

    if args.model == "hycovc" or (args.resume and video_cli.is_video_run(args.resume)):
        return video_cli.cmd_train(args)
    if args.resume:
        import json

        cfg_path = Path(args.resume) / "config.json"
        if not cfg_path.is_file():
            raise HycoError(f"{args.resume}: not a training run folder (no config.json)")
        cfg = TrainConfig(**json.loads(cfg_path.read_text()))
        cfg.out = args.resume
        for key in ("steps", "epochs", "milestones", "export", "val", "val_every",
                    "ckpt_every", "log_every"):
            value = getattr(args, key)
            if value is not None:
                setattr(cfg, key, value)
        train(cfg, resume=True)
        return 0
    train(config_from_args(args))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hyco.train import export
    from hyco.video import cli as video_cli

    if video_cli.is_video_run(args.rundir):
        return video_cli.cmd_export(args)

    path = export(args.rundir, args.output, half=args.half, base=args.base)
    print(f"{args.rundir} -> {path}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from hyco.eval.rd import evaluate

    published = []
    for item in args.published or []:
        p = Path(item)
        published += sorted(p.glob("*.json")) if p.is_dir() else [p]
    if args.threads:
        torch.set_num_threads(args.threads)
    evaluate(args.dataset, args.codec, args.out, qualities=args.qualities, weights=args.weights,
             anchor=args.anchor, published=published, limit=args.limit)
    print((Path(args.out) / "bd_rate.md").read_text())
    print(f"results in {args.out}: per-codec JSON, results.csv, summary.csv, rd.png, bd_rate.md")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hyco", description="Learned image compression.")
    p.add_argument("--version", action="version", version=f"hyco {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compress", help="images -> .hyco files")
    c.add_argument("inputs", nargs="+", help="image files, folders or globs")
    c.add_argument("-o", "--output", help="output file (one input) or folder")
    c.add_argument("--model", help=f"one of {', '.join(zoo.MODELS)} (default "
                   f"{zoo.DEFAULT_MODEL}, or the one --weights was trained as)")
    c.add_argument("-q", "--quality",
                   help=f"1 (smallest) .. 8 (default {zoo.DEFAULT_QUALITY}), fractions "
                   "too for variable-rate models, whose gain units also reach down to 0 "
                   "(one step below the trained ladder); hific: low, med or high")
    c.add_argument("--weights", help="a .safetensors weights file instead of the shipped ones")
    c.add_argument("--force", action="store_true", help="overwrite existing outputs")
    c.add_argument("--psnr", action="store_true", help="decode the file written; print PSNR")
    c.add_argument("--lmbda", type=float,
                   help="qarv: code at this rate-distortion lambda (16..2048, lossy-vae's "
                        "convention) instead of a quality")
    c.add_argument("--target-bpp", type=float, metavar="BPP",
                   help="variable-rate models: search the rate for the largest file of at "
                        "most BPP bits per pixel (real coded size)")
    c.add_argument("--refine", type=int, metavar="STEPS",
                   help="mean-scale-vr and its context priors: search the latents for STEPS "
                        "gradient steps at encode time (about 50: several times slower, a "
                        "smaller file at the same quality; the decoder is unchanged)")
    c.add_argument("--search-hyper", type=int, metavar="STEPS",
                   help="the same models: search the hyper-latent alone for STEPS steps "
                        "(about 20: cheap steps, no synthesis; mends regions whose scales the "
                        "hyperprior mispredicts; the decoder is unchanged)")
    c.set_defaults(func=cmd_compress)

    d = sub.add_parser("decompress", help=".hyco files -> images")
    d.add_argument("inputs", nargs="+", help=".hyco files, folders or globs")
    d.add_argument("-o", "--output",
                   help="output image (format from its extension) or folder; default X.hyco.png")
    d.add_argument("--weights", help="the .safetensors weights the file was made with")
    d.add_argument("--layers", type=int, metavar="K",
                   help="qres-vae/qarv: progressive decoding from the first K latent streams "
                        "(the rest from the prior means)")
    d.add_argument("--force", action="store_true", help="overwrite existing outputs")
    d.set_defaults(func=cmd_decompress)

    i = sub.add_parser("info", help="print the header of .hyco files")
    i.add_argument("inputs", nargs="+")
    i.set_defaults(func=cmd_info)

    m = sub.add_parser("models", help="list models, qualities and whether they are trained")
    m.set_defaults(func=cmd_models)

    t = sub.add_parser("train", help="train a model on a folder of images")
    t.add_argument("--model", help=f"one of {', '.join(zoo.MODELS)}")
    t.add_argument("-q", "--quality",
                   help=f"architecture size and default lambda (1..8, default "
                        f"{zoo.DEFAULT_QUALITY}); hific: regime low|med|high (rate target)")
    t.add_argument("--stage", choices=["rd", "gan"],
                   help="hific: rd (stage 1, no discriminator; default) or gan (stage 2, "
                        "warm-started with --init from stage 1)")
    t.add_argument("--lpips", metavar="FILE",
                   help="hific: LPIPS (AlexNet) weights as safetensors for the perceptual "
                        "loss; default: MS-SSIM + discriminator feature matching")
    t.add_argument("--variant", choices=["context", "flow", "full", "latent"],
                   help="hycovc: which video codec variant")
    t.add_argument("--frames", type=int, default=3,
                   help="hycovc: frames per training clip (1 I + N-1 P, unrolled)")
    t.add_argument("--real-fraction", type=float, metavar="F",
                   help="hycovc: share of clips cut from real videos (the rest are synthetic "
                        "pans over photos); default 0.3")
    t.add_argument("--lmbda", type=float, help="rate-distortion lambda (overrides --quality's)")
    t.add_argument("--metric", choices=["mse", "ms-ssim"], default="mse")
    t.add_argument("--data", help="folder of training images (searched recursively)")
    t.add_argument("--val", help="folder of validation images (coded for real)")
    t.add_argument("--out", help="run folder: checkpoints, logs, reconstructions")
    t.add_argument("--resume", metavar="RUNDIR", help="continue a run exactly where it stopped")
    t.add_argument("--steps", type=int)
    t.add_argument("--epochs", type=float, help="passes over the data (an image per crop)")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--crop", type=int, default=256)
    t.add_argument("--crop-candidates", type=int, default=2, metavar="N",
                   help="each crop is the most detailed of N random ones (1: uniform crops)")
    t.add_argument("--level-weights", type=float, nargs="+", metavar="W",
                   help="variable-rate models: relative odds of drawing each rate level "
                        "(default: uniform)")
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--aux-lr", type=float, default=1e-3)
    t.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    t.add_argument("--schedule", choices=["multistep", "plateau", "constant"],
                   default="multistep")
    t.add_argument("--milestones", type=int, nargs="*",
                   help="multistep: steps where lr x gamma (default 80%% and 95%% of steps)")
    t.add_argument("--gamma", type=float, default=0.1)
    t.add_argument("--patience", type=int, default=5, help="plateau: logged windows to wait")
    t.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast where the device computes bf16 natively (about 2x "
                        "there; ignored, with a note, where it would be emulated)")
    t.add_argument("--channels-last", action="store_true")
    t.add_argument("--ckpt-every", type=int)
    t.add_argument("--val-every", type=int)
    t.add_argument("--log-every", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--init", help="start from these safetensors weights")
    t.add_argument("--warm-prior", metavar="FILE",
                   help="checkerboard-vr, channel-checkerboard-vr: start the prior from this "
                        "prior file, trained on other transforms (--init gives the new ones)")
    t.add_argument("--grown-only", action="store_true",
                   help="mean-scale-vr grown by recipes/widen.py (--init): train only the "
                        "added latent channels, the rest frozen")
    t.add_argument("--quantizer", choices=("noise", "ste"), default="noise",
                   help="what the transforms see of the latents while training (the rate "
                        "always sees uniform noise): the noisy values (default), or the "
                        "rounded ones with straight-through gradients (hyperprior models)")
    t.add_argument("--export", help="write the final weights to this .safetensors file")
    t.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    t.add_argument("--force", action="store_true", help="start over in a run folder")
    t.set_defaults(func=cmd_train)

    v = sub.add_parser("eval", help="rate-distortion sweep of codecs on a folder of images")
    v.add_argument("dataset", help="folder of images (e.g. Kodak)")
    v.add_argument("--codec", action="append", required=True,
                   help="hyco:MODEL, jpeg, jpeg444, webp, avif, jpeg2000, jxl or x265; "
                        "NAME@q1,q2 picks qualities (repeat --codec for more)")
    v.add_argument("--qualities", type=int, nargs="*", help="qualities for every codec")
    v.add_argument("--out", required=True, help="results folder (re-runs skip what is done)")
    v.add_argument("--anchor", help="BD-rate reference (default: the first --codec)")
    v.add_argument("--published", action="append",
                   help="published result JSONs (files or folders) to plot and compare")
    v.add_argument("--weights", help="weights for the hyco codec")
    v.add_argument("--limit", type=int, help="only the first N images")
    v.add_argument("--threads", type=int)
    v.set_defaults(func=cmd_eval)

    e = sub.add_parser("export", help="a training run's weights -> .safetensors")
    e.add_argument("rundir")
    e.add_argument("-o", "--output", help="default RUNDIR/MODEL-qQ.safetensors")
    e.add_argument("--half", action="store_true", help="store float16 (half the size)")
    e.add_argument("--base", metavar="WEIGHTS",
                   help="store only what the model adds to this file of its base model "
                        "(the context priors: their prior over a mean-scale-vr file), which then "
                        "loads from the shipped or a neighbouring base file of that digest")
    e.set_defaults(func=cmd_export)

    from hyco.video import cli as video_cli  # `hyco video ...`

    video_cli.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HycoError as exc:
        print(f"hyco: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hyco: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `hyco info x.hyco | head`: stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
