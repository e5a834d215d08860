"""HiFiC against an MSE-trained model at a similar rate, on Kodak: fidelity and realism.

For every image: HiFiC codes it (bits on disk); the MSE model codes it at the largest rate
that is not above HiFiC's (a variable-rate model searches its rate on the real file size;
a fixed-rate one uses ``--mse-quality``), or at its lowest rate where HiFiC is below that
(the summary counts those images). Reported per codec, mean over images: bpp of the
files, RGB PSNR, MS-SSIM, and the two realism statistics of :mod:`hyco.eval.realism`
(high-frequency spectrum gap in dB, 0 = as much fine detail as the original; JS divergence
of gradient-magnitude histograms, 0 = same statistics), which need no pretrained network.
Also written: side-by-side crops (original | MSE | HiFiC, 2x nearest) and the mean radially
averaged power spectra of originals and both reconstructions.

    python benchmarks/hific.py /work/shared/data/kodak --hific cache/hific-low.safetensors \\
        --mse-model mean-scale-vr --mse-weights src/hyco/weights/mean-scale-vr.safetensors \\
        --out cache/eval/hific --threads 2

Outputs in OUT: ``results.json`` (per image and means), ``summary.md`` (the table for
BENCHMARKS.md), ``crops/<image>.png``, ``spectra.png``. Kodak's pictures (and crops of them)
stay out of the repository: the crops BENCHMARKS.md shows come from a held-out validation
photo (``cache/corpus_val --crops wall_Path_640x400``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hyco import api, zoo
from hyco.errors import HycoError
from hyco.eval.metrics import ms_ssim, psnr
from hyco.eval.realism import luma, radial_power_spectrum, realism
from hyco.files import array_to_tensor, to_array
from hyco.train.data import list_images

DEFAULT_CROPS = ("kodim13", "kodim14", "kodim19", "kodim23")


def _measure(data: bytes, rec: np.ndarray, arr: np.ndarray) -> dict:
    x, y = array_to_tensor(arr) * 255, array_to_tensor(rec) * 255
    return {"bytes": len(data), "bpp": 8 * len(data) / (arr.shape[0] * arr.shape[1]),
            "psnr": psnr(rec, arr), "ms-ssim": float(ms_ssim(x, y, peak=255.0)[0]),
            **realism(rec, arr)}


def _mse_file(arr: np.ndarray, args: argparse.Namespace, bpp: float) -> tuple[bytes, str]:
    """The MSE model's file at the largest rate not above ``bpp`` (or its fixed quality)."""
    if zoo.spec(args.mse_model).variable_rate and args.mse_quality is None:
        try:
            data = api.compress_array(arr, 3, args.mse_model, weights=args.mse_weights,
                                      target_bpp=bpp)
        except HycoError:  # HiFiC went below the MSE model's lowest rate: use that rate
            q = zoo.spec(args.mse_model).qualities[0]
            data = api.compress_array(arr, 3, args.mse_model, q, args.mse_weights)
        return data, api.info(data)["quality"]
    q = args.mse_quality or zoo.spec(args.mse_model).default_quality
    return api.compress_array(arr, 3, args.mse_model, q, args.mse_weights), str(q)


