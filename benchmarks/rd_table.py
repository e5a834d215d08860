"""Markdown RD tables from a `hyco eval` results folder, for BENCHMARKS.md.

    python benchmarks/rd_table.py RESULTS_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    args = ap.parse_args()
    print("| codec | quality | bpp (file) | est. bpp | PSNR dB | MS-SSIM | enc s | dec s |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(args.results.glob("*.json")):
        doc = json.loads(path.read_text())
        if "per_image" not in doc:
            continue
        r = doc["results"]
        for i, q in enumerate(r["quality"]):
            est = f"{r['est_bpp'][i]:.4f}" if "est_bpp" in r else ""
            print(f"| {doc['name']} | {q} | {r['bpp'][i]:.4f} | {est} | {r['psnr'][i]:.2f} | "
                  f"{r['ms-ssim'][i]:.4f} | {r['encoding_time'][i]:.3f} | "
                  f"{r['decoding_time'][i]:.3f} |")
    bd = args.results / "bd_rate.md"
    if bd.exists():
        print()
        print(bd.read_text())


if __name__ == "__main__":
    main()
