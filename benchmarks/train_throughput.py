"""Training throughput on this machine: steps/s per codec, fp32 vs bf16 vs channels_last.

Runs real `Trainer.train_step` calls (batch 8 of 256x256 crops by default, random crops of
generated images) and reports the best of several timed steps after warm-up.

    python benchmarks/train_throughput.py [--steps 4] [--batch 8] [--crop 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hyco import zoo
from hyco.train import TrainConfig, Trainer

MODES = {"fp32": {}, "bf16": {"bf16": True}, "channels_last": {"channels_last": True},
         "bf16+channels_last": {"bf16": True, "channels_last": True}}


def _images(folder: Path, n: int = 4, side: int = 512) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        low = rng.random((side // 16, side // 16, 3)) * 255
        img = Image.fromarray(low.astype(np.uint8)).resize((side, side), Image.BICUBIC)
        img.save(folder / f"{i}.png")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4, help="timed steps per setting")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--models", nargs="*",  # named-quality models (hific) train in stages
                    default=[n for n, s in zoo.MODELS.items() if not s.named])
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch} of {args.crop}x{args.crop}, quality {args.quality}")
    print("| model | " + " | ".join(f"{m} steps/s" for m in MODES) + " |")
    print("|---|" + "---|" * len(MODES))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        _images(data)
        for name in args.models:
            cells = []
            for mode, flags in MODES.items():
                cfg = TrainConfig(model=name, quality=args.quality, data=str(data),
                                  out=str(Path(tmp) / f"{name}-{mode}"), steps=10**6,
                                  batch_size=args.batch, crop=args.crop, **flags)
                t = Trainer(cfg)
                t.train_step()  # warm-up
                best = float("inf")
                for _ in range(args.steps):
                    start = time.perf_counter()
                    t.train_step()
                    best = min(best, time.perf_counter() - start)
                cells.append(f"{1 / best:.3f}")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
