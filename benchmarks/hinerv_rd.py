"""HiNeRV RD on a development clip: network sizes beside x264/x265 (and HyCoVC when asked).

The clip is decoded once to 4:2:0 frames (the first --frames, downscaled to --width), stored
as y4m in the output folder; every codec then codes those same frames. HiNeRV: one point per
--sizes entry, each trained for --epochs (plus a fifth for pruning and a tenth for
quantisation-aware training) in a run folder under the output, so an interrupted benchmark
resumes where it stopped. Reported per point: bpp (bytes of the whole file), mean Y-PSNR and
RGB-PSNR, encode time (training, over every session of the run, plus coding and rendering)
and decode frames per second (hyco's fixed-point renderer, --threads threads). x264/x265:
IPPP, -tune psnr, presets and a CRF sweep (as benchmarks/video_rd.py). HyCoVC variants
(--variants) are coded as in video_rd.py when their weights are given. Writes JSON, a
Markdown table and an RD plot (video_rd.write_report).

    python benchmarks/hinerv_rd.py --clip vtest --frames 32 --width 192 --sizes xs s m \
        --epochs 150
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from video_rd import classical_rows, hyco_rows, load_frames, write_report

from hyco.train import checkpoint
from hyco.train.hinerv_fit import HiNeRVSettings
from hyco.video.coding import decompress_video, video_header
from hyco.video.hinerv_codec import compress_hinerv, network

CLIPS = {"vtest": ("vtest.avi", None, None), "tree": ("tree.avi", None, None),
         "megamind": ("Megamind.avi", None, None),
         "cisco": ("CiscoVT2people_320x192_12fps.yuv", (320, 192), 12)}


def _trained(run: Path) -> float:
    """Training seconds recorded in a run folder (0 for a new run)."""
    return float(checkpoint.load(run).get("seconds", 0.0)) if (
        run / checkpoint.CHECKPOINT).is_file() else 0.0


def hinerv_point(frames, info, size: str, epochs: int, bits: int, prune: float,
                 run: Path) -> dict:
    settings = HiNeRVSettings(size=size, epochs=epochs, bits=bits, prune=prune)
    before = _trained(run)
    t0 = time.perf_counter()
    data, stats = compress_hinerv(frames, info, settings, str(run), progress=True)
    t1 = time.perf_counter()
    trained = _trained(run)  # over every session of the run
    coding = (t1 - t0) - (trained - before)  # this session's time beside training
    _, _, decoded = decompress_video(data)
    n = len(list(decoded))
    t2 = time.perf_counter()
    cfg, weights, _ = network(video_header(data)[0])
    zeros = sum(int((q == 0).sum()) for q, _ in weights.values())
    pixels = info.width * info.height * len(frames)
    encode_s = trained + coding
    return {"codec": "hinerv", "preset": size, "quality": f"{cfg.num_params()} params",
            "bytes": len(data), "bpp": 8 * len(data) / pixels,
            "y_psnr": float(np.mean([s.y_psnr for s in stats])),
            "rgb_psnr": float(np.mean([s.rgb_psnr for s in stats])),
            "encode_fps": len(frames) / encode_s, "decode_fps": n / (t2 - t1),
            "encode_s": encode_s, "train_s": trained, "params": cfg.num_params(),
            "zero_fraction": zeros / cfg.num_params(), "epochs": epochs, "bits": bits,
            "prune": prune, "series": "hinerv", "channels": cfg.channels,
            "scales": list(cfg.scales)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default="vtest", choices=sorted(CLIPS))
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--width", type=int, default=192, help="downscale to this width (0: keep)")
    p.add_argument("--sizes", nargs="*", default=["xs", "s", "m"],
                   help="HiNeRV sizes; `--sizes` with none skips HiNeRV")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--bits", type=int, default=6)
    p.add_argument("--prune", type=float, default=0.15)
    p.add_argument("--threads", type=int, default=1, help="torch threads (training, decoding)")
    p.add_argument("--variants", nargs="*", default=[], help="HyCoVC variants to add")
    p.add_argument("--qualities", type=float, nargs="+", default=[2, 4, 6])
    p.add_argument("--weights-dir", help="folder with hycovc-<variant>.safetensors")
    p.add_argument("--intra-weights", help="I-frame image codec weights")
    p.add_argument("--gop", type=int, default=0, help="HyCoVC's I-frame period (0: one)")
    p.add_argument("--crfs", type=int, nargs="+", default=[22, 27, 32, 37, 42])
    p.add_argument("--presets", nargs="+", default=["medium", "veryslow"])
    p.add_argument("--out", default="cache/eval/hinerv")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    file, size, fps = CLIPS[args.clip]
    info, frames = load_frames(file, size, fps, args.frames, args.width or None,
                               out / f"{args.clip}-{args.width or 'full'}-{args.frames}.y4m")
    tag = f"{args.clip}-{info.width}x{info.height}-{len(frames)}"
    rows = []
    for size in args.sizes:
        run = out / "runs" / f"{tag}-{size}-e{args.epochs}-b{args.bits}-p{args.prune:g}"
        row = hinerv_point(frames, info, size, args.epochs, args.bits, args.prune, run)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.variants:
        rows += hyco_rows(frames, info, args.variants, args.qualities, args.weights_dir,
                          args.intra_weights, args.gop)
    rows += classical_rows(frames, info, args.presets, args.crfs)
    write_report(out, tag, f"clip {args.clip}: {len(frames)} frames {info.width}x{info.height}, "
                 f"{args.threads} thread(s), HiNeRV {args.epochs} epochs",
                 {"clip": args.clip, "width": info.width, "height": info.height,
                  "frames": len(frames), "threads": args.threads}, rows)


if __name__ == "__main__":
    main()
