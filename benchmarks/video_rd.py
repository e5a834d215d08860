"""Video RD on the development clips: hyco's variants beside x264 and x265, in one run.

Each clip is decoded once to 4:2:0 frames (optionally downscaled, then stored as y4m under the
output folder); every codec then codes those same frames. hyco: ``baseline`` (all-intra with
the image codec) and the HyCoVC variants, one GOP (I then P-frames); x264/x265: IPPP, no
B-frames, -tune psnr, presets medium and veryslow, a CRF sweep. Reported per point: bpp
(bytes of the whole file / stream), mean Y-PSNR and RGB-PSNR, encode and decode frames per
second. Writes JSON, a Markdown table (with BD-rates against the baseline and x264/x265 medium)
and an RD plot.

    python benchmarks/video_rd.py --clip cisco --qualities 1 2 3 4 5 6 \
        --variants baseline context flow full --weights-dir recipes/state

(I-frames: the shipped default image codec unless --intra-weights names other weights.)
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from hyco.eval.bd import bd_rate
from hyco.eval.video_classical import code_clip, missing
from hyco.video.coding import compress_video, decompress_video
from hyco.video.color import rgb_to_yuv420, yuv420_to_rgb
from hyco.video.io import VideoInfo, read_video, write_video

DATA = Path(__file__).resolve().parents[2] / "shared/data/video"
CLIPS = {  # name: (file, size for raw yuv, fps, frames, downscale to width)
    "cisco": ("CiscoVT2people_320x192_12fps.yuv", (320, 192), 12, 9, None),
    "vtest": ("vtest.avi", None, None, 16, 384),
    "tree": ("tree.avi", None, None, 16, None),
}


def load_frames(file: str, size, fps, frames: int, width: int | None,
                path: Path) -> tuple[VideoInfo, list]:
    """The first ``frames`` of a clip as 4:2:0, downscaled to ``width``, stored once as y4m at
    ``path`` so that every codec (and a later look) codes the very same frames."""
    info, yuv = read_video(DATA / file, size=size, fps=fps, frames=frames)
    if width and width != info.width:
        rgb = [yuv420_to_rgb(f, info.color) for f in yuv]
        h = round(rgb[0].shape[0] * width / rgb[0].shape[1] / 2) * 2
        yuv = [rgb_to_yuv420(np.asarray(Image.fromarray(r).resize((width, h), Image.LANCZOS)),
                             info.color) for r in rgb]
        info = VideoInfo(width, h, info.fps, len(yuv), info.color)
    write_video(path, yuv, info, force=True)
    return read_video(path)


def hyco_point(frames, info, variant, quality, gop, intra_weights, inter_weights) -> dict:
    t0 = time.perf_counter()
    data, stats = compress_video(frames, info, variant, quality, gop,
                                 intra_weights=intra_weights, inter_weights=inter_weights)
    t1 = time.perf_counter()
    _, _, decoded = decompress_video(data, 0, intra_weights, inter_weights)
    n = len(list(decoded))
    t2 = time.perf_counter()
    pixels = info.width * info.height * len(frames)
    return {"codec": f"hyco-{variant}", "preset": "", "quality": quality, "bytes": len(data),
            "bpp": 8 * len(data) / pixels,
            "y_psnr": float(np.mean([s.y_psnr for s in stats])),
            "rgb_psnr": float(np.mean([s.rgb_psnr for s in stats])),
            "encode_fps": len(frames) / (t1 - t0), "decode_fps": n / (t2 - t1)}


def hyco_rows(frames, info, variants, qualities, weights_dir, intra_weights,
              gop: int = 0) -> list[dict]:
    """One point per variant and quality; a variant without weights in ``weights_dir`` runs on
    the shipped (or untrained) ones, which the row says. ``gop``: I-frame period (0: one)."""
    rows = []
    for variant in variants:
        w = None
        if variant != "baseline" and weights_dir:
            f = Path(weights_dir) / f"hycovc-{variant}.safetensors"
            w = str(f) if f.is_file() else None
        for q in qualities:
            q = int(q) if float(q).is_integer() else q
            row = hyco_point(frames, info, variant, q, gop, intra_weights, w)
            row.update(weights=w or "shipped/untrained", gop=gop)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def classical_rows(frames, info, presets, crfs) -> list[dict]:
    """x264 and x265 (IPPP, -tune psnr) at every preset and CRF; a missing encoder is said."""
    rows = []
    for codec in ("x264", "x265"):
        if missing(codec):
            print(f"skip {codec}: {missing(codec)}")
            continue
        for preset in presets:
            for crf in crfs:
                row = asdict(code_clip(frames, info, codec, preset, crf))
                row["quality"] = row.pop("crf")
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def series(row: dict) -> str:
    """The RD curve a row belongs to: codec and preset (one curve for HiNeRV's sizes)."""
    return row.get("series") or " ".join(k for k in (row["codec"], row["preset"]) if k)


ANCHORS = ("hyco-baseline", "x264 medium", "x265 medium")


def bd_lines(rows: list[dict]) -> list[str]:
    """BD-rate of every curve against the all-intra baseline and x264/x265 medium, on Y-PSNR
    and RGB-PSNR (negative: fewer bits at equal quality; n/a where the curves do not overlap
    in quality or a curve has fewer than two points)."""
    curves = {name: [r for r in rows if series(r) == name] for name in sorted(
        {series(r) for r in rows})}
    anchors = [a for a in ANCHORS if len(curves.get(a, [])) >= 2]
    if not anchors:
        return []

    def bd(test: str, anchor: str, key: str) -> str:
        a, t = curves[anchor], curves[test]
        v = bd_rate([r["bpp"] for r in a], [r[key] for r in a],
                    [r["bpp"] for r in t], [r[key] for r in t])
        return "n/a" if math.isnan(v) else f"{v:+.1f} %"

    lines = ["BD-rate, Y-PSNR (RGB-PSNR), against:", "",
             "| curve | " + " | ".join(anchors) + " |", "|---|" + "---|" * len(anchors)]
    for name in curves:
        cells = ["" if name == a else f"{bd(name, a, 'y_psnr')} ({bd(name, a, 'rgb_psnr')})"
                 for a in anchors]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_report(out: Path, tag: str, title: str, meta: dict, rows: list[dict]) -> None:
    """``tag``.json (meta and rows), ``tag``.md (the table) and ``tag``.png (Y-PSNR RD plot).
    Encode speed is frames per second, or the whole time for codecs that train (HiNeRV)."""
    (out / f"{tag}.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    lines = [title, "",
             "| codec | preset/size | q/CRF | bpp | Y-PSNR | RGB-PSNR | encode | dec fps |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        enc = f"{r['encode_fps']:.2f} fps"
        if "encode_s" in r:
            enc = f"{r['encode_s'] / 60:.1f} min" if r["encode_s"] >= 120 else \
                f"{r['encode_s']:.0f} s"
        lines.append(f"| {r['codec']} | {r['preset']} | {r['quality']} | {r['bpp']:.4f} | "
                     f"{r['y_psnr']:.2f} | {r['rgb_psnr']:.2f} | {enc} | "
                     f"{r['decode_fps']:.2f} |")
    lines += ["", *bd_lines(rows)]
    (out / f"{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name in sorted({series(r) for r in rows}):
        pts = sorted((r["bpp"], r["y_psnr"]) for r in rows if series(r) == name)
        ax.plot(*zip(*pts, strict=True), marker="o", label=name)
    ax.set(xlabel="bpp", ylabel="Y-PSNR (dB)", title=title.split(",")[0])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"{tag}.png", dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default="cisco", choices=sorted(CLIPS))
    p.add_argument("--qualities", type=float, nargs="+", default=[2, 4, 6])
    p.add_argument("--variants", nargs="+", default=["baseline", "context", "flow", "full"])
    p.add_argument("--weights-dir", help="folder with hycovc-<variant>.safetensors")
    p.add_argument("--intra-weights", help="I-frame image codec weights")
    p.add_argument("--gop", type=int, default=0, help="hyco's I-frame period (0: one I-frame)")
    p.add_argument("--crfs", type=int, nargs="+", default=[22, 27, 32, 37])
    p.add_argument("--presets", nargs="+", default=["medium", "veryslow"])
    p.add_argument("--out", default="cache/eval/video")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    file, size, fps, frames, width = CLIPS[args.clip]
    info, frames = load_frames(file, size, fps, frames, width, out / f"{args.clip}.y4m")
    rows = hyco_rows(frames, info, args.variants, args.qualities, args.weights_dir,
                     args.intra_weights, args.gop)
    rows += classical_rows(frames, info, args.presets, args.crfs)
    write_report(out, args.clip, f"clip {args.clip}: {len(frames)} frames "
                 f"{info.width}x{info.height}",
                 {"clip": args.clip, "width": info.width, "height": info.height,
                  "frames": len(frames)}, rows)


if __name__ == "__main__":
    main()
