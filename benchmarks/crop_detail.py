"""How much pixel-scale detail the training crops hold, against Kodak's.

A codec learns only the detail it is shown, so the training crops should carry about as much
fine detail as the images it will be judged on. Detail is :func:`hyco.train.data.detail` (the
energy 2x2 averaging removes, 8-bit units squared). Kodak is measured here only to compare
statistics; it is never trained or tuned on. For each folder: uniform random crops, and the
training sampler's crops with 2 and 3 candidates (:class:`hyco.train.data.CropDataset`).

    python benchmarks/crop_detail.py ../shared/data/kodak cache/corpus --crop 128 --crops 4000
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from hyco.train.data import CropDataset, detail


def crop_details(folder: str, crop: int, crops: int, candidates: int) -> np.ndarray:
    data = CropDataset(folder, crop=crop, seed=0, candidates=candidates)
    batch = 50
    values = []
    for step in tqdm(range(crops // batch), desc=f"{folder} x{candidates}", leave=False):
        patches = data.batch(step, batch).mul(255).round().byte().permute(0, 2, 3, 1).numpy()
        values.extend(detail(p) for p in patches)
    return np.array(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="image folders (the first is the reference)")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--crops", type=int, default=4000, help="crops drawn per folder and setting")
    args = ap.parse_args()
    print(f"detail of {args.crop}x{args.crop} crops (8-bit units squared; {args.crops} crops each)")
    print("| folder | candidates | median | mean | 10th pct | 90th pct |")
    print("|---|---|---|---|---|---|")
    for i, folder in enumerate(args.folders):
        for candidates in (1,) if i == 0 else (1, 2, 3):
            d = crop_details(folder, args.crop, args.crops, candidates)
            p10, p50, p90 = np.percentile(d, [10, 50, 90])
            stats = " | ".join(f"{v:.1f}" for v in (p50, d.mean(), p10, p90))
            print(f"| {folder} | {candidates} | {stats} |")


if __name__ == "__main__":
    main()
