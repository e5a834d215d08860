"""What does the encoder's hyper-latent search buy, per picture, and at what encode time?

Why. :func:`hyco.image.latent_search.search_hyper` moves only the hyper-latent, with the
latent fixed, to lower the rate where the hyper-synthesis mispredicts. Its step size and
step count are set here, on photos that are not the evaluation set (the validation photos
and a sample of the training corpus), before Kodak measures it with ``hyco eval`` (codec
``hyco:MODEL+hyper=N``).

    python benchmarks/hyper_search.py cache/corpus_val --qualities 1 4 7 --steps 20 \
        --lrs 0.01 0.03 0.1 --threads 2

Every figure is a real file: its bytes, and the PSNR of the 8-bit picture decoded from it;
the time is the search's whole encode (plain coding and its decode, the steps, and a coding
and a decode every 10 steps for the choice) against plain coding's.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from hyco import zoo
from hyco.eval.metrics import psnr
from hyco.files import array_to_tensor, to_array
from hyco.image.latent_search import search_hyper
from hyco.train.data import list_images


def _measure(codec, payload, x: torch.Tensor) -> tuple[int, float]:
    rec = codec.decompress(payload).float().clamp(0, 1).mul(255).round().div(255)
    return sum(map(len, payload.streams)), psnr(rec, x, peak=1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", nargs="+", help="image files or folders")
    ap.add_argument("--model", default=zoo.DEFAULT_MODEL)
    ap.add_argument("--weights", help="a weights file (default: the shipped one)")
    ap.add_argument("--qualities", type=float, nargs="+", default=[1, 4, 7])
    ap.add_argument("--steps", type=int, nargs="+", default=[20])
    ap.add_argument("--lrs", type=float, nargs="+", default=[0.03])
    ap.add_argument("--limit", type=int, help="only the first N images")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = [p for src in map(Path, args.images)
             for p in (list_images(src) if src.is_dir() else [src])][: args.limit]
    codec = zoo.load(args.model, args.qualities[0], args.weights)
    rows: dict[tuple[int, float], list[tuple[float, float, float]]] = {}
    print("| picture | q | plain: bytes / dB / s | steps, lr | searched: bytes / dB / s |")
    print("|---|---|---|---|---|")
    for path in paths:
        arr, _ = to_array(path)
        x = array_to_tensor(arr)
        for q in args.qualities:
            codec.quality = q
            t = time.perf_counter()
            plain = codec.compress(x)
            t_plain = time.perf_counter() - t
            b0, p0 = _measure(codec, plain, x)
            for steps in args.steps:
                for lr in args.lrs:
                    t = time.perf_counter()
                    found = search_hyper(codec, x, steps, lr=lr)
                    dt = time.perf_counter() - t
                    b1, p1 = _measure(codec, found, x)
                    rows.setdefault((steps, lr), []).append((b1 / b0 - 1, p1 - p0, dt / t_plain))
                    print(f"| {path.name} | {q:g} | {b0} / {p0:.3f} / {t_plain:.2f} | {steps}, "
                          f"{lr:g} | {b1} / {p1:.3f} / {dt:.2f} |", flush=True)
    print("\n| steps, lr | files | bytes: mean / median / worst | PSNR change: mean / worst | "
          "encode time x plain (median) |")
    print("|---|---|---|---|---|")
    for (steps, lr), r in rows.items():
        db = [a for a, _, _ in r]
        dp = [b for _, b, _ in r]
        print(f"| {steps}, {lr:g} | {len(r)} | {100 * statistics.mean(db):+.2f} / "
              f"{100 * statistics.median(db):+.2f} / {100 * max(db):+.2f} % | "
              f"{statistics.mean(dp):+.3f} / {min(dp):+.3f} dB | "
              f"{statistics.median(c for _, _, c in r):.1f} |")


if __name__ == "__main__":
    main()