def _crop(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    s = min(size, h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return arr[top:top + s, left:left + s]


def _side_by_side(parts: list[np.ndarray], gap: int = 4) -> np.ndarray:
    h = parts[0].shape[0]
    white = np.full((h, gap, 3), 255, np.uint8)
    row = np.concatenate([p for part in parts for p in (part, white)][:-1], axis=1)
    return row.repeat(2, axis=0).repeat(2, axis=1)


def _spectra_plot(spectra: dict[str, list[np.ndarray]], freqs: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, rows in spectra.items():
        ax.semilogy(freqs, np.mean(rows, axis=0), label=name)
    ax.set_xlabel("spatial frequency (cycles/pixel)")
    ax.set_ylabel("mean radially averaged power (luma)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path, help="folder of images (Kodak)")
    ap.add_argument("--hific", required=True, help="HiFiC weights (.safetensors)")
    ap.add_argument("--mse-model", default="mean-scale-vr")
    ap.add_argument("--mse-weights", help="weights of the MSE model (default: shipped)")
    ap.add_argument("--mse-quality", help="fixed quality instead of matching HiFiC's rate")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--crops", default=",".join(DEFAULT_CROPS),
                    help="image stems to crop (comma-separated)")
    ap.add_argument("--crop-size", type=int, default=192)
    ap.add_argument("--limit", type=int, help="only the first N images")
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    meta = zoo.weights_metadata(args.hific)
    if not meta.get("model", "").startswith("hific"):
        raise SystemExit(f"{args.hific}: not HiFiC weights (model {meta.get('model')!r})")
    hific_model, regime = meta["model"], meta["quality"]
    (args.out / "crops").mkdir(parents=True, exist_ok=True)
    crops = set(args.crops.split(",")) if args.crops else set()

    rows: dict[str, dict] = {}
    spectra: dict[str, list[np.ndarray]] = {"original": [], "MSE": [], "HiFiC": []}
    freqs = np.zeros(0)
    for path in list_images(args.dataset)[: args.limit]:
        arr, _ = to_array(path)
        data = api.compress_array(arr, 3, hific_model, regime, args.hific)
        rec_g = api.decode(data, args.hific).array
        hific = _measure(data, rec_g, arr)
        mse_data, mse_q = _mse_file(arr, args, hific["bpp"])
        rec_m = api.decode(mse_data, args.mse_weights).array
        mse = {**_measure(mse_data, rec_m, arr), "quality": mse_q}
        rows[path.stem] = {"hific": hific, "mse": mse}
        for name, img in (("original", arr), ("MSE", rec_m), ("HiFiC", rec_g)):
            freqs, p = radial_power_spectrum(luma(img))
            spectra[name].append(p)
        if path.stem in crops:
            parts = [_crop(a, args.crop_size) for a in (arr, rec_m, rec_g)]
            Image.fromarray(_side_by_side(parts)).save(args.out / "crops" / f"{path.stem}.png")
        print(f"{path.stem}: HiFiC {hific['bpp']:.4f} bpp {hific['psnr']:.2f} dB "
              f"gap {hific['spectrum_gap_db']:+.1f} dB | MSE ({args.mse_model} q{mse_q}) "
              f"{mse['bpp']:.4f} bpp {mse['psnr']:.2f} dB gap {mse['spectrum_gap_db']:+.1f} dB",
              flush=True)
    if not rows:
        raise SystemExit(f"{args.dataset}: no images")

    keys = ("bpp", "psnr", "ms-ssim", "spectrum_gap_db", "gradient_js")
    means = {c: {k: float(np.mean([r[c][k] for r in rows.values()])) for k in keys}
             for c in ("hific", "mse")}
    above = sum(r["mse"]["bpp"] > r["hific"]["bpp"] for r in rows.values())
    matched = "rate matched per image" if not above else (
        f"rate matched per image; {above} of {len(rows)} at its lowest rate, above HiFiC's")
    labels = {"hific": f"HiFiC ({hific_model}, {regime}, {Path(args.hific).name})",
              "mse": f"MSE ({args.mse_model}, {matched})"}
    lines = [f"{len(rows)} images of {args.dataset}; bpp = 8 * file bytes / pixels; realism: "
             "high-frequency spectrum gap (0.25-0.5 cycles/px, 0 dB = original's detail) and "
             "JS divergence of gradient-magnitude histograms (0 = original's statistics)", "",
             "| codec | bpp | PSNR dB | MS-SSIM | spectrum gap dB | gradient JS |",
             "|---|---|---|---|---|---|",
             "| original | | | | 0 | 0 |"]
    for c in ("mse", "hific"):
        m = means[c]
        lines.append(f"| {labels[c]} | {m['bpp']:.4f} | {m['psnr']:.2f} | {m['ms-ssim']:.4f} | "
                     f"{m['spectrum_gap_db']:+.2f} | {m['gradient_js']:.4f} |")
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    (args.out / "results.json").write_text(json.dumps(
        {"dataset": str(args.dataset), "hific": args.hific, "mse_model": args.mse_model,
         "mse_weights": args.mse_weights, "means": means, "per_image": rows}, indent=1))
    _spectra_plot(spectra, freqs, args.out / "spectra.png")
    print("\n".join(lines))
    print(f"crops in {args.out / 'crops'}, spectra in {args.out / 'spectra.png'}")


if __name__ == "__main__":
    main()
